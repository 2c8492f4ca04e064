//! What handling a key asks of the event loop, and what it has to say:
//! the app and the sessions return these, only the loop carries them out.

use crate::lab::LabCommand;
use crate::lab::link::LinkOrder;
use crate::socket::SocketKey;
use std::time::{Duration, SystemTime};

/// Side effects the loop carries out for the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    SetInterval(Duration),
    /// Destroy the socket on these ends (its cookie, if known), in the
    /// lab link's namespace it lives in, if any.
    Destroy(SocketKey, Option<u64>, Option<&'static str>),
    Lab(LabCommand),
    /// Several lab commands, in order (a demo step).
    LabMany(Vec<LabCommand>),
    /// Steer the lab's link.
    Link(LinkOrder),
    /// Start the replay over at this moment of the recording.
    ReplaySeek(SystemTime),
}

/// Words for the status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Said {
    Info(String),
    Error(String),
}

/// A session's answer to a key: maybe an effect, maybe words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub effect: Option<Effect>,
    pub said: Option<Said>,
}

impl Reply {
    pub fn nothing() -> Reply {
        Reply::default()
    }

    pub fn info(text: impl Into<String>) -> Reply {
        Reply {
            effect: None,
            said: Some(Said::Info(text.into())),
        }
    }

    pub fn error(text: impl Into<String>) -> Reply {
        Reply {
            effect: None,
            said: Some(Said::Error(text.into())),
        }
    }

    pub fn effect(effect: Effect) -> Reply {
        Reply {
            effect: Some(effect),
            said: None,
        }
    }

    /// The same words, with an effect.
    pub fn with(mut self, effect: Effect) -> Reply {
        self.effect = Some(effect);
        self
    }
}
