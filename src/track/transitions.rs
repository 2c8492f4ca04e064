//! Exact transitions (from the kernel's tracepoint) folded into the same
//! timelines the poller builds. The poller still supplies what the
//! tracepoint does not: TIME_WAIT sockets, queues, timers, owners.

use super::{Clock, Conn, Event, EventKind, Phase, Slot, Tracker, event};
use crate::socket::{SocketKey, SocketRow, TcpState};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// One state change reported by the kernel as it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub key: SocketKey,
    pub from: TcpState,
    pub to: TcpState,
    pub at: Instant,
    pub wall: SystemTime,
}

impl Tracker {
    /// Applies kernel transitions, oldest first. Returns their events.
    pub fn apply_transitions(&mut self, transitions: &[Transition]) -> Vec<Event> {
        let mut events = Vec::new();
        for t in transitions {
            self.transition(t, &mut events);
        }
        events
    }

    fn transition(&mut self, t: &Transition, events: &mut Vec<Event>) {
        // close() on a socket already in FIN_WAIT_2 reports FIN_WAIT_2 again.
        if t.from == t.to {
            return;
        }
        let clock = Clock {
            at: t.at,
            wall: t.wall,
            baseline: false,
        };
        if t.to == TcpState::Closed {
            return self.closed(t, clock, events);
        }
        // A connection that starts here is new even if its 4-tuple is still
        // known: loopback reuses TIME_WAIT tuples at once (tcp_tw_reuse).
        let opens =
            t.from == TcpState::Closed || (t.from == TcpState::Listen && t.to == TcpState::SynRecv);
        match self.conns.get_mut(&t.key) {
            Some(slot) if !slot.conn.is_gone() && !opens => {
                advance(&mut slot.conn, t, clock, events)
            }
            Some(slot) if !slot.conn.is_gone() => {
                events.push(event(&slot.conn, clock, EventKind::Gone));
                let conn = self.started(t, clock, events);
                let seen_in = self.readings;
                self.conns.insert(t.key, Slot { conn, seen_in });
            }
            _ => {
                let conn = self.started(t, clock, events);
                let seen_in = self.readings;
                self.conns.insert(t.key, Slot { conn, seen_in });
            }
        }
    }

    /// A connection first seen through the tracepoint: it starts in `from`
    /// (unless that is CLOSED, which is no state to show) and moves to `to`.
    fn started(&mut self, t: &Transition, clock: Clock, events: &mut Vec<Event>) -> Arc<Conn> {
        self.next_id += 1;
        let phase = |state, at: Instant, wall| Phase {
            state,
            entered: at,
            entered_wall: wall,
            entry_seen: true,
        };
        let mut timeline = Vec::new();
        if t.from != TcpState::Closed {
            timeline.push(Phase {
                entry_seen: false,
                ..phase(t.from, t.at, t.wall)
            });
        }
        timeline.push(phase(t.to, t.at, t.wall));
        let conn = Conn {
            id: self.next_id,
            row: SocketRow::new(t.key, t.to),
            timeline,
            appeared_at: Some(t.at),
            gone_at: None,
        };
        events.push(event(&conn, clock, EventKind::New));
        Arc::new(conn)
    }

    /// To CLOSED: the socket is gone, except when the kernel hands a
    /// closing connection to a timewait socket (from FIN_WAIT_1/2 or
    /// CLOSING): the poller then reports it in TIME_WAIT under the same key.
    fn closed(&mut self, t: &Transition, clock: Clock, events: &mut Vec<Event>) {
        let to_time_wait = matches!(
            t.from,
            TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing
        );
        let Some(slot) = self.conns.get_mut(&t.key) else {
            return;
        };
        if to_time_wait || slot.conn.is_gone() {
            return;
        }
        let conn = Arc::make_mut(&mut slot.conn);
        conn.gone_at = Some(t.at);
        events.push(event(conn, clock, EventKind::Gone));
    }
}

/// Moves a known connection along. A poller that got there first (or
/// skipped a short state) is corrected: the kernel's time replaces the
/// reading's, and a missed state is put back in its place.
fn advance(conn: &mut Arc<Conn>, t: &Transition, clock: Clock, events: &mut Vec<Event>) {
    let current = conn.state();
    let c = Arc::make_mut(conn);
    if current == t.from {
        c.row.state = t.to;
        c.push_phase(Phase {
            state: t.to,
            entered: t.at,
            entered_wall: t.wall,
            entry_seen: true,
        });
        events.push(event(
            c,
            clock,
            EventKind::State {
                from: t.from,
                to: t.to,
            },
        ));
        return;
    }
    // The poller is ahead: find where this transition belongs.
    let n = c.timeline.len();
    if let Some(i) = (1..n)
        .rev()
        .find(|&i| c.timeline[i].state == t.to && c.timeline[i - 1].state == t.from)
    {
        let p = &mut c.timeline[i];
        if t.at < p.entered {
            (p.entered, p.entered_wall, p.entry_seen) = (t.at, t.wall, true);
        }
    } else if let Some(i) = (1..n).rev().find(|&i| c.timeline[i - 1].state == t.from) {
        // A state the poller never saw, between two it did.
        let missed = Phase {
            state: t.to,
            entered: t.at,
            entered_wall: t.wall,
            entry_seen: true,
        };
        c.timeline.insert(i, missed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::Family;
    use crate::source::Snapshot;
    use TcpState::*;
    use std::time::Duration;

    fn key() -> SocketKey {
        SocketKey::new(
            Family::Inet,
            "127.0.0.1:40000".parse().expect("a"),
            "127.0.0.1:8080".parse().expect("b"),
        )
    }

    fn t(base: Instant, us: u64, from: TcpState, to: TcpState) -> Transition {
        Transition {
            key: key(),
            from,
            to,
            at: base + Duration::from_micros(us),
            wall: SystemTime::UNIX_EPOCH,
        }
    }

    fn states(tr: &Tracker) -> Vec<TcpState> {
        tr.get(&key())
            .expect("tracked")
            .timeline
            .iter()
            .map(|p| p.state)
            .collect()
    }

    fn snap(base: Instant, ms: u64, rows: Vec<SocketRow>) -> Snapshot {
        Snapshot {
            rows,
            taken_at: base + Duration::from_millis(ms),
            wall: SystemTime::UNIX_EPOCH,
            warning: None,
        }
    }

    #[test]
    fn an_active_close_reads_fin_wait_1_fin_wait_2_time_wait_gone() {
        let base = Instant::now();
        let mut tr = Tracker::new();
        tr.apply(snap(base, 0, vec![SocketRow::new(key(), Established)]));
        let ev = tr.apply_transitions(&[
            t(base, 1_000, Established, FinWait1),
            t(base, 1_050, FinWait1, FinWait2),
            t(base, 1_060, FinWait2, Closed), // the timewait swap
        ]);
        assert_eq!(ev.len(), 2);
        // The poller then finds the TIME_WAIT socket under the same key.
        tr.apply(snap(base, 100, vec![SocketRow::new(key(), TimeWait)]));
        assert_eq!(states(&tr), [Established, FinWait1, FinWait2, TimeWait]);
        let tl = &tr.get(&key()).expect("tracked").timeline;
        assert_eq!(
            tl[2].entered - tl[1].entered,
            Duration::from_micros(50),
            "microsecond durations"
        );
        tr.apply(snap(base, 200, vec![]));
        assert!(tr.get(&key()).expect("lingering").is_gone());
    }

    #[test]
    fn a_handshake_seen_only_by_the_tracepoint() {
        let base = Instant::now();
        let mut tr = Tracker::new();
        tr.apply(snap(base, 0, vec![]));
        let ev = tr.apply_transitions(&[
            t(base, 10, Listen, SynRecv),
            t(base, 20, SynRecv, Established),
        ]);
        assert_eq!(
            ev.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [
                EventKind::New,
                EventKind::State {
                    from: SynRecv,
                    to: Established
                }
            ]
        );
        assert_eq!(states(&tr), [Listen, SynRecv, Established]);
        // The poll that follows agrees: no duplicate event.
        assert!(
            tr.apply(snap(base, 100, vec![SocketRow::new(key(), Established)]))
                .is_empty()
        );
    }

    #[test]
    fn a_late_trace_corrects_a_poller_that_was_ahead() {
        let base = Instant::now();
        let mut tr = Tracker::new();
        tr.apply(snap(base, 0, vec![SocketRow::new(key(), Established)]));
        tr.apply(snap(base, 100, vec![SocketRow::new(key(), FinWait2)]));
        tr.apply_transitions(&[
            t(base, 50_000, Established, FinWait1),
            t(base, 50_040, FinWait1, FinWait2),
        ]);
        assert_eq!(states(&tr), [Established, FinWait1, FinWait2]);
        let tl = &tr.get(&key()).expect("tracked").timeline;
        assert_eq!(
            tl[2].entered,
            base + Duration::from_micros(50_040),
            "the kernel's time wins"
        );
    }

    #[test]
    fn a_same_state_report_is_not_a_change() {
        let base = Instant::now();
        let mut tr = Tracker::new();
        tr.apply(snap(base, 0, vec![SocketRow::new(key(), FinWait2)]));
        assert!(
            tr.apply_transitions(&[t(base, 5, FinWait2, FinWait2)])
                .is_empty()
        );
        assert_eq!(states(&tr), [FinWait2]);
    }

    #[test]
    fn a_reused_tuple_starts_a_new_connection() {
        let base = Instant::now();
        let mut tr = Tracker::new();
        tr.apply(snap(base, 0, vec![SocketRow::new(key(), TimeWait)]));
        let old = tr.get(&key()).expect("tracked").id;
        let ev = tr.apply_transitions(&[
            t(base, 5, Closed, SynSent),
            t(base, 9, SynSent, Established),
        ]);
        let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Gone,
                EventKind::New,
                EventKind::State {
                    from: SynSent,
                    to: Established
                }
            ]
        );
        assert_ne!(tr.get(&key()).expect("tracked").id, old);
        assert_eq!(states(&tr), [SynSent, Established]);
    }

    #[test]
    fn last_ack_to_closed_is_gone_at_the_kernels_time() {
        let base = Instant::now();
        let mut tr = Tracker::new();
        tr.apply(snap(base, 0, vec![SocketRow::new(key(), CloseWait)]));
        tr.apply_transitions(&[t(base, 5, CloseWait, LastAck), t(base, 9, LastAck, Closed)]);
        let c = tr.get(&key()).expect("lingering");
        assert_eq!(c.gone_at, Some(base + Duration::from_micros(9)));
        assert_eq!(c.state(), LastAck);
    }
}
