//! The live TUI: one event loop, one owner of the state.

pub mod app;
mod capture;
mod demo_player;
mod exporter;
pub mod keymap;
mod lab_keys;
pub mod lab_view;
pub mod listing;
pub mod pacing;
pub mod panes;
pub mod prompt;
mod recorder;
mod run;
pub mod segments_view;
pub mod status;
pub mod table_view;
mod terminal;
pub mod theme;
pub mod widgets;

pub use app::{App, Effect, Focus, Settings};
pub use keymap::{Action, LabKey, Mode, PromptKey, action_for};
pub use panes::{Overlay, Pane};
pub use prompt::MAX_PROMPT_CHARS;
pub use run::run;
pub use terminal::require_tty;
