//! Turns consecutive snapshots into connections with timelines, and into
//! events (appeared, state changed, gone). Pure and synchronous.

mod conn;
pub mod history;
pub mod sampler;
pub mod transitions;

pub use conn::{Conn, ConnId, MAX_PHASES, Phase};
pub use transitions::Transition;

use crate::socket::{SocketKey, SocketRow, StateCounts, TcpState};
use crate::source::Snapshot;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long a vanished connection stays visible (greyed) before removal.
pub const GONE_LINGER: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    New,
    State { from: TcpState, to: TcpState },
    Gone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: Instant,
    pub wall: SystemTime,
    pub id: ConnId,
    pub key: SocketKey,
    /// The state the connection is in after the event (last state if gone).
    pub state: TcpState,
    pub kind: EventKind,
}

impl Event {
    /// `from` and `to` as the NDJSON contract spells them.
    pub fn states(&self) -> (Option<TcpState>, Option<TcpState>) {
        match self.kind {
            EventKind::New => (None, Some(self.state)),
            EventKind::State { from, to } => (Some(from), Some(to)),
            EventKind::Gone => (Some(self.state), None),
        }
    }
}

/// A connection plus the number of the last reading that contained it,
/// kept outside the `Arc` so an unchanged connection is never copied.
struct Slot {
    conn: Arc<Conn>,
    seen_in: u64,
}

#[derive(Default)]
pub struct Tracker {
    conns: FxHashMap<SocketKey, Slot>,
    next_id: ConnId,
    readings: u64,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one reading in and returns what changed since the last one.
    /// The first reading establishes the baseline and yields no events.
    pub fn apply(&mut self, snap: Snapshot) -> Vec<Event> {
        self.readings += 1;
        let at = Clock {
            at: snap.taken_at,
            wall: snap.wall,
            baseline: self.readings == 1,
        };
        let mut events = Vec::new();
        for row in snap.rows {
            self.observe(row, at, &mut events);
        }
        self.mark_gone(at, &mut events);
        self.purge(at.at);
        events
    }

    /// Every connection, live and lingering, in no particular order.
    pub fn conns(&self) -> impl Iterator<Item = &Arc<Conn>> {
        self.conns.values().map(|s| &s.conn)
    }

    /// A cheap copy for the UI: only reference counts are touched.
    pub fn view(&self) -> Vec<Arc<Conn>> {
        self.conns().cloned().collect()
    }

    pub fn get(&self, key: &SocketKey) -> Option<&Conn> {
        self.conns.get(key).map(|s| s.conn.as_ref())
    }

    /// Live connections per state (lingering ones not counted).
    pub fn counts(&self) -> StateCounts {
        self.conns()
            .filter(|c| !c.is_gone())
            .map(|c| &c.row.state)
            .collect()
    }

    /// How many readings have been applied.
    pub fn readings(&self) -> u64 {
        self.readings
    }

    fn observe(&mut self, row: SocketRow, at: Clock, events: &mut Vec<Event>) {
        let stamp = self.readings;
        let key = row.key;
        match self.conns.get_mut(&key) {
            Some(slot) if !slot.conn.is_gone() && !is_reuse(&slot.conn, &row) => {
                slot.seen_in = stamp;
                update(&mut slot.conn, row, at, events);
                return;
            }
            Some(slot) if !slot.conn.is_gone() => {
                // Same tuple, different connection: close the old one first.
                events.push(event(&slot.conn, at, EventKind::Gone));
            }
            _ => {}
        }
        let conn = self.fresh(row, at, events);
        self.conns.insert(
            key,
            Slot {
                conn,
                seen_in: stamp,
            },
        );
    }

    fn fresh(&mut self, row: SocketRow, at: Clock, events: &mut Vec<Event>) -> Arc<Conn> {
        self.next_id += 1;
        let conn = Conn {
            id: self.next_id,
            timeline: vec![Phase {
                state: row.state,
                entered: at.at,
                entered_wall: at.wall,
                entry_seen: !at.baseline,
            }],
            row,
            appeared_at: (!at.baseline).then_some(at.at),
            gone_at: None,
        };
        if !at.baseline {
            events.push(event(&conn, at, EventKind::New));
        }
        Arc::new(conn)
    }

    fn mark_gone(&mut self, at: Clock, events: &mut Vec<Event>) {
        let stamp = self.readings;
        for slot in self.conns.values_mut() {
            if slot.seen_in != stamp && !slot.conn.is_gone() {
                let conn = Arc::make_mut(&mut slot.conn);
                conn.gone_at = Some(at.at);
                events.push(event(conn, at, EventKind::Gone));
            }
        }
    }

    fn purge(&mut self, now: Instant) {
        self.conns.retain(|_, s| {
            s.conn
                .gone_at
                .is_none_or(|t| now.saturating_duration_since(t) < GONE_LINGER)
        });
    }
}

#[derive(Clone, Copy)]
struct Clock {
    at: Instant,
    wall: SystemTime,
    baseline: bool,
}

fn update(conn: &mut Arc<Conn>, row: SocketRow, at: Clock, events: &mut Vec<Event>) {
    if conn.row == row || same_but_timer_countdown(&conn.row, &row) {
        return;
    }
    let from = conn.row.state;
    let c = Arc::make_mut(conn);
    let to = row.state;
    c.row = row;
    if from != to {
        c.push_phase(Phase {
            state: to,
            entered: at.at,
            entered_wall: at.wall,
            entry_seen: true,
        });
        events.push(event(c, at, EventKind::State { from, to }));
    }
}

/// How far a timer's expiry may move between readings and still be the
/// same timer counting down (the kernel reports it in milliseconds, and
/// readings are taken a few milliseconds apart from the kernel's clock).
const TIMER_JITTER: Duration = Duration::from_millis(20);

/// True when only a timer's remaining time changed while its expiry stayed
/// put: nothing new to show, so the shared row is not copied. A TIME_WAIT
/// socket would otherwise be copied on every reading.
fn same_but_timer_countdown(old: &SocketRow, new: &SocketRow) -> bool {
    let (Some(a), Some(b)) = (&old.timer, &new.timer) else {
        return false;
    };
    let drift = if a.expires_at > b.expires_at {
        a.expires_at - b.expires_at
    } else {
        b.expires_at - a.expires_at
    };
    if a.kind != b.kind || a.retransmits != b.retransmits || drift > TIMER_JITTER {
        return false;
    }
    old.key == new.key
        && old.state == new.state
        && (old.recv_q, old.send_q, old.uid, old.inode)
            == (new.recv_q, new.send_q, new.uid, new.inode)
        && old.pids == new.pids
        && old.process == new.process
        && old.user == new.user
}

/// A 4-tuple that goes "backwards" or changes inode belongs to a new
/// connection that reused it between two readings.
fn is_reuse(conn: &Conn, row: &SocketRow) -> bool {
    let old = conn.row.state;
    let backwards = row.state.is_opening() && !old.is_opening();
    let after_time_wait = old == TcpState::TimeWait && row.state != TcpState::TimeWait;
    let new_inode = matches!((conn.row.inode, row.inode), (Some(a), Some(b)) if a != b);
    backwards || after_time_wait || new_inode
}

fn event(conn: &Conn, at: Clock, kind: EventKind) -> Event {
    Event {
        at: at.at,
        wall: at.wall,
        id: conn.id,
        key: conn.row.key,
        state: conn.row.state,
        kind,
    }
}

#[cfg(test)]
mod tests;
