//! The one-line input at the bottom: what it asks for and its text
//! (what typing into it does is in `typing`).

use crate::lab::LabId;

/// Longest input kept; more is refused with a message.
pub const MAX_PROMPT_CHARS: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    Filter,
    /// Text to send on lab socket `id` (chosen when the prompt opened).
    Send {
        id: LabId,
    },
    /// How many clients to connect.
    Count,
    /// Where clients connect to.
    Target,
    /// Lab server options.
    Options,
    /// Where a replay jumps to.
    Jump,
}

impl PromptKind {
    pub fn label(self) -> String {
        match self {
            PromptKind::Filter => "/".into(),
            PromptKind::Send { id } => format!("send on #{id}: "),
            PromptKind::Count => "connect how many clients: ".into(),
            PromptKind::Target => "connect to host:port (empty = the lab server): ".into(),
            PromptKind::Options => "server options: ".into(),
            PromptKind::Jump => "jump to (seconds from the start, e.g. 12.5): ".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
}
