//! Changes reported by the kernel as they happened: they move known
//! connections on, start new ones, and end them.

use super::{Pipeline, SLACK, Slot, Stamp, emit};
use crate::socket::{Conn, Entry, Event, EventKind, Phase, SocketKey, SocketRow, TcpState};
use crate::source::Change;
use std::sync::Arc;

use TcpState::{Closed, Closing, FinWait1, FinWait2, Listen, SynRecv, SynSent, TimeWait};

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
                    (Closed, SynSent) => drop(self.connects.insert(sk, when)),
                    _ => drop(self.connects.remove(&sk)),
                }
            }
            return;
        }
        let syn = match (c.from, c.sk) {
            (SynSent, Some(sk)) => self.connects.remove(&sk),
            _ => None,
        };
        match self.live_for(c) {
            Some(key) if self.continues(&key, c, syn.is_some()) => self.advance(key, c, out),
            Some(key) => {
                self.end(&key, syn.unwrap_or(when), out);
                self.start(c, syn, out);
            }
            None if c.to == Closed && syn.is_none() => {} // never seen, already over
            None => self.start(c, syn, out),
        }
    }

    /// The tuple of the live connection this change is about: by the
    /// socket's address, else by its 4-tuple.
    fn live_for(&self, c: &Change) -> Option<SocketKey> {
        let by_sk = c.sk.and_then(|sk| self.by_sk.get(&sk)).copied();
        let same_tuple = |k: &SocketKey| {
            let live = self.live_on(k).is_some();
            live && (k.local, k.remote) == (c.key.local, c.key.remote)
        };
        by_sk
            .filter(same_tuple)
            .or_else(|| self.live_on(&c.key).map(|_| c.key))
    }

    /// Whether `c` is about the socket of the connection on `key`, or
    /// about a new socket that took over its 4-tuple.
    fn continues(&self, key: &SocketKey, c: &Change, backfilled: bool) -> bool {
        let Some(slot) = self.newest.get(key) else {
            return false;
        };
        match (slot.sk, c.sk) {
            (Some(a), Some(b)) => return a == b,
            (Some(_), None) | (None, None) => return !opens(c) && !backfilled,
            (None, Some(_)) => {}
        }
        // Known only from dumps so far.
        if !opens(c) && !backfilled {
            return true;
        }
        // A request socket seen in a dump, then its child; or a socket a
        // dump saw only after this change had already happened.
        let child = slot.conn.state() == SynRecv && (c.from, c.to) == (Listen, SynRecv);
        child || slot.dump_born.is_some_and(|born| c.at <= born + SLACK)
    }

    /// Moves the known connection on `key` on.
    fn advance(&mut self, key: SocketKey, c: &Change, out: &mut Vec<Event>) {
        let when = Stamp {
            at: c.at,
            wall: c.wall,
        };
        let Some(slot) = self.newest.get_mut(&key) else {
            return;
        };
        slot.last_change = Some(slot.last_change.map_or(c.at, |t| t.max(c.at)));
        slot.dump_born = None;
        if c.to == Closed {
            return self.closed(key, c, when, out);
        }
        if let Some(sk) = c.sk {
            slot.sk = Some(sk);
            self.by_sk.insert(sk, key);
        }
        let current = slot.conn.state();
        if current == c.to {
            // A dump showed this already (only the first dump can): put
            // the kernel's time in, say nothing new.
            return correct_history(&mut slot.conn, c);
        }
        // Never before the state it leaves began: the clocks may differ
        // by a little, and a connection's times must not go back.
        let phase = slot.conn.current_phase();
        let when = if c.at < phase.entered {
            Stamp {
                at: phase.entered,
                wall: phase.entered_wall,
            }
        } else {
            when
        };
        let conn = Arc::make_mut(&mut slot.conn);
        conn.push_phase(exact(c.to, when));
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
        let may_wait = matches!(c.from, FinWait1 | FinWait2 | Closing);
        if may_wait && slot.conn.state() != TimeWait {
            slot.closing = Some(when);
            return;
        }
        self.end(&key, when, out);
    }

    /// A connection first seen through a change.
    fn start(&mut self, c: &Change, syn: Option<Stamp>, out: &mut Vec<Event>) {
        let when = Stamp {
            at: c.at,
            wall: c.wall,
        };
        let mut timeline = Vec::with_capacity(2);
        let first_event_at = match syn {
            Some(s) => {
                timeline.push(exact(SynSent, s));
                s
            }
            None => {
                if c.from != Closed {
                    // Mid-way (or a child socket, cloned from its LISTEN).
                    timeline.push(Phase {
                        entry: Entry::Before,
                        ..exact(c.from, when)
                    });
                }
                when
            }
        };
        if c.to != Closed {
            timeline.push(exact(c.to, when));
        }
        let Some(state) = timeline.last().map(|p| p.state) else {
            return;
        };
        let id = self.fresh_id();
        let conn = Conn {
            id,
            row: SocketRow::new(c.key, state),
            timeline,
            appeared_at: Some(first_event_at.at),
            gone_at: None,
        };
        let slot = Slot {
            conn: Arc::new(conn),
            seen_in: 0,
            last_change: Some(c.at),
            sk: c.sk.filter(|_| c.to != Closed),
            cookie: None,
            closing: None,
            dump_born: None,
            missed: None,
            owner: None,
        };
        self.insert(slot);
        self.announce(&c.key, syn.is_some(), first_event_at, when, out);
        if c.to == Closed {
            // A connect that failed after its port was chosen.
            self.end(&c.key, when, out);
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

fn exact(state: TcpState, when: Stamp) -> Phase {
    Phase {
        state,
        entered: when.at,
        entered_wall: when.wall,
        entry: Entry::Exact,
    }
}

/// Places a change the history already shows (or should have shown
/// before its first reading) at the kernel's time, without an event.
fn correct_history(conn: &mut Arc<Conn>, c: &Change) {
    let tl = &conn.timeline;
    let n = tl.len();
    let at = (0..n).rev().find(|&i| tl[i].state == c.to);
    let Some(i) = at else { return };
    let exact_already = tl[i].entry == Entry::Exact;
    let earlier = c.at < tl[i].entered;
    if exact_already && !earlier {
        return;
    }
    let conn = Arc::make_mut(conn);
    let p = &mut conn.timeline[i];
    (p.entered, p.entered_wall, p.entry) = (c.at, c.wall, Entry::Exact);
}
