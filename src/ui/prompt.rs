//! The one-line input at the bottom: what it asks for and its text.

/// Longest input kept; more is refused with a message.
pub const MAX_PROMPT_CHARS: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    Filter,
    /// Text to send on the selected lab socket.
    Send,
    /// How many clients to connect.
    Count,
    /// Where clients connect to.
    Target,
    /// Lab server options.
    Options,
}

impl PromptKind {
    pub fn label(self) -> &'static str {
        match self {
            PromptKind::Filter => "/",
            PromptKind::Send => "send text: ",
            PromptKind::Count => "connect how many clients: ",
            PromptKind::Target => "connect to host:port (empty = the lab server): ",
            PromptKind::Options => "server options: ",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
}
