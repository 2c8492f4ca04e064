//! What typing into the prompt does: characters, a paste, and what
//! Enter submits (a filter, a replay's jump, a lab prompt).

use super::app::App;
use super::effect::Effect;
use super::keymap::PromptKey;
use super::panes::Overlay;
use super::prompt::{MAX_PROMPT_CHARS, PromptKind};
use crate::socket::Filter;

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
        match self.session.replay()?.jump(text) {
            Ok(effect) => {
                self.overlay = Overlay::None;
                Some(effect)
            }
            Err(why) => {
                self.set_error(why);
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
