//! The live TUI: one event loop, one owner of the state.

mod action;
pub mod app;
mod format;
pub mod listing;
mod run;
mod terminal;
pub mod theme;
pub mod widgets;

pub use action::{Action, KEY_HELP, Mode, PromptKey, action_for};
pub use app::{App, Settings};
pub use run::run;
pub use terminal::require_tty;
