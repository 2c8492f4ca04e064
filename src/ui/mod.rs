//! The live TUI: one event loop, one owner of the state.

mod action;
pub mod app;

mod demo_player;
mod lab_keys;
pub mod lab_view;
pub mod listing;
mod navigation;
pub mod prompt;
mod run;
mod terminal;
pub mod theme;
pub mod widgets;

pub use action::{Action, KEY_HELP, LAB_KEY_HELP, LabKey, Mode, PromptKey, action_for};
pub use app::{App, Settings};
pub use run::run;
pub use terminal::require_tty;
