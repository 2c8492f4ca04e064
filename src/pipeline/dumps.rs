//! Dumps of the whole table: where every connection is now, with queues,
//! timers and owners. They start connections no change reported (all of
//! them without root), confirm what the tracepoint cannot see (a timewait
//! socket carrying a closed connection on), and end connections that are
//! no longer there.

use super::{Pipeline, SLACK, Slot, Stamp, emit};
use crate::socket::Cause;
use crate::socket::{
    Conn, Entry, Event, EventKind, Phase, SocketKey, SocketRow, SocketTimer, TcpState, TimerKind,
};
use crate::source::Dump;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Linux's TIME_WAIT length (TCP_TIMEWAIT_LEN): the timer's start value.
const TIME_WAIT_LEN: Duration = Duration::from_secs(60);

/// How far a timer's expiry may move between readings and still be the
/// same timer counting down (the kernel reports it in milliseconds, and
/// readings are taken a few milliseconds apart from the kernel's clock).
const TIMER_JITTER: Duration = Duration::from_millis(20);

/// What a dump is, for each of its rows.
#[derive(Clone, Copy)]
pub(super) struct Reading {
    pub(super) when: Stamp,
    pub(super) finished: Instant,
    /// Changes at or after this may or may not be in the dump.
    pub(super) window: Instant,
    pub(super) number: u64,
    pub(super) baseline: bool,
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

    pub(super) fn row(&mut self, row: SocketRow, r: Reading, out: &mut Vec<Event>) {
        // One lookup: this runs for every socket of every dump.
        let key = row.key;
        let Some(slot) = self.newest.get_mut(&key) else {
            return self.unknown(row, r, out);
        };
        if slot.conn.is_gone() {
            if !stale(slot, &row, r) {
                self.unknown(row, r, out);
            }
            return;
        }
        slot.seen_in = r.number;
        slot.set_missed(None);
        if slot.last_change.is_some_and(|t| t >= r.window) {
            return; // the kernel's own report is newer than this row
        }
        if other_socket(slot, &row) {
            self.end(&key, r.when, Cause::Unknown, out);
            return self.born(row, r, out);
        }
        let into_time_wait =
            row.state == TcpState::TimeWait && slot.conn.state() != TcpState::TimeWait;
        let changed = if into_time_wait {
            let began = self.time_wait_began(&row, r);
            self.newest
                .get_mut(&key)
                .is_some_and(|slot| refresh(slot, row, r, began, out))
        } else {
            refresh(slot, row, r, None, out)
        };
        if changed {
            self.touch(key);
        }
    }

    /// A row on a key with no live connection: a listener that shares its
    /// tuple now (or no longer does) moves to its new key; anything else
    /// is new.
    fn unknown(&mut self, row: SocketRow, r: Reading, out: &mut Vec<Event>) {
        let listener = row.key.remote.port() == 0;
        let moved = listener.then(|| self.listener_of(&row, r)).flatten();
        match moved {
            Some(from) => {
                self.rekey(from, row.key);
                self.row(row, r, out);
            }
            None => self.born(row, r, out),
        }
    }

    /// The live listener, on another key of the row's tuple, that this row
    /// shows: the same cookie (or inode), or one a change started that no
    /// dump has shown yet.
    fn listener_of(&self, row: &SocketRow, r: Reading) -> Option<crate::socket::SocketKey> {
        let same = |s: &Slot| match (s.cookie, row.cookie, s.conn.row.inode, row.inode) {
            (Some(a), Some(b), _, _) => a == b,
            (_, _, Some(a), Some(b)) => a == b,
            (None, _, None, _) => true,
            _ => false,
        };
        self.siblings(&row.key)
            .find(|(_, s)| s.seen_in != r.number && same(s))
            .map(|(k, _)| *k)
    }

    /// When a timewait socket entered TIME_WAIT, which no tracepoint
    /// reports. Closed on the peer's FIN (or from CLOSING), it is in
    /// TIME_WAIT from the moment the kernel reported the close; closed in
    /// FIN_WAIT_2 before that FIN came (an orphan), it waits in FIN_WAIT_2
    /// for it. So: when the peer, on this machine, sent a FIN after the
    /// close (to the microsecond), else the close itself. Without a close
    /// to go by (a reading found the orphan in FIN_WAIT_2 first, or the
    /// kernel dropped the change): the peer's FIN, else the 2·MSL timer,
    /// which starts at 60 s (to a few milliseconds).
    fn time_wait_began(&self, row: &SocketRow, r: Reading) -> Option<Stamp> {
        let slot = self.newest.get(&row.key)?;
        if let Some(closed) = slot.closing() {
            // Not the timer: jiffies lag behind on a loaded machine, and
            // the kernel's own record of the close is exact.
            return Some(self.peer_fin(&row.key, closed.at, r).unwrap_or(closed));
        }
        let since = slot.conn.current_phase().entered;
        self.peer_fin(&row.key, since, r)
            .or_else(|| from_timer(row, since, r))
    }

    /// When the other end of `key`, if it is on this machine, sent its FIN
    /// (entered LAST_ACK or CLOSING) between `since` and the reading.
    fn peer_fin(&self, key: &SocketKey, since: Instant, r: Reading) -> Option<Stamp> {
        let peer = self.newest.get(&key.reversed())?;
        let fin = peer.conn.timeline.iter().rev().find(|ph| {
            matches!(ph.state, TcpState::LastAck | TcpState::Closing) && ph.entry == Entry::Exact
        })?;
        (fin.entered >= since && fin.entered <= r.when.at).then_some(Stamp {
            at: fin.entered,
            wall: fin.entered_wall,
        })
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
            cause: Cause::Unknown,
        };
        let slot = Slot {
            seen_in: r.number,
            last_change: None,
            sk: None,
            cookie: row.cookie,
            dump_born: Some(r.finished),
            ending: None,
            owner: row.owner.clone(),
            conn: Arc::new(Conn {
                id,
                row,
                timeline: vec![phase],
                appeared_at: (!r.baseline).then_some(r.when.at),
                gone_at: None,
                end_cause: Cause::Unknown,
            }),
        };
        let key = slot.conn.row.key;
        self.insert(slot);
        if let (false, Some(slot)) = (r.baseline, self.newest.get(&key)) {
            emit(slot, EventKind::New, r.when, out);
        }
    }

    /// Live connections this dump did not show. The first miss is noted;
    /// the second ends the connection, as of when it was first missed.
    fn missing(&mut self, r: Reading, previous: Option<Instant>, out: &mut Vec<Event>) {
        let (mut absent, mut first_misses) = (Vec::new(), 0);
        for (key, s) in self.newest.iter_mut() {
            if s.seen_in == r.number || s.conn.is_gone() {
                continue;
            }
            // Changed while the dump ran: it may not be in it yet.
            let recent = s.closing().map(|c| c.at).or(s.last_change);
            if recent.is_some_and(|t| t >= r.window) {
                continue;
            }
            match s.missed() {
                Some(_) => absent.push(*key),
                None => {
                    s.set_missed(Some(vanished_at(&s.conn, previous, r.when)));
                    first_misses += 1;
                }
            }
        }
        self.first_misses = first_misses;
        for key in absent {
            self.end(&key, r.when, Cause::Unknown, out);
        }
    }
}

/// A row of a connection (`slot`, ended) that the dump read just before it
/// went.
fn stale(slot: &Slot, row: &SocketRow, r: Reading) -> bool {
    let other = slot.cookie.is_some() && row.cookie.is_some() && slot.cookie != row.cookie;
    let ended_meanwhile = slot.conn.gone_at.is_some_and(|t| t >= r.window);
    ended_meanwhile && !other
}

/// When a connection missing from a dump ended: a TIME_WAIT ends when its
/// timer runs out, if that fell between the two readings.
pub(super) fn vanished_at(conn: &Conn, previous: Option<Instant>, now: Stamp) -> Stamp {
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

/// When a TIME_WAIT row's 2·MSL timer started, if it has one: not before
/// `since`, nor after the reading.
fn from_timer(row: &SocketRow, since: Instant, r: Reading) -> Option<Stamp> {
    let timer = row
        .timer
        .as_ref()
        .filter(|t| t.kind == TimerKind::TimeWait)?;
    let at = timer.expires_at.checked_sub(TIME_WAIT_LEN)?;
    let at = at.min(r.when.at).max(since.min(r.when.at));
    let back = r.when.at.saturating_duration_since(at);
    Some(Stamp {
        at,
        wall: r.when.wall.checked_sub(back).unwrap_or(r.when.wall),
    })
}

/// Whether a row on a connection's 4-tuple is another socket.
fn other_socket(slot: &Slot, row: &SocketRow) -> bool {
    if taken_over(slot, row) {
        return true;
    }
    match (slot.cookie, row.cookie) {
        // A request socket's child may carry a cookie of its own.
        (Some(a), Some(b)) => a != b && slot.conn.state() != TcpState::SynRecv,
        // The connection came from a change; this is its first dump.
        (None, Some(_)) => false,
        // No cookies (netstat2): judge by the states and the inode.
        (_, None) => is_reuse(&slot.conn, row),
    }
}

/// A row on the tuple of a closed connection, or of one in TIME_WAIT, in
/// a state no timewait socket is in: another socket has the tuple now
/// (Linux lets a new SYN take over a TIME_WAIT's tuple), whatever the
/// cookies say; a connection known only from changes has none to compare.
fn taken_over(slot: &Slot, row: &SocketRow) -> bool {
    use TcpState::{FinWait2, TimeWait};
    if slot.closing().is_some() {
        return !matches!(row.state, FinWait2 | TimeWait);
    }
    slot.conn.state() == TimeWait && row.state != TimeWait
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
/// it moved on since. `began`: when it entered TIME_WAIT, if it did.
/// Returns whether the connection changed.
fn refresh(
    slot: &mut Slot,
    row: SocketRow,
    r: Reading,
    began: Option<Stamp>,
    out: &mut Vec<Event>,
) -> bool {
    // A request socket's child has a cookie of its own: the newest counts.
    slot.cookie = row.cookie.or(slot.cookie);
    let mut row = row;
    if row.owner.is_some() {
        slot.owner.clone_from(&row.owner);
    } else if row.inode.is_some() {
        // Still held, by no one a walk has named yet: the holder the
        // kernel's change records named, if any.
        row.owner.clone_from(&slot.owner);
    }
    // A timewait socket has no tcp_info: the last totals seen stay.
    row.totals = row.totals.or(slot.conn.row.totals);
    let cause = slot.closing_cause();
    if let Some(closed) = slot.take_closing() {
        // A timewait socket carries the connection on from when it closed:
        // in TIME_WAIT (from `began`), or still in FIN_WAIT_2 until the
        // peer's FIN (an orphan closed in FIN_WAIT_2), and TIME_WAIT after.
        moved(
            slot,
            row,
            began.unwrap_or(closed),
            (Entry::Exact, cause),
            out,
        );
        return true;
    }
    if row.state != slot.conn.state() {
        let (when, entry) = began.map_or((r.when, Entry::Seen), |b| (b, Entry::Exact));
        moved(slot, row, when, (entry, Cause::Unknown), out);
        return true;
    }
    if same_row(&slot.conn.row, &row) {
        return false;
    }
    Arc::make_mut(&mut slot.conn).row = row;
    true
}

/// `cause`: the close record's, when it was a segment (the FIN or ACK
/// that closed the socket moved the connection on to TIME_WAIT); else
/// what the two states alone tell.
fn moved(
    slot: &mut Slot,
    row: SocketRow,
    when: Stamp,
    (entry, cause): (Entry, Cause),
    out: &mut Vec<Event>,
) {
    let from = slot.conn.state();
    let to = row.state;
    let cause = match cause {
        Cause::Segment(_) => cause,
        _ => Cause::of_edge(from, to),
    };
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
        cause,
    });
    emit(slot, EventKind::State { from, to }, when, out);
}

/// The same value (usually the same shared object: quick), or both absent.
fn same_arc<T: ?Sized + PartialEq>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
        (None, None) => true,
        _ => false,
    }
}

/// True when nothing worth showing changed, so the shared row is not
/// copied: the same values, owners and users (each walk of /proc makes
/// new shared owners, equal to the old), and a timer whose
/// expiry stayed put while its remaining time counted down (a TIME_WAIT
/// would otherwise be copied on every reading). Every field is named, so
/// a field added to `SocketRow` does not compile here until it is
/// compared, rather than silently never refreshing.
fn same_row(old: &SocketRow, new: &SocketRow) -> bool {
    let SocketRow {
        key,
        state,
        recv_q,
        send_q,
        timer,
        uid,
        user,
        inode,
        cookie,
        owner,
        netns,
        totals,
    } = new;
    (
        key, state, recv_q, send_q, uid, inode, cookie, netns, totals,
    ) == (
        &old.key,
        &old.state,
        &old.recv_q,
        &old.send_q,
        &old.uid,
        &old.inode,
        &old.cookie,
        &old.netns,
        &old.totals,
    ) && same_timer(&old.timer, timer)
        && same_arc(&old.owner, owner)
        && same_arc(&old.user, user)
}

fn same_timer(old: &Option<SocketTimer>, new: &Option<SocketTimer>) -> bool {
    match (old, new) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let drift = if a.expires_at > b.expires_at {
                a.expires_at - b.expires_at
            } else {
                b.expires_at - a.expires_at
            };
            a.kind == b.kind && a.retransmits == b.retransmits && drift <= TIMER_JITTER
        }
        _ => false,
    }
}
