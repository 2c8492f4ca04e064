//! A source that plays back scripted snapshots: tests and demos drive the
//! tracker and the UI with it, no kernel needed.

use super::{Scope, Snapshot, SocketSource, SourceError};
use std::collections::VecDeque;

pub struct ScriptedSource {
    frames: VecDeque<Snapshot>,
    last: Option<Snapshot>,
}

impl ScriptedSource {
    pub fn new(frames: impl IntoIterator<Item = Snapshot>) -> Self {
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

    /// Plays the next frame; after the last one, repeats it.
    fn snapshot(&mut self, scope: &Scope) -> Result<Snapshot, SourceError> {
        if let Some(next) = self.frames.pop_front() {
            self.last = Some(next);
        }
        let mut snap = self
            .last
            .clone()
            .ok_or_else(|| SourceError("the scripted source has no frames".to_string()))?;
        snap.rows.retain(|r| scope.admits(r));
        Ok(snap)
    }
}
