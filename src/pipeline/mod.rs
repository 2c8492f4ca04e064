//! The only place observations become connections. Dumps of the table and
//! the kernel's reports of single changes arrive separately; the pipeline
//! merges them by the time they happened, not the time they were read, and
//! gives each connection one identity for its whole life (the socket's
//! kernel address and cookie where the kernel has them), so that a
//! connection's events form one chain, in order, with times that never go
//! back. Pure and synchronous: the runner feeds it, tests feed it by hand.
//!
//! The rules, in short:
//! - A dump is applied only after every change that happened before it
//!   finished (the runner waits for them); a row whose connection changed
//!   while the dump was being taken is stale and ignored.
//! - A change that starts a connection (connect, listen, a SYN answered)
//!   on a 4-tuple still held by another connection ends that one first;
//!   so does any change, or a row in another state, on the tuple of a
//!   closed connection or a TIME_WAIT (a new SYN may take a TIME_WAIT's
//!   tuple over; a timewait socket reports nothing itself).
//! - A socket the tracepoint reports closing from FIN_WAIT_1/2 or CLOSING
//!   is handed to a timewait socket by the kernel: an exact reading says
//!   whether it lives on in TIME_WAIT (from the moment it closed, or, if
//!   it was closed in FIN_WAIT_2 before the peer's FIN, from that FIN) or
//!   is gone.
//! - A connection ends by a dump only when two dumps in a row lack it:
//!   a dump taken while the table churns can skip a socket.
//! - Without changes (no root), dumps alone drive it, as polling does.

mod changes;
mod dumps;
mod exact;
pub mod history;
mod mirror;
pub mod runner;

pub use mirror::Mirror;

use crate::socket::cause::Timer;
use crate::socket::summary::Summary;
use crate::socket::{
    Cause, Conn, ConnId, Event, EventKind, Owner, SocketKey, StateCounts, TcpState,
};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long an ended connection stays visible (greyed) before removal.
pub const GONE_LINGER: Duration = Duration::from_secs(3);
/// How far apart the kernel's clock and ours may place one moment, and
/// how long after its timestamp a change may still become visible.
pub const SLACK: Duration = Duration::from_millis(2);
/// A connect() whose port was never reported is forgotten after this.
const CONNECT_MEMORY: Duration = Duration::from_secs(600);
/// connect()s remembered before old ones are looked for.
const CONNECTS_KEPT: usize = 4096;

/// A moment on both clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    at: Instant,
    wall: SystemTime,
}

/// A connect() whose port is not known yet: when its SYN went out, and
/// who called it.
#[derive(Clone, Debug)]
struct Connect {
    syn: Stamp,
    caller: Option<Arc<Owner>>,
    /// connect()'s cause, by whom.
    cause: Cause,
}

/// A connection and what the pipeline knows about its socket.
#[derive(Clone, Debug)]
struct Slot {
    conn: Arc<Conn>,
    /// Number of the last dump that contained it.
    seen_in: u64,
    /// Kernel time of the latest change applied to it.
    last_change: Option<Instant>,
    /// The socket's kernel address while it is open.
    sk: Option<u64>,
    cookie: Option<u64>,
    /// First shown by a dump that finished then (no change seen yet).
    dump_born: Option<Instant>,
    /// Signs that it may have ended; few connections have any, so they
    /// live apart (a slot is in memory for every socket of the table).
    ending: Option<Box<Ending>>,
    /// The last process known to hold it, for events after it let go.
    owner: Option<Arc<Owner>>,
}

#[derive(Clone, Debug, Default)]
struct Ending {
    /// Closed from FIN_WAIT_1/2 or CLOSING: a timewait socket may carry on.
    closing: Option<Stamp>,
    /// Why it closed: a segment that did so also moved it on to TIME_WAIT.
    closing_cause: Cause,
    /// The last dump did not show it: when it ended, if the next one
    /// agrees. (Under churn one dump can miss a socket: the kernel resumes
    /// a dump by position in a hash chain that may have changed.)
    missed: Option<Stamp>,
}

impl Slot {
    fn closing(&self) -> Option<Stamp> {
        self.ending.as_ref().and_then(|e| e.closing)
    }

    fn missed(&self) -> Option<Stamp> {
        self.ending.as_ref().and_then(|e| e.missed)
    }

    fn set_closing(&mut self, at: Option<Stamp>, cause: Cause) {
        self.edit_ending(|e| (e.closing, e.closing_cause) = (at, cause));
    }

    fn closing_cause(&self) -> Cause {
        self.ending
            .as_ref()
            .map(|e| e.closing_cause.clone())
            .unwrap_or_default()
    }

    fn set_missed(&mut self, at: Option<Stamp>) {
        self.edit_ending(|e| e.missed = at);
    }

    fn take_closing(&mut self) -> Option<Stamp> {
        let at = self.closing();
        self.set_closing(None, Cause::Unknown);
        at
    }

    fn take_missed(&mut self) -> Option<Stamp> {
        let at = self.missed();
        self.set_missed(None);
        at
    }

    fn edit_ending(&mut self, edit: impl FnOnce(&mut Ending)) {
        let mut e = self.ending.take().map_or_else(Ending::default, |b| *b);
        edit(&mut e);
        if e.closing.is_some() || e.missed.is_some() {
            self.ending = Some(Box::new(e));
        }
    }
}

#[derive(Default)]
pub struct Pipeline {
    /// The newest connection on each 4-tuple, live or lingering: one
    /// lookup per row of every dump. Only the newest can be live.
    newest: FxHashMap<SocketKey, Slot>,
    /// Ended connections a newer one replaced on their tuple, still
    /// lingering; by id, so purging one costs one lookup however many
    /// linger (thousands, on a busy port).
    older: FxHashMap<ConnId, Slot>,
    /// The tuple of each open socket, by its kernel address.
    by_sk: FxHashMap<u64, SocketKey>,
    /// connect() reports its SYN before the port is chosen: the SYN's time
    /// by socket address, until the socket's next change names the port.
    connects: FxHashMap<u64, Connect>,
    next_id: ConnId,
    dumps: u64,
    /// When the first dump began: earlier changes are already in it.
    baseline: Option<Instant>,
    /// When the latest dump began.
    last_dump: Option<Instant>,
    /// Ended connections by when they ended, oldest first: purging costs
    /// what ends, not the size of the table. Ends come nearly in order (one
    /// may be dated back to its close), so a queue, sorted on insert, does
    /// less work per end than a heap.
    ending: VecDeque<(Instant, ConnId, SocketKey)>,
    /// What changed since the last delta was taken.
    delta: Pending,
    /// Sockets to read exactly, soon: what no tracepoint reports.
    wanted: FxHashSet<SocketKey>,
    /// Connections the latest dump missed for the first time.
    first_misses: usize,
    /// Read a connection once more as it starts to close, for the byte
    /// totals of its summary (a short one may never be in a dump).
    totals_at_close: bool,
}

/// Changes not yet handed to a consumer.
#[derive(Default)]
struct Pending {
    /// Tuples whose newest connection changed (may repeat).
    touched: Vec<SocketKey>,
    /// Connections replaced on their tuple, in their last version.
    retired: Vec<Arc<Conn>>,
    /// Connections dropped after lingering.
    purged: Vec<ConnId>,
}

/// What changed since the previous delta: the current version of every
/// connection that changed or appeared, and the ids of those dropped.
/// Applying deltas in order to an empty copy gives the pipeline's view.
#[derive(Clone, Debug, Default)]
pub struct Delta {
    pub changed: Vec<Arc<Conn>>,
    pub removed: Vec<ConnId>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }

    /// This delta followed by `later`, as one: each connection once, in
    /// its latest version.
    pub fn merge(&mut self, later: Delta) {
        // The usual case (nothing held back): no set to build.
        if self.is_empty() {
            *self = later;
            return;
        }
        let newer: FxHashSet<ConnId> = later.changed.iter().map(|c| c.id).collect();
        self.changed.retain(|c| !newer.contains(&c.id));
        self.changed.extend(later.changed);
        self.removed.extend(later.removed);
    }
}

impl Pipeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// A pipeline that reads each connection as it starts to close.
    pub fn reading_totals(on: bool) -> Self {
        Pipeline {
            totals_at_close: on,
            ..Self::default()
        }
    }

    /// Every connection, live and lingering, in no particular order.
    pub fn conns(&self) -> impl Iterator<Item = &Arc<Conn>> {
        self.newest
            .values()
            .chain(self.older.values())
            .map(|s| &s.conn)
    }

    /// A cheap copy for readers: only reference counts are touched.
    pub fn view(&self) -> Vec<Arc<Conn>> {
        self.conns().cloned().collect()
    }

    /// Everything that changed since the last call. Its cost follows what
    /// changed, not the size of the table.
    pub fn take_delta(&mut self) -> Delta {
        let pending = std::mem::take(&mut self.delta);
        let mut seen = FxHashSet::default();
        let mut changed = pending.retired;
        for key in pending.touched {
            if let Some(slot) = self.newest.get(&key)
                && seen.insert(slot.conn.id)
            {
                changed.push(slot.conn.clone());
            }
        }
        Delta {
            changed,
            removed: pending.purged,
        }
    }

    /// Drops every connection `scope` no longer admits, with no event:
    /// they did not end, they are no longer watched (the lab's port
    /// moved). Consumers see them go from their mirror.
    pub fn forget_outside(&mut self, scope: &crate::source::Scope) {
        let (by_sk, purged) = (&mut self.by_sk, &mut self.delta.purged);
        self.newest.retain(|key, slot| {
            let keep = scope.admits_key(key);
            if !keep {
                if let Some(sk) = slot.sk {
                    by_sk.remove(&sk);
                }
                purged.push(slot.conn.id);
            }
            keep
        });
        self.older.retain(|id, slot| {
            let keep = scope.admits_key(&slot.conn.row.key);
            if !keep {
                purged.push(*id);
            }
            keep
        });
        self.wanted.retain(|k| scope.admits_key(k));
        self.delta.touched.retain(|k| scope.admits_key(k));
    }

    /// Whether anything changed since the last delta was taken.
    pub fn has_delta(&self) -> bool {
        let d = &self.delta;
        !(d.touched.is_empty() && d.retired.is_empty() && d.purged.is_empty())
    }

    /// Marks the newest connection on `key` as changed.
    fn touch(&mut self, key: SocketKey) {
        let pending = &mut self.delta.touched;
        pending.push(key);
        // A consumer that does not take deltas must not grow this forever.
        if pending.len() > 4 * self.newest.len().max(1024) {
            let mut seen = FxHashSet::default();
            pending.retain(|k| seen.insert(*k));
        }
    }

    /// The newest connection on this 4-tuple, live or lingering.
    pub fn find(&self, key: &SocketKey) -> Option<&Conn> {
        self.newest.get(key).map(|s| s.conn.as_ref())
    }

    /// Live connections per state (lingering ones not counted).
    pub fn counts(&self) -> StateCounts {
        self.conns()
            .filter(|c| !c.is_gone())
            .map(|c| &c.row.state)
            .collect()
    }

    /// How many connections it holds, live and lingering.
    pub fn len(&self) -> usize {
        self.newest.len() + self.older.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies a dump together with the changes read after it finished
    /// (which include every change it could have seen). The first dump is
    /// the baseline, so it goes first and only later changes follow it;
    /// after that, changes go first and the dump ignores rows they made
    /// stale.
    pub fn reading(
        &mut self,
        dump: crate::source::Dump,
        changes: &[crate::source::Change],
        out: &mut Vec<Event>,
    ) {
        if self.baseline.is_none() {
            self.dump(dump, out);
            self.changes(changes, out);
        } else {
            self.changes(changes, out);
            self.dump(dump, out);
        }
    }

    /// How many dumps have been applied.
    /// Whether the latest dump missed connections it has not confirmed
    /// gone: only the next dump can tell.
    pub fn awaits_next_dump(&self) -> bool {
        self.first_misses > 0
    }

    pub fn dumps(&self) -> u64 {
        self.dumps
    }

    /// Drops connections that have lingered long enough, and connect()s
    /// that never got a port.
    pub fn purge(&mut self, now: Instant) {
        while let Some(&(at, id, key)) = self.ending.front() {
            if now.saturating_duration_since(at) < GONE_LINGER {
                break;
            }
            self.ending.pop_front();
            match self.newest.get(&key) {
                Some(s) if s.conn.id == id => drop(self.newest.remove(&key)),
                _ => drop(self.older.remove(&id)),
            }
            self.delta.purged.push(id);
        }
        if self.connects.len() > CONNECTS_KEPT {
            self.connects
                .retain(|_, c| now.saturating_duration_since(c.syn.at) < CONNECT_MEMORY);
        }
    }

    /// The live connection on `key`, if any.
    fn live_on(&self, key: &SocketKey) -> Option<&Slot> {
        self.newest.get(key).filter(|s| !s.conn.is_gone())
    }

    fn fresh_id(&mut self) -> ConnId {
        self.next_id += 1;
        self.next_id
    }

    /// Registers a new connection as the newest on its 4-tuple; the one it
    /// replaces (ended by now) lingers on the side.
    fn insert(&mut self, slot: Slot) {
        let key = slot.conn.row.key;
        if let Some(sk) = slot.sk {
            self.by_sk.insert(sk, key);
        }
        if let Some(old) = self.newest.insert(key, slot) {
            self.delta.retired.push(old.conn.clone());
            self.older.insert(old.conn.id, old);
        }
        self.touch(key);
    }

    /// Ends the live connection on `key` at `when` (or when it closed, if
    /// it was waiting to learn whether a timewait socket carried on), for
    /// `cause` if a change said why.
    fn end(&mut self, key: &SocketKey, when: Stamp, cause: Cause, out: &mut Vec<Event>) {
        let Some(slot) = self.newest.get_mut(key) else {
            return;
        };
        if slot.conn.is_gone() {
            return;
        }
        let cause = match cause {
            Cause::Unknown => ending_cause(slot),
            known => known,
        };
        let when = slot.take_closing().or(slot.take_missed()).unwrap_or(when);
        // Never before the state it ends in began: times must not go back.
        let when = not_before(when, &slot.conn);
        if let Some(sk) = slot.sk.take()
            && self.by_sk.get(&sk) == Some(key)
        {
            self.by_sk.remove(&sk);
        }
        let conn = Arc::make_mut(&mut slot.conn);
        (conn.gone_at, conn.end_cause) = (Some(when.at), cause.clone());
        emit(slot, EventKind::Gone, when, out);
        if let Some(gone) = out.last_mut() {
            gone.cause = cause;
            gone.summary = Summary::of(&slot.conn).map(Arc::new);
        }
        let id = slot.conn.id;
        if self.ending.back().is_none_or(|e| e.0 <= when.at) {
            self.ending.push_back((when.at, id, *key));
        } else {
            let place = self.ending.partition_point(|e| e.0 <= when.at);
            self.ending.insert(place, (when.at, id, *key));
        }
        self.touch(*key);
    }
}

impl Pipeline {
    /// Moves a live connection to another key of the same tuple: an
    /// SO_REUSEPORT listener is keyed apart from its siblings only while
    /// it has some.
    fn rekey(&mut self, from: SocketKey, to: SocketKey) {
        let Some(mut slot) = self.newest.remove(&from) else {
            return;
        };
        Arc::make_mut(&mut slot.conn).row.key = to;
        self.insert(slot);
    }

    /// Live connections on the same address pair as `key` under other
    /// instances: listeners that share their tuple, or no longer do. A
    /// scan, so only for listeners not found by key, which is rare.
    fn siblings<'a>(
        &'a self,
        key: &'a SocketKey,
    ) -> impl Iterator<Item = (&'a SocketKey, &'a Slot)> {
        let same_pair = move |k: &SocketKey| {
            (k.family, k.local, k.remote) == (key.family, key.local, key.remote)
        };
        self.newest
            .iter()
            .filter(move |(k, s)| *k != key && same_pair(k) && !s.conn.is_gone())
    }
}

/// `when`, or the moment the connection's current state began if that was
/// later (the clocks may differ by a little).
fn not_before(when: Stamp, conn: &Conn) -> Stamp {
    let phase = conn.current_phase();
    if when.at >= phase.entered {
        return when;
    }
    Stamp {
        at: phase.entered,
        wall: phase.entered_wall,
    }
}

/// Why a connection no change ended has gone: a timewait socket's
/// timer (TIME_WAIT's, or an orphaned FIN_WAIT_2's after the kernel
/// reported its close), else the change that closed it, if it said.
fn ending_cause(slot: &Slot) -> Cause {
    let closed_by_change = slot.sk.is_none() && slot.last_change.is_some();
    match slot.conn.state() {
        TcpState::TimeWait => Cause::Timer(Timer::TimeWait),
        TcpState::FinWait2 if closed_by_change && slot.closing().is_none() => {
            Cause::Timer(Timer::FinWait2)
        }
        _ => slot.closing_cause(),
    }
}

fn emit(slot: &Slot, kind: EventKind, when: Stamp, out: &mut Vec<Event>) {
    let mut event = Event::of(&slot.conn, kind, when.at, when.wall);
    event.owner = slot.owner.clone();
    out.push(event);
}

#[cfg(test)]
mod tests;
