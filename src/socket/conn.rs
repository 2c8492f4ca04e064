//! A connection as the pipeline tracks it: its latest row and the states
//! it went through, under an identity that survives TIME_WAIT and is never
//! given to a later connection on the same 4-tuple.

use super::cause::Cause;
use super::row::SocketRow;
use super::state::TcpState;
use std::time::{Duration, Instant, SystemTime};

pub type ConnId = u64;

/// Longest timeline kept per connection; older phases are dropped first.
pub const MAX_PHASES: usize = 64;

/// How well the moment a state began is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The kernel's own time for the change (the tracepoint).
    Exact,
    /// First seen in a reading: it began since the reading before.
    Seen,
    /// Already so at the first reading: it began earlier.
    Before,
}

/// One stretch of time a connection spent in one state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    pub state: TcpState,
    /// When the state began (or was first seen; see `entry`).
    pub entered: Instant,
    /// The same moment on the wall clock, for printing.
    pub entered_wall: SystemTime,
    pub entry: Entry,
    /// Why the connection entered the state.
    pub cause: Cause,
}

impl Phase {
    /// False when the real entry is earlier than `entered`.
    pub fn entry_seen(&self) -> bool {
        self.entry != Entry::Before
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conn {
    /// Unique for the life of the pipeline; a reused 4-tuple gets a new id.
    pub id: ConnId,
    pub row: SocketRow,
    pub timeline: Vec<Phase>,
    /// When this connection first appeared; `None` if it was already there
    /// at the first reading (so it is not "new").
    pub appeared_at: Option<Instant>,
    /// When it ended; it lingers a while after, greyed.
    pub gone_at: Option<Instant>,
    /// Why it ended, once gone.
    pub end_cause: Cause,
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

    /// The state before the current one and when the change happened.
    pub fn last_change(&self) -> Option<(TcpState, Instant)> {
        let n = self.timeline.len();
        (n >= 2).then(|| (self.timeline[n - 2].state, self.timeline[n - 1].entered))
    }

    /// How long it has been in its current state as of `now`; a gone
    /// connection's clock stopped when it ended.
    pub fn time_in_state(&self, now: Instant) -> Duration {
        let end = self.gone_at.map_or(now, |g| g.min(now));
        end.saturating_duration_since(self.current_phase().entered)
    }

    pub fn is_gone(&self) -> bool {
        self.gone_at.is_some()
    }

    /// Appends a phase, dropping the oldest beyond [`MAX_PHASES`].
    pub fn push_phase(&mut self, phase: Phase) {
        self.row.state = phase.state;
        self.timeline.push(phase);
        if self.timeline.len() > MAX_PHASES {
            self.timeline.remove(0);
        }
    }
}
