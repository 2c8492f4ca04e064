//! Changes reported by the kernel as they happened: they move known
//! connections on, start new ones, and end them.

use super::{Connect, Pipeline, SLACK, Slot, Stamp, emit, not_before};
use crate::socket::{
    Cause, Conn, Entry, Event, EventKind, Owner, Phase, SocketKey, SocketRow, TcpState,
};
use crate::source::Change;
use std::sync::Arc;

use TcpState::{
    Closed, Closing, Established, FinWait1, FinWait2, LastAck, Listen, SynRecv, SynSent, TimeWait,
};

impl Pipeline {
    /// Applies a batch of changes, oldest first.
    pub fn changes(&mut self, batch: &[Change], out: &mut Vec<Event>) {
        for c in batch {
            self.change(c, out);
        }
    }

    fn change(&mut self, c: &Change, out: &mut Vec<Event>) {
        let before_baseline = self.baseline.is_some_and(|b| c.at + SLACK < b);
        // close() on a socket already in FIN_WAIT_2 reports FIN_WAIT_2 again.
        if before_baseline || c.from == c.to {
            return;
        }
        let when = Stamp {
            at: c.at,
            wall: c.wall,
        };
        if c.key.local.port() == 0 {
            // connect() before the port is chosen: keep the SYN's time for
            // the change that names the port; a failed one is forgotten.
            if let Some(sk) = c.sk {
                match (c.from, c.to) {
                    (Closed, SynSent) => {
                        let (caller, cause) = (c.owner.clone(), c.cause.clone());
                        let connect = Connect {
                            syn: when,
                            caller,
                            cause,
                        };
                        drop(self.connects.insert(sk, connect))
                    }
                    _ => drop(self.connects.remove(&sk)),
                }
            }
            return;
        }
        let connect = match (c.from, c.sk) {
            (SynSent, Some(sk)) => self.connects.remove(&sk),
            _ => None,
        };
        let caller = c
            .owner
            .clone()
            .or_else(|| connect.as_ref().and_then(|c| c.caller.clone()));
        let first = out.len();
        self.follow(c, connect.as_ref(), out);
        if let Some(caller) = caller {
            self.called_by(c, caller, &mut out[first..]);
        }
    }

    /// Applies one change to the connection it continues, ends or starts.
    fn follow(&mut self, c: &Change, syn: Option<&Connect>, out: &mut Vec<Event>) {
        let when = Stamp {
            at: c.at,
            wall: c.wall,
        };
        match self.live_for(c) {
            Some(key) if self.continues(&key, c, syn.is_some()) => self.advance(key, c, syn, out),
            Some(key) if c.to == Listen && self.state_on(&key) == Some(Listen) => {
                // Another SO_REUSEPORT listener on the same tuple.
                let mut key = c.key;
                key.instance = c.sk.unwrap_or(u64::MAX - self.next_id);
                self.start(c, key, syn, out);
            }
            Some(key) => {
                let when = syn.map_or(when, |s| s.syn);
                let cause = self.taken_over(&key, c, syn);
                self.end(&key, when, cause, out);
                self.start(c, c.key, syn, out);
            }
            None if c.to == Closed && syn.is_none() => {} // never seen, already over
            None => self.start(c, c.key, syn, out),
        }
    }

    /// A change made by a system call of the socket's holder names its
    /// owner: the events it made, the connection's last known holder, and
    /// its row while no walk of /proc has said who holds it (connect and
    /// listen keep the descriptor; after close the socket is no one's).
    fn called_by(&mut self, c: &Change, caller: Arc<Owner>, events: &mut [Event]) {
        for e in events.iter_mut().filter(|e| e.owner.is_none()) {
            e.owner = Some(caller.clone());
        }
        let Some(key) = self.live_for(c) else { return };
        let Some(slot) = self.newest.get_mut(&key) else {
            return;
        };
        slot.owner = Some(caller.clone());
        let held = matches!(c.to, SynSent | Established | Listen);
        if held && slot.conn.row.owner.is_none() {
            Arc::make_mut(&mut slot.conn).row.owner = Some(caller);
            self.touch(key);
        }
    }

    fn state_on(&self, key: &SocketKey) -> Option<TcpState> {
        self.live_on(key).map(|s| s.conn.state())
    }

    /// The tuple of the live connection this change is about: by the
    /// socket's address, else by its 4-tuple, else (a listener closing
    /// that shares its tuple) the one listener there whose socket is
    /// not known to be another.
    fn live_for(&self, c: &Change) -> Option<SocketKey> {
        let by_sk = c.sk.and_then(|sk| self.by_sk.get(&sk)).copied();
        let same_tuple = |k: &SocketKey| {
            let live = self.live_on(k).is_some();
            live && (k.local, k.remote) == (c.key.local, c.key.remote)
        };
        by_sk
            .filter(same_tuple)
            .or_else(|| self.live_on(&c.key).map(|_| c.key))
            .or_else(|| self.sharing_listener(c))
    }

    fn sharing_listener(&self, c: &Change) -> Option<SocketKey> {
        // Only a listener closing: a listener's child (LISTEN → SYN_RECV)
        // is a connection of its own.
        if (c.from, c.to) != (Listen, Closed) || c.key.remote.port() != 0 {
            return None;
        }
        let mut unknown = self
            .siblings(&c.key)
            .filter(|(_, s)| s.sk.is_none() && s.conn.state() == Listen)
            .map(|(k, _)| *k);
        match (unknown.next(), unknown.next()) {
            (Some(k), None) => Some(k),
            _ => None, // none, or several it could be: the dumps will tell
        }
    }

    /// Why the connection on `key` ended when `c`, another socket's,
    /// took over its 4-tuple: a TIME_WAIT ends on the SYN that reused it
    /// (received, or sent by the connect() that chose it).
    fn taken_over(&self, key: &SocketKey, c: &Change, syn: Option<&Connect>) -> Cause {
        if self.state_on(key) != Some(TimeWait) {
            return Cause::Unknown;
        }
        match (syn, c.from, c.to) {
            (Some(s), ..) => s.cause.clone(),
            (None, Listen, SynRecv) => Cause::segment(crate::socket::Flags::SYN),
            _ => Cause::Unknown,
        }
    }

    /// Whether `c` is about the socket of the connection on `key`, or
    /// about a new socket that took over its 4-tuple.
    fn continues(&self, key: &SocketKey, c: &Change, backfilled: bool) -> bool {
        let Some(slot) = self.newest.get(key) else {
            return false;
        };
        if slot.closing().is_some() || slot.conn.state() == TimeWait {
            // A closed socket reports nothing more, and a timewait socket
            // nothing at all: any other socket's report on the tuple is a
            // new connection (a SYN that took over a TIME_WAIT, say). Only
            // a late report of its own close, by its own address, is not.
            return matches!((slot.sk, c.sk), (Some(a), Some(b)) if a == b);
        }
        match (slot.sk, c.sk) {
            (Some(a), Some(b)) => return a == b,
            (Some(_), None) | (None, None) => return !opens(c) && !backfilled,
            (None, Some(_)) => {}
        }
        // Known only from dumps so far.
        if !opens(c) && !backfilled {
            return true;
        }
        // A slow connect: a dump saw it waiting in SYN_SENT.
        if backfilled {
            return slot.conn.state() == SynSent;
        }
        // A request socket seen in a dump, then its child; or a socket a
        // dump saw only after this change had already happened.
        let child = slot.conn.state() == SynRecv && (c.from, c.to) == (Listen, SynRecv);
        child || slot.dump_born.is_some_and(|born| c.at <= born + SLACK)
    }

    /// Moves the known connection on `key` on. `syn`: when connect()
    /// sent its SYN, if this is the change that named its port.
    fn advance(&mut self, key: SocketKey, c: &Change, syn: Option<&Connect>, out: &mut Vec<Event>) {
        let when = Stamp {
            at: c.at,
            wall: c.wall,
        };
        self.touch(key);
        let Some(slot) = self.newest.get_mut(&key) else {
            return;
        };
        slot.last_change = Some(slot.last_change.map_or(c.at, |t| t.max(c.at)));
        slot.dump_born = None;
        // The kernel says it is there: an earlier dump missed it.
        slot.set_missed(None);
        if (c.from, c.to) == (Listen, SynRecv) {
            // The child socket, with a cookie of its own, replaces the
            // request socket a dump saw.
            slot.cookie = None;
        }
        if let Some(syn) = syn {
            correct_history(&mut slot.conn, SynSent, syn.syn, &syn.cause);
        }
        if c.to == Closed {
            if c.from == LastAck {
                // Its FIN was acked: a timewait socket at the other end is
                // in TIME_WAIT by now, even if a reading taken while the
                // FIN was on its way still found it in FIN_WAIT_2.
                self.peer_sent_fin(&key);
            }
            return self.closed(key, c, when, out);
        }
        if let Some(sk) = c.sk {
            slot.sk = Some(sk);
            self.by_sk.insert(sk, key);
        }
        let current = slot.conn.state();
        if (c.from, c.to) == (Listen, SynRecv) && current == SynRecv {
            // The request socket's SYN_RECV began when the SYN arrived;
            // its child is made at the handshake's last ACK, the end of
            // that stretch, not its start: keep what the dump saw.
            return;
        }
        if current == c.to {
            // A dump showed this already (only the first dump can): put
            // the kernel's time in, say nothing new.
            return correct_history(&mut slot.conn, c.to, when, &c.cause);
        }
        // Never before the state it leaves began: the clocks may differ
        // by a little, and a connection's times must not go back.
        let when = not_before(when, &slot.conn);
        if matches!(c.to, LastAck | Closing) {
            self.peer_sent_fin(&key);
        }
        if self.totals_at_close && matches!(c.to, FinWait1 | TcpState::CloseWait) {
            self.want(key);
        }
        let Some(slot) = self.newest.get_mut(&key) else {
            return;
        };
        let cause = c
            .cause
            .clone()
            .seen_with_holder(c.to, slot.owner.as_deref());
        let conn = Arc::make_mut(&mut slot.conn);
        conn.push_phase(exact(c.to, when, cause));
        emit(
            slot,
            EventKind::State {
                from: current,
                to: c.to,
            },
            when,
            out,
        );
    }

    /// The socket closed. From FIN_WAIT_1/2 or CLOSING the kernel usually
    /// hands the connection to a timewait socket: wait for the next dump.
    fn closed(&mut self, key: SocketKey, c: &Change, when: Stamp, out: &mut Vec<Event>) {
        let Some(slot) = self.newest.get_mut(&key) else {
            return;
        };
        if let Some(sk) = slot.sk.take()
            && self.by_sk.get(&sk) == Some(&key)
        {
            self.by_sk.remove(&sk);
        }
        if slot.conn.state() == TimeWait {
            // Its close came after a reading that had already found the
            // timewait socket carrying it on: it lives on in TIME_WAIT.
            return;
        }
        let cause = c
            .cause
            .clone()
            .seen_with_holder(Closed, slot.owner.as_deref());
        let may_wait = matches!(c.from, FinWait1 | FinWait2 | Closing);
        if may_wait {
            slot.set_closing(Some(not_before(when, &slot.conn)), cause);
            // Whether a timewait socket took over is for the kernel to say.
            self.want(key);
            return;
        }
        self.end(&key, when, cause, out);
    }

    /// A connection first seen through a change, on `key`.
    fn start(&mut self, c: &Change, key: SocketKey, syn: Option<&Connect>, out: &mut Vec<Event>) {
        let when = Stamp {
            at: c.at,
            wall: c.wall,
        };
        let mut timeline = Vec::with_capacity(2);
        let first_event_at = match syn {
            Some(s) => {
                timeline.push(exact(SynSent, s.syn, s.cause.clone()));
                s.syn
            }
            None => {
                if c.from != Closed {
                    // Mid-way (or a child socket, cloned from its LISTEN).
                    timeline.push(Phase {
                        entry: Entry::Before,
                        ..exact(c.from, when, Cause::Unknown)
                    });
                }
                when
            }
        };
        if c.to != Closed {
            timeline.push(exact(c.to, when, c.cause.clone()));
        }
        let Some(state) = timeline.last().map(|p| p.state) else {
            return;
        };
        let id = self.fresh_id();
        let conn = Conn {
            id,
            row: SocketRow::new(key, state),
            timeline,
            appeared_at: Some(first_event_at.at),
            gone_at: None,
            end_cause: Cause::Unknown,
        };
        let slot = Slot {
            conn: Arc::new(conn),
            seen_in: 0,
            last_change: Some(c.at),
            sk: c.sk.filter(|_| c.to != Closed),
            cookie: None,
            dump_born: None,
            ending: None,
            owner: None,
        };
        self.insert(slot);
        self.announce(&key, syn.is_some(), first_event_at, when, out);
        if c.to == Closed {
            // A connect that failed after its port was chosen.
            self.end(&key, when, c.cause.clone(), out);
        }
    }

    /// The events of a connection's first appearance: `new` in its first
    /// state, then the change that followed a backfilled SYN.
    fn announce(
        &mut self,
        key: &SocketKey,
        backfilled: bool,
        first: Stamp,
        when: Stamp,
        out: &mut Vec<Event>,
    ) {
        let Some(slot) = self.newest.get(key) else {
            return;
        };
        let tl = &slot.conn.timeline;
        let (to, from) = (slot.conn.state(), tl.first().map_or(SynSent, |p| p.state));
        if backfilled && tl.len() == 2 {
            let mut opening = Event::of(&slot.conn, EventKind::New, first.at, first.wall);
            opening.state = from;
            opening.cause = tl.first().map(|p| p.cause.clone()).unwrap_or_default();
            out.push(opening);
            emit(slot, EventKind::State { from, to }, when, out);
        } else {
            emit(slot, EventKind::New, when, out);
        }
    }
}

/// What starts a connection on a 4-tuple: connect(), listen(), or a
/// listener's child.
fn opens(c: &Change) -> bool {
    c.from == Closed || (c.from, c.to) == (Listen, SynRecv)
}

fn exact(state: TcpState, when: Stamp, cause: Cause) -> Phase {
    Phase {
        state,
        entered: when.at,
        entered_wall: when.wall,
        entry: Entry::Exact,
        cause,
    }
}

/// Places a change the history already shows (or should have shown
/// before its first reading) at the kernel's time, without an event: the
/// latest phase in `state`, if the kernel puts it earlier or it was not
/// exact.
fn correct_history(conn: &mut Arc<Conn>, state: TcpState, when: Stamp, cause: &Cause) {
    let Some(i) = conn.timeline.iter().rposition(|p| p.state == state) else {
        return;
    };
    let p = &conn.timeline[i];
    if p.entry == Entry::Exact && when.at >= p.entered {
        return;
    }
    // Not before the phase it followed: times must not go back.
    let when = match i.checked_sub(1).map(|j| &conn.timeline[j]) {
        Some(prev) if prev.entered > when.at => Stamp {
            at: prev.entered,
            wall: prev.entered_wall,
        },
        _ => when,
    };
    let p = &mut Arc::make_mut(conn).timeline[i];
    (p.entered, p.entered_wall, p.entry) = (when.at, when.wall, Entry::Exact);
    if cause.is_known() {
        p.cause = cause.clone();
    }
}
