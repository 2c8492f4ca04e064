//! A test double: a source that plays back scripted dumps, so tests drive the
//! pipeline, the runner and the UI with it, no kernel needed.

use super::{Dump, Scope, SocketSource, SourceError};
use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

pub struct ScriptedSource {
    frames: VecDeque<Dump>,
    last: Option<Dump>,
}

impl ScriptedSource {
    pub fn new(frames: impl IntoIterator<Item = Dump>) -> Self {
        ScriptedSource {
            frames: frames.into_iter().collect(),
            last: None,
        }
    }
}

impl SocketSource for ScriptedSource {
    fn name(&self) -> &'static str {
        "replay"
    }

    /// Plays the next frame, as read now; after the last one, repeats it.
    fn dump(&mut self, scope: &Scope) -> Result<Dump, SourceError> {
        if let Some(next) = self.frames.pop_front() {
            self.last = Some(next);
        }
        let mut dump = self.last.clone().ok_or_else(|| {
            SourceError::Unavailable("the scripted source has no frames".to_string())
        })?;
        dump.rows.retain(|r| scope.admits(r));
        (dump.started, dump.finished, dump.wall) =
            (Instant::now(), Instant::now(), SystemTime::now());
        Ok(dump)
    }
}
