//! What kind of run the view is: the live table, the lab (maybe across
//! the slow-motion link), a demo, or a recording played back. Whatever
//! differs between them is decided here, by the session's own type; the
//! key table says which sessions each key belongs to.

pub mod demo;
pub mod link;
pub mod replay;

use crate::ui::keymap::Sessions;
use crate::ui::panes::Pane;
use crate::ui::segments_view::Capturing;
pub use demo::{DemoPlayer, DemoSession};
pub use link::LinkStatus;
pub use replay::ReplaySession;

#[derive(Clone, Debug)]
pub enum Session {
    /// The machine's socket table (`tcpscope`, `--remote`).
    Live,
    /// The lab panel open on start, the table following its server
    /// (`tcpscope lab`), across the link with `--wire`.
    Lab { link: Option<LinkStatus> },
    /// A scenario played step by step through the lab.
    Demo(DemoSession),
    /// A recording (`tcpscope replay`): the keys steer its clock.
    Replay(ReplaySession),
}

impl Session {
    /// The sessions a key binding must name to act here.
    pub fn kinds(&self) -> Sessions {
        let link = self.link().is_some();
        match self {
            Session::Live => Sessions::LIVE,
            Session::Lab { .. } if link => Sessions::LAB_LINK,
            Session::Lab { .. } => Sessions::LAB,
            Session::Demo(_) if link => Sessions::DEMO_LINK,
            Session::Demo(_) => Sessions::DEMO,
            Session::Replay(_) => Sessions::REPLAY,
        }
    }

    /// What the help's title calls it.
    pub fn name(&self) -> &'static str {
        match (self, self.link().is_some()) {
            (Session::Live, _) => "live view",
            (Session::Lab { .. }, false) => "lab",
            (Session::Lab { .. }, true) => "lab on the link",
            (Session::Demo(_), false) => "demo",
            (Session::Demo(_), true) => "demo on the link",
            (Session::Replay(_), _) => "replay",
        }
    }

    pub fn link(&self) -> Option<&LinkStatus> {
        match self {
            Session::Lab { link } => link.as_ref(),
            Session::Demo(d) => d.link.as_ref(),
            Session::Live | Session::Replay(_) => None,
        }
    }

    pub fn link_mut(&mut self) -> Option<&mut LinkStatus> {
        match self {
            Session::Lab { link } => link.as_mut(),
            Session::Demo(d) => d.link.as_mut(),
            Session::Live | Session::Replay(_) => None,
        }
    }

    pub fn demo(&self) -> Option<&DemoSession> {
        match self {
            Session::Demo(d) => Some(d),
            _ => None,
        }
    }

    pub fn demo_mut(&mut self) -> Option<&mut DemoSession> {
        match self {
            Session::Demo(d) => Some(d),
            _ => None,
        }
    }

    pub fn replay(&self) -> Option<&ReplaySession> {
        match self {
            Session::Replay(r) => Some(r),
            _ => None,
        }
    }

    pub fn replay_mut(&mut self) -> Option<&mut ReplaySession> {
        match self {
            Session::Replay(r) => Some(r),
            _ => None,
        }
    }

    /// Whether the table follows the lab server's port from the start.
    pub fn follows_lab(&self) -> bool {
        matches!(self, Session::Lab { .. } | Session::Demo(_))
    }

    /// The panes open on start: the lab's panel in a lab; on the link the
    /// segments tell the story, elsewhere in a demo the diagram.
    pub fn first_panes(&self) -> Vec<Pane> {
        let link = self.link().is_some();
        match self {
            Session::Live | Session::Replay(_) => Vec::new(),
            Session::Lab { .. } if link => vec![Pane::Lab, Pane::Segments],
            Session::Lab { .. } => vec![Pane::Lab],
            Session::Demo(_) if link => vec![Pane::Lab, Pane::Details, Pane::Segments],
            Session::Demo(_) => vec![Pane::Lab, Pane::Diagram, Pane::Details],
        }
    }

    /// Where segments come from: the link reports each one itself, a
    /// recording has its own, otherwise they are captured on demand.
    pub fn segments(&self) -> Capturing {
        match (self, self.link()) {
            (_, Some(_)) => Capturing::Link,
            (Session::Replay(_), None) => Capturing::Recording,
            _ => Capturing::Off,
        }
    }

    /// Whether a clock of the session's own hands out segments (a
    /// recording's); the loop ticks for it.
    pub fn has_clock(&self) -> bool {
        matches!(self, Session::Replay(_))
    }

    /// The status line's hint when nothing else is said.
    pub fn hint(&self, lab_open: bool) -> &'static str {
        match self {
            Session::Replay(_) => {
                "q quit  space pause  → ← one event  +/- speed  g jump  / filter  Tab panels  ? help"
            }
            _ if lab_open => {
                "S server  c connect  x close  w shutdown  R reset  t send  Tab panels  M messages  ? help  q quit"
            }
            _ => {
                "q quit  / filter  space pause  Tab panels  s sort  +/- interval  L lab  M messages  ? help"
            }
        }
    }
}
