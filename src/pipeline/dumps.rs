//! Dumps of the whole table: where every connection is now, with queues,
//! timers and owners. They start connections no change reported (all of
//! them without root), confirm what the tracepoint cannot see (a timewait
//! socket carrying a closed connection on), and end connections that are
//! no longer there.

use super::{Pipeline, SLACK, Slot, Stamp, emit};
use crate::socket::{Conn, ConnId, Entry, Event, EventKind, Phase, SocketRow, TcpState};
use crate::source::Dump;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far a timer's expiry may move between readings and still be the
/// same timer counting down (the kernel reports it in milliseconds, and
/// readings are taken a few milliseconds apart from the kernel's clock).
const TIMER_JITTER: Duration = Duration::from_millis(20);

/// What a dump is, for each of its rows.
#[derive(Clone, Copy)]
struct Reading {
    when: Stamp,
    finished: Instant,
    /// Changes at or after this may or may not be in the dump.
    window: Instant,
    number: u64,
    baseline: bool,
}

impl Pipeline {
    /// Applies a dump. Every change that happened before it finished must
    /// have been applied first; the first dump is the baseline: what it
    /// shows was there before tcpscope looked, and is not "new".
    pub fn dump(&mut self, dump: Dump, out: &mut Vec<Event>) {
        self.dumps += 1;
        let baseline = self.baseline.is_none();
        if baseline {
            self.baseline = Some(dump.started);
        }
        let reading = Reading {
            when: Stamp {
                at: dump.started,
                wall: dump.wall,
            },
            finished: dump.finished,
            window: dump.started.checked_sub(SLACK).unwrap_or(dump.started),
            number: self.dumps,
            baseline,
        };
        let previous = self.last_dump.replace(dump.started);
        for row in dump.rows {
            self.row(row, reading, out);
        }
        self.missing(reading, previous, out);
        self.purge(dump.started);
    }

    fn row(&mut self, row: SocketRow, r: Reading, out: &mut Vec<Event>) {
        let Some(id) = self.live_on(&row.key) else {
            if !self.stale(&row, r) {
                self.born(row, r, out);
            }
            return;
        };
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        slot.seen_in = r.number;
        if slot.last_change.is_some_and(|t| t >= r.window) {
            return; // the kernel's own report is newer than this row
        }
        if other_socket(slot, &row) {
            self.end(id, r.when, out);
            return self.born(row, r, out);
        }
        refresh(slot, row, r, out);
    }

    /// A row of a connection that has already ended: the dump read it
    /// just before it went.
    fn stale(&self, row: &SocketRow, r: Reading) -> bool {
        let Some(slot) = self.by_key.get(&row.key).and_then(|id| self.slots.get(id)) else {
            return false;
        };
        let same = slot.cookie.is_some() && slot.cookie == row.cookie;
        let ended_meanwhile = slot.conn.gone_at.is_some_and(|t| t >= r.window);
        same || ended_meanwhile
    }

    /// A connection first seen in a dump.
    fn born(&mut self, row: SocketRow, r: Reading, out: &mut Vec<Event>) {
        let id = self.fresh_id();
        let entry = if r.baseline {
            Entry::Before
        } else {
            Entry::Seen
        };
        let phase = Phase {
            state: row.state,
            entered: r.when.at,
            entered_wall: r.when.wall,
            entry,
        };
        let slot = Slot {
            seen_in: r.number,
            last_change: None,
            sk: None,
            cookie: row.cookie,
            closing: None,
            dump_born: Some(r.finished),
            owner: row.owner.clone(),
            conn: Arc::new(Conn {
                id,
                row,
                timeline: vec![phase],
                appeared_at: (!r.baseline).then_some(r.when.at),
                gone_at: None,
            }),
        };
        let id = self.insert(slot);
        if let (false, Some(slot)) = (r.baseline, self.slots.get(&id)) {
            emit(slot, EventKind::New, r.when, out);
        }
    }

    /// Live connections this dump did not show.
    fn missing(&mut self, r: Reading, previous: Option<Instant>, out: &mut Vec<Event>) {
        let absent: Vec<(ConnId, Stamp)> = self
            .slots
            .iter()
            .filter(|(_, s)| s.seen_in != r.number && !s.conn.is_gone())
            .filter_map(|(id, s)| {
                if let Some(closed) = s.closing {
                    // No timewait socket took over: it ended when it closed.
                    return (closed.at < r.window).then_some((*id, closed));
                }
                if s.last_change.is_some_and(|t| t >= r.window) {
                    return None; // changed while the dump ran: not yet in it
                }
                Some((*id, vanished_at(&s.conn, previous, r.when)))
            })
            .collect();
        for (id, when) in absent {
            self.end(id, when, out);
        }
    }
}

/// When a connection missing from a dump ended: a TIME_WAIT ends when its
/// timer runs out, if that fell between the two readings.
fn vanished_at(conn: &Conn, previous: Option<Instant>, now: Stamp) -> Stamp {
    let Some(timer) = conn.row.timer.as_ref() else {
        return now;
    };
    let earliest = previous.unwrap_or(now.at).max(conn.current_phase().entered);
    let at = timer.expires_at.clamp(earliest, now.at);
    let back = now.at.saturating_duration_since(at);
    Stamp {
        at,
        wall: now.wall.checked_sub(back).unwrap_or(now.wall),
    }
}

/// Whether a row on a connection's 4-tuple is another socket.
fn other_socket(slot: &Slot, row: &SocketRow) -> bool {
    match (slot.cookie, row.cookie) {
        // A request socket's child may carry a cookie of its own.
        (Some(a), Some(b)) => a != b && slot.conn.state() != TcpState::SynRecv,
        // The connection came from a change; this is its first dump.
        (None, Some(_)) => false,
        // No cookies (netstat2): judge by the states and the inode.
        (_, None) => is_reuse(&slot.conn, row),
    }
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

/// The same socket read again: new queues, timers, owner; a new state if
/// it moved on since.
fn refresh(slot: &mut Slot, row: SocketRow, r: Reading, out: &mut Vec<Event>) {
    slot.cookie = slot.cookie.or(row.cookie);
    if row.owner.is_some() {
        slot.owner.clone_from(&row.owner);
    }
    if let Some(closed) = slot.closing.take() {
        // A timewait socket carries the connection on from when it closed.
        return moved(slot, row, closed, Entry::Exact, out);
    }
    if row.state != slot.conn.state() {
        return moved(slot, row, r.when, Entry::Seen, out);
    }
    if slot.conn.row != row && !same_but_timer_countdown(&slot.conn.row, &row) {
        Arc::make_mut(&mut slot.conn).row = row;
    }
}

fn moved(slot: &mut Slot, row: SocketRow, when: Stamp, entry: Entry, out: &mut Vec<Event>) {
    let from = slot.conn.state();
    let to = row.state;
    let conn = Arc::make_mut(&mut slot.conn);
    conn.row = row;
    conn.row.state = from;
    if from == to {
        return;
    }
    conn.push_phase(Phase {
        state: to,
        entered: when.at,
        entered_wall: when.wall,
        entry,
    });
    emit(slot, EventKind::State { from, to }, when, out);
}

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
        && (old.recv_q, old.send_q, old.uid, old.inode, old.cookie)
            == (new.recv_q, new.send_q, new.uid, new.inode, new.cookie)
        && old.owner == new.owner
        && old.user == new.user
}
