//! Why each traced change happened, from the records around it: the
//! context the change was written in (a system call's, or an interrupt's
//! on behalf of a segment or a timer), a RST received or sent with the
//! kernel's reason, retransmissions, a shutdown(2) in progress, a task
//! exiting. What the records cannot tell apart stays unknown.
//!
//! On loopback a segment's softirq runs inside the sender's system call,
//! so the running task is the peer: only a record written in process
//! context names the process that made the change, and even then a
//! segment edge (one only a segment makes, processed from the socket's
//! backlog when a call lets go of it) is the segment's.

use super::ring::{Hint, RawChange, RawHint};
use crate::socket::cause::{Call, Timer};
use crate::socket::{Cause, Flags, TcpState};
use rustc_hash::{FxHashMap, FxHashSet};

/// How far apart (ns) a RST record and the change it goes with may be:
/// both are written in one pass through the kernel's code.
const RESET_NEAR: u64 = 5_000_000;
/// Entries any one map keeps before it forgets the oldest (a lost exit
/// or close record must not grow it without end).
const MAX_KEPT: usize = 65_536;

/// A cause, and whether the change's task made it (then the task's
/// process is the one to name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deduced {
    pub cause: Cause,
    pub by_task: bool,
}

/// A socket's latest retransmission, and the time since the send before
/// it. The retransmission timer backs off, so it cannot fire again (and
/// give up) sooner than that gap: a close inside it is the segment's.
#[derive(Clone, Copy)]
struct Resent {
    last: u64,
    gap: Option<u64>,
}

impl Resent {
    fn too_soon_for_the_timer(&self, ns: u64) -> bool {
        self.gap
            .is_some_and(|gap| ns.saturating_sub(self.last) < gap)
    }
}

/// What the hint records have said so far.
#[derive(Default)]
pub struct Causes {
    /// RSTs by socket: received, sent (with the reason), when.
    received: FxHashMap<u64, u64>,
    sent: FxHashMap<u64, (u64, String)>,
    /// Retransmissions by socket (see [`Resent`]).
    retransmitted: FxHashMap<u64, Resent>,
    /// When each socket began to close (FIN_WAIT_1 or LAST_ACK): its FIN
    /// was sent then, as far as any timer is concerned.
    closing_since: FxHashMap<u64, u64>,
    /// Tasks inside shutdown(2).
    shutting: FxHashSet<u32>,
    /// Tasks that are exiting.
    exiting: FxHashSet<u32>,
    /// Sockets close() found in FIN_WAIT_2 (the kernel reports it moving
    /// to FIN_WAIT_2 again): their next close is that call's.
    closed_in_fin_wait_2: FxHashSet<u64>,
}

impl Causes {
    /// RST records as they are read, before their turn in time order: a
    /// RST a close sends is recorded just after the change.
    pub fn note_reset(&mut self, h: &RawHint) {
        bound(&mut self.received);
        bound(&mut self.sent);
        match &h.what {
            Hint::ResetReceived { sk } => drop(self.received.insert(*sk, h.ns)),
            Hint::ResetSent { sk, reason } => drop(self.sent.insert(*sk, (h.ns, reason.clone()))),
            _ => {}
        }
    }

    /// The other records, in time order with the changes.
    pub fn note(&mut self, h: &RawHint) {
        match &h.what {
            Hint::Retransmit { sk } => self.resent(*sk, h.ns),
            Hint::ShutdownEnter { tid } => grow(&mut self.shutting, *tid),
            Hint::ShutdownExit { tid } => drop(self.shutting.remove(tid)),
            Hint::Exit { tid, .. } => grow(&mut self.exiting, *tid),
            Hint::ResetReceived { .. } | Hint::ResetSent { .. } | Hint::NewThread { .. } => {}
        }
    }

    fn resent(&mut self, sk: u64, ns: u64) {
        let last = self.retransmitted.get(&sk).map(|r| r.last);
        let before = last.max(self.closing_since.get(&sk).copied());
        bound(&mut self.retransmitted);
        let gap = before.map(|b| ns.saturating_sub(b));
        self.retransmitted.insert(sk, Resent { last: ns, gap });
    }

    /// Why `c` happened (to be called in time order).
    pub fn of(&mut self, c: &RawChange, from: TcpState, to: TcpState) -> Deduced {
        if from == TcpState::FinWait2 && to == TcpState::FinWait2 && c.task.is_some() {
            grow(&mut self.closed_in_fin_wait_2, c.sk);
        }
        if matches!(to, TcpState::FinWait1 | TcpState::LastAck) {
            bound(&mut self.closing_since);
            self.closing_since.insert(c.sk, c.ns);
        }
        if to == TcpState::Closed {
            let d = self.closed(c, from);
            self.retransmitted.remove(&c.sk);
            self.closing_since.remove(&c.sk);
            self.closed_in_fin_wait_2.remove(&c.sk);
            return d;
        }
        let edge = Cause::of_edge(from, to);
        match (&edge, c.task) {
            (Cause::Call { call: None, .. }, Some(tid)) => self.call(self.ending_call(tid)),
            (Cause::Call { .. }, Some(_)) => Deduced {
                cause: edge,
                by_task: true,
            },
            _ => Deduced {
                cause: edge,
                by_task: false,
            },
        }
    }

    fn call(&self, call: Call) -> Deduced {
        Deduced {
            cause: Cause::call(call, None),
            by_task: true,
        }
    }

    /// close(), shutdown() or the exit of `tid`.
    fn ending_call(&self, tid: u32) -> Call {
        if self.exiting.contains(&tid) {
            Call::Exit
        } else if self.shutting.contains(&tid) {
            Call::Shutdown
        } else {
            Call::Close
        }
    }

    fn reset_near(&mut self, c: &RawChange) -> (bool, Option<(u64, String)>) {
        let near = |ns: u64| ns.abs_diff(c.ns) <= RESET_NEAR;
        let received = self.received.remove(&c.sk).is_some_and(near);
        let sent = self.sent.remove(&c.sk).filter(|(ns, _)| near(*ns));
        (received, sent)
    }

    /// A RST for the socket's state sent in a call: a destroy (`ss -K`)
    /// sends it before the socket closes, close() with SO_LINGER 0 after.
    fn aborted(&self, reset_at: u64, c: &RawChange) -> Deduced {
        if reset_at < c.ns {
            self.call(Call::Destroy)
        } else {
            self.call(Call::CloseLinger0)
        }
    }

    /// A change to CLOSE: the hardest to tell, as a RST, a call, a timer
    /// and the last segment of a close all end there.
    fn closed(&mut self, c: &RawChange, from: TcpState) -> Deduced {
        use TcpState::*;
        let (received, sent) = self.reset_near(c);
        let none = Deduced {
            cause: Cause::Unknown,
            by_task: false,
        };
        let segment = |bits: u8| Deduced {
            cause: Cause::segment(bits),
            by_task: false,
        };
        let timer = |t: Timer| Deduced {
            cause: Cause::Timer(t),
            by_task: false,
        };
        if received {
            return segment(Flags::RST);
        }
        let in_call = c.task.is_some();
        let (reset_at, reason) = match &sent {
            Some((at, reason)) => (*at, Some(reason.as_str())),
            None => (0, None),
        };
        match (reason, in_call) {
            (Some("TCP_KEEPALIVE_TIMEOUT"), _) => return timer(Timer::Keepalive),
            (Some("TCP_ABORT_ON_CLOSE"), true) => return self.call(Call::CloseUnread),
            (Some("TCP_ABORT_ON_LINGER"), false) => return timer(Timer::FinWait2),
            (Some("TCP_STATE" | "TCP_DISCONNECT_WITH_DATA"), true) => {
                return self.aborted(reset_at, c);
            }
            (Some("TCP_ABORT_ON_DATA"), false) => return segment(Flags::ACK),
            _ => {}
        }
        let resent = self.retransmitted.get(&c.sk);
        let retransmitted = resent.is_some();
        let acked_in_time = resent.is_some_and(|r| r.too_soon_for_the_timer(c.ns));
        let fin_wait_2_close = self.closed_in_fin_wait_2.contains(&c.sk);
        match (from, c.task) {
            // The last segment of a close, processed from the backlog or
            // in the interrupt: the socket's end hands it to TIME_WAIT.
            (FinWait2, Some(_)) if fin_wait_2_close => self.call(Call::Close),
            (FinWait2, _) => segment(Flags::FIN | Flags::ACK),
            (Closing, _) => segment(Flags::ACK),
            (FinWait1 | LastAck, _) if retransmitted && !acked_in_time => none,
            (FinWait1, _) => segment(Flags::FIN | Flags::ACK),
            (LastAck, _) => segment(Flags::ACK),
            (_, Some(tid)) => self.call(self.ending_call(tid)),
            (SynSent, None) if retransmitted => timer(Timer::SynRetries),
            (_, None) if retransmitted => timer(Timer::Retransmission),
            (_, None) => none,
        }
    }
}

fn grow<T: std::hash::Hash + Eq>(set: &mut FxHashSet<T>, item: T) {
    if set.len() >= MAX_KEPT {
        set.clear();
    }
    set.insert(item);
}

fn bound<K, V>(map: &mut FxHashMap<K, V>) {
    if map.len() >= MAX_KEPT {
        map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TcpState::*;
    use std::net::{IpAddr, Ipv4Addr};

    const SK: u64 = 0xffff_8880_0000_1000;

    fn change(ns: u64, task: Option<u32>) -> RawChange {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        RawChange {
            ns,
            sk: SK,
            old: 0,
            new: 0,
            src: lo,
            dst: lo,
            sport: 1,
            dport: 2,
            task,
        }
    }

    fn hint(ns: u64, what: Hint) -> RawHint {
        RawHint { ns, what }
    }

    fn call(call: Call) -> Deduced {
        Deduced {
            cause: Cause::call(call, None),
            by_task: true,
        }
    }

    #[test]
    fn a_segment_edge_is_the_segments_even_in_a_calls_context() {
        let mut causes = Causes::default();
        let d = causes.of(&change(1, Some(42)), Established, CloseWait);
        assert_eq!(d.cause, Cause::segment(Flags::FIN | Flags::ACK));
        assert!(!d.by_task, "the running task is not who sent the FIN");
    }

    #[test]
    fn close_shutdown_and_exit_are_told_apart() {
        let mut causes = Causes::default();
        assert_eq!(
            causes.of(&change(1, Some(7)), Established, FinWait1),
            call(Call::Close)
        );
        causes.note(&hint(2, Hint::ShutdownEnter { tid: 7 }));
        assert_eq!(
            causes.of(&change(3, Some(7)), Established, FinWait1),
            call(Call::Shutdown)
        );
        causes.note(&hint(4, Hint::ShutdownExit { tid: 7 }));
        let exit = Hint::Exit {
            tid: 8,
            comm: "python3".into(),
        };
        causes.note(&hint(5, exit));
        assert_eq!(
            causes.of(&change(6, Some(8)), CloseWait, LastAck),
            call(Call::Exit)
        );
        assert_eq!(
            causes.of(&change(7, Some(7)), CloseWait, LastAck),
            call(Call::Close)
        );
    }

    #[test]
    fn resets_say_who_ended_it() {
        let mut causes = Causes::default();
        // Received: the peer's RST, whatever context it was processed in.
        causes.note_reset(&hint(10, Hint::ResetReceived { sk: SK }));
        let d = causes.of(&change(11, Some(7)), Established, Closed);
        assert_eq!(d.cause, Cause::segment(Flags::RST));
        // Sent by close() with unread data: recorded just after the change.
        let unread = Hint::ResetSent {
            sk: SK,
            reason: "TCP_ABORT_ON_CLOSE".into(),
        };
        causes.note_reset(&hint(21, unread));
        assert_eq!(
            causes.of(&change(20, Some(7)), Established, Closed),
            call(Call::CloseUnread)
        );
        // A destroy sends its RST first; close() with SO_LINGER 0 after.
        let state = |sk| Hint::ResetSent {
            sk,
            reason: "TCP_STATE".into(),
        };
        causes.note_reset(&hint(24, state(SK)));
        assert_eq!(
            causes.of(&change(25, Some(9)), Established, Closed),
            call(Call::Destroy)
        );
        causes.note_reset(&hint(27, state(SK)));
        assert_eq!(
            causes.of(&change(26, Some(7)), Established, Closed),
            call(Call::CloseLinger0)
        );
        // Keepalive, from the timer.
        let keepalive = Hint::ResetSent {
            sk: SK,
            reason: "TCP_KEEPALIVE_TIMEOUT".into(),
        };
        causes.note_reset(&hint(30, keepalive));
        let d = causes.of(&change(31, None), Established, Closed);
        assert_eq!(d.cause, Cause::Timer(Timer::Keepalive));
        // A RST long before is another story.
        causes.note_reset(&hint(40, Hint::ResetReceived { sk: SK }));
        let d = causes.of(&change(40 + 2 * RESET_NEAR, None), Established, Closed);
        assert_eq!(d.cause, Cause::Unknown);
    }

    #[test]
    fn a_close_in_an_interrupt_is_a_segment_or_a_timer_or_unknown() {
        let mut causes = Causes::default();
        let d = causes.of(&change(1, None), FinWait2, Closed);
        assert_eq!(d.cause, Cause::segment(Flags::FIN | Flags::ACK));
        let d = causes.of(&change(2, None), LastAck, Closed);
        assert_eq!(d.cause, Cause::segment(Flags::ACK));
        causes.note(&hint(3, Hint::Retransmit { sk: SK }));
        let d = causes.of(&change(4, None), SynSent, Closed);
        assert_eq!(d.cause, Cause::Timer(Timer::SynRetries));
        let d = causes.of(&change(5, None), Established, Closed);
        assert_eq!(d.cause, Cause::Unknown, "no RST, no retransmission");
    }

    #[test]
    fn a_close_after_a_resent_fin_is_its_ack_only_before_the_timer_could_fire() {
        let mut causes = Causes::default();
        causes.of(&change(1_000, Some(7)), CloseWait, LastAck);
        causes.note(&hint(201_000, Hint::Retransmit { sk: SK }));
        let d = causes.of(&change(202_000, None), LastAck, Closed);
        assert_eq!(d.cause, Cause::segment(Flags::ACK), "1 µs after the resend");
        causes.of(&change(300_000, Some(7)), CloseWait, LastAck);
        causes.note(&hint(500_000, Hint::Retransmit { sk: SK }));
        let d = causes.of(&change(900_000, None), LastAck, Closed);
        assert_eq!(d.cause, Cause::Unknown, "the timer may have given up");
    }

    #[test]
    fn close_of_a_fin_wait_2_is_the_calls() {
        let mut causes = Causes::default();
        causes.of(&change(1, Some(7)), FinWait2, FinWait2);
        assert_eq!(
            causes.of(&change(2, Some(7)), FinWait2, Closed),
            call(Call::Close)
        );
        // Without that record, a FIN from the backlog.
        let d = causes.of(&change(3, Some(7)), FinWait2, Closed);
        assert_eq!(d.cause, Cause::segment(Flags::FIN | Flags::ACK));
    }
}
