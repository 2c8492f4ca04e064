//! What is open on top of the table: panes (details, log, diagram, lab)
//! in the order they were opened, and at most one overlay (help, the
//! message history, a prompt, a question). Esc closes the topmost.

use super::prompt::Prompt;
use crate::socket::SocketKey;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Details,
    Log,
    Diagram,
    Lab,
    Segments,
    Notes,
}

impl Pane {
    pub fn name(self) -> &'static str {
        match self {
            Pane::Details => "details",
            Pane::Log => "transition log",
            Pane::Diagram => "state diagram",
            Pane::Lab => "lab panel",
            Pane::Segments => "segments pane",
            Pane::Notes => "speaker notes",
        }
    }
}

/// Open panes, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Panes {
    open: Vec<Pane>,
}

impl Panes {
    pub fn with(open: &[Pane]) -> Self {
        Panes {
            open: open.to_vec(),
        }
    }

    pub fn is_open(&self, pane: Pane) -> bool {
        self.open.contains(&pane)
    }

    /// Opens or closes; returns whether it is open now.
    pub fn toggle(&mut self, pane: Pane) -> bool {
        if self.is_open(pane) {
            self.open.retain(|p| *p != pane);
            false
        } else {
            self.open.push(pane);
            true
        }
    }

    pub fn set(&mut self, pane: Pane, open: bool) {
        if self.is_open(pane) != open {
            self.toggle(pane);
        }
    }

    /// The most recently opened pane.
    pub fn newest(&self) -> Option<Pane> {
        self.open.last().copied()
    }

    /// Closes the most recently opened pane.
    pub fn close_top(&mut self) -> Option<Pane> {
        self.open.pop()
    }
}

/// A yes/no question, and what a yes does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub text: String,
    pub then: OnYes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnYes {
    Quit,
    /// Destroy the socket on these ends (with this cookie, if known).
    Destroy(SocketKey, Option<u64>, Option<&'static str>),
}

impl OnYes {
    /// The question's title.
    pub fn title(&self) -> &'static str {
        match self {
            OnYes::Quit => "quit?",
            OnYes::Destroy(..) => "destroy this connection?",
        }
    }
}

/// At most one thing over everything else, taking the keyboard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Overlay {
    #[default]
    None,
    Help,
    Messages,
    Prompt(Prompt),
    Confirm(Question),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_opened_pane_closes_first() {
        let mut p = Panes::default();
        p.toggle(Pane::Lab);
        p.toggle(Pane::Details);
        p.toggle(Pane::Log);
        assert_eq!(p.close_top(), Some(Pane::Log));
        assert!(!p.toggle(Pane::Details), "closed by toggling");
        assert_eq!(p.close_top(), Some(Pane::Lab));
        assert_eq!(p.close_top(), None);
    }
}
