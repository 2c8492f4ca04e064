//! The one-line input at the bottom: what it asks for, its text, and
//! what typing into it does.

use super::app::{App, Effect};
use super::keymap::PromptKey;
use super::panes::Overlay;
use crate::lab::LabId;
use crate::socket::Filter;

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

impl App {
    pub(super) fn prompt_key(&mut self, key: PromptKey) -> Option<Effect> {
        let Overlay::Prompt(prompt) = &mut self.overlay else {
            return None;
        };
        match key {
            PromptKey::Char(_) if prompt.text.chars().count() >= MAX_PROMPT_CHARS => {
                self.set_error(format!("input is limited to {MAX_PROMPT_CHARS} characters"));
            }
            PromptKey::Char(c) => prompt.text.push(c),
            PromptKey::Backspace => {
                prompt.text.pop();
            }
            PromptKey::Clear => prompt.text.clear(),
            PromptKey::Cancel => self.overlay = Overlay::None,
            PromptKey::Submit => return self.submit_prompt(),
        }
        None
    }

    /// A paste (bracketed by the terminal) typed into an open prompt at
    /// once: line breaks and other control characters become spaces, and
    /// what is past the limit is cut off and said. Elsewhere it is
    /// ignored, so pasted text never runs as keys. Whether to redraw.
    pub fn paste(&mut self, text: &str) -> bool {
        let Overlay::Prompt(prompt) = &mut self.overlay else {
            return false;
        };
        let room = MAX_PROMPT_CHARS.saturating_sub(prompt.text.chars().count());
        let clean = text.chars().map(|c| if c.is_control() { ' ' } else { c });
        prompt.text.extend(clean.clone().take(room));
        if clean.count() > room {
            self.set_error(format!("input is limited to {MAX_PROMPT_CHARS} characters"));
        }
        true
    }

    fn submit_prompt(&mut self) -> Option<Effect> {
        let prompt = self.prompt()?.clone();
        match prompt.kind {
            PromptKind::Filter => {
                self.submit_filter(&prompt.text);
                None
            }
            PromptKind::Jump => self.submit_jump(&prompt.text),
            kind => self.submit_lab_prompt(kind, &prompt.text),
        }
    }

    /// `12.5`, `12.5s` or `1:02.5` from the recording's start.
    fn submit_jump(&mut self, text: &str) -> Option<Effect> {
        let p = self.settings.replay.clone()?;
        let t = text.trim().trim_end_matches('s');
        let seconds = match t.split_once(':') {
            Some((m, s)) => m
                .parse::<f64>()
                .ok()
                .zip(s.parse::<f64>().ok())
                .map(|(m, s)| m * 60.0 + s),
            None => t.parse::<f64>().ok(),
        };
        match seconds.filter(|s| s.is_finite() && *s >= 0.0) {
            Some(s) => {
                self.overlay = Overlay::None;
                Some(Effect::ReplaySeek(p.moment(s)))
            }
            None => {
                self.set_error(format!(
                    "'{text}' is not a time: give seconds from the start, e.g. 12.5 or 1:02.5"
                ));
                None
            }
        }
    }

    /// Applies the typed filter, or keeps the old one and says why not.
    fn submit_filter(&mut self, text: &str) {
        match Filter::parse(text) {
            Ok(filter) => {
                self.overlay = Overlay::None;
                let msg = if filter.is_empty() {
                    "filter cleared".to_string()
                } else {
                    format!("filter: {}", filter.text())
                };
                self.set_filter(filter);
                self.set_info(msg);
            }
            Err(e) => self.set_error(format!("filter not applied: {e}")),
        }
    }
}
