//! The live TUI: one event loop, one owner of the state.

pub mod app;
mod capture;
pub mod effect;
mod exporter;
pub mod fmt;
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
pub mod session;
pub mod status;
pub mod table_view;
mod terminal;
pub mod theme;
mod typing;
pub mod widgets;

pub use app::{App, Focus, Settings};
pub use effect::Effect;
pub use keymap::{Action, LabKey, Mode, PromptKey, action_for};
pub use panes::{Overlay, Pane};
pub use prompt::MAX_PROMPT_CHARS;
pub use run::run;
pub use session::Session;
pub use terminal::require_tty;
