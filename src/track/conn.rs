//! A tracked connection: its latest row and the states it went through.

use crate::socket::{SocketRow, TcpState};
use std::time::{Duration, Instant, SystemTime};

pub type ConnId = u64;

/// Longest timeline kept per connection; older phases are dropped first.
pub const MAX_PHASES: usize = 64;

/// One stretch of time a connection spent in one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    pub state: TcpState,
    /// When the state was first seen (monotonic).
    pub entered: Instant,
    /// The same moment on the wall clock, for printing.
    pub entered_wall: SystemTime,
    /// False when the connection was already in this state at the first
    /// reading: the real entry is earlier than `entered`.
    pub entry_seen: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conn {
    /// Unique for the life of the tracker; a reused 4-tuple gets a new id.
    pub id: ConnId,
    pub row: SocketRow,
    pub timeline: Vec<Phase>,
    /// When this connection first appeared; `None` if it was already there
    /// at the first reading (so it is not "new").
    pub appeared_at: Option<Instant>,
    /// When it vanished from the table; it lingers a while after.
    pub gone_at: Option<Instant>,
}

impl Conn {
    pub fn state(&self) -> TcpState {
        self.row.state
    }

    pub fn current_phase(&self) -> &Phase {
        // A Conn is always created with one phase and phases are only
        // dropped from the front while more than MAX_PHASES remain.
        &self.timeline[self.timeline.len() - 1]
    }

    /// The state before the current one and when the change was seen.
    pub fn last_change(&self) -> Option<(TcpState, Instant)> {
        let n = self.timeline.len();
        (n >= 2).then(|| (self.timeline[n - 2].state, self.timeline[n - 1].entered))
    }

    /// How long it has been in its current state as of `now`.
    pub fn time_in_state(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.current_phase().entered)
    }

    pub fn is_gone(&self) -> bool {
        self.gone_at.is_some()
    }

    pub(super) fn push_phase(&mut self, phase: Phase) {
        self.timeline.push(phase);
        if self.timeline.len() > MAX_PHASES {
            self.timeline.remove(0);
        }
    }
}
