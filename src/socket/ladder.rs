//! The ladder diagram teachers draw: the client on the left, the server on
//! the right, one rung per segment in time order, and each end's new state
//! written beside the segment that moved it.
//!
//! Which segment moved a state follows from TCP itself: an end enters
//! SYN_SENT, FIN_WAIT_1 and LAST_ACK as it sends a SYN or a FIN (the state
//! changes first, the segment follows), a RST it sends closes it, and every
//! other change is the answer to a segment it just received. A change no
//! segment explains within [`NEAR`] (a timer: TIME_WAIT ending) gets a rung
//! of its own.

use super::conn::{Conn, Entry, Phase};
use super::crossings::{Crossing, Fate};
use super::segment::{Flags, Segment};
use super::state::TcpState;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How far apart a state change and the segment that caused it can be.
pub const NEAR: Duration = Duration::from_millis(100);
/// How much later than its stamp a reading may have seen a state.
pub const SEEN_SLACK: Duration = Duration::from_millis(50);
/// How far a segment's time (the packet's receive stamp, wall clock) may
/// read before the state change that sent it (the tracepoint's, monotonic
/// clock): the two clocks are read by different paths.
pub const SKEW: Duration = Duration::from_millis(1);
/// The same for a state first seen in a reading (no tracepoint): the
/// reading came up to an interval after the change.
pub const SEEN: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: left to right.
    Right,
    Left,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RungKind {
    Segment {
        direction: Direction,
        segment: Segment,
        fate: Fate,
        /// Time from sending to arrival, when the link held it.
        flight: Option<Duration>,
    },
    /// A state change no segment explains.
    Change,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rung {
    pub at: Instant,
    pub kind: RungKind,
    /// States the client entered here, in order.
    pub left: Vec<TcpState>,
    pub right: Vec<TcpState>,
}

/// One end of the connection and the states it went through.
#[derive(Clone, Debug)]
pub struct End {
    pub addr: SocketAddr,
    pub phases: Vec<Phase>,
}

impl End {
    /// `conn`'s end; an ended connection's last step is to CLOSED.
    pub fn of(conn: &Conn) -> Self {
        let mut phases = conn.timeline.clone();
        if let (Some(at), Some(last)) = (conn.gone_at, phases.last().cloned()) {
            // The tracepoint reports a close from LAST_ACK as it happens;
            // other endings are seen in a reading.
            let exact = last.entry == Entry::Exact && last.state == TcpState::LastAck;
            phases.push(Phase {
                state: TcpState::Closed,
                entered: at,
                entered_wall: last.entered_wall + at.saturating_duration_since(last.entered),
                entry: if exact { Entry::Exact } else { Entry::Seen },
                cause: conn.end_cause.clone(),
            });
        }
        End {
            addr: conn.row.key.local,
            phases,
        }
    }

    /// The far end of `conn`, when it is not on this machine.
    pub fn far(conn: &Conn) -> End {
        End {
            addr: conn.row.key.remote,
            phases: Vec::new(),
        }
    }
}

/// The ladder of the connection between `a` and `b`; whichever sent the
/// first SYN (else entered SYN_SENT) is the client, on the left.
pub fn build(crossings: &[Crossing], a: End, b: End) -> (SocketAddr, Vec<Rung>) {
    let (client, server) = if is_client(crossings, &b) && !is_client(crossings, &a) {
        (b, a)
    } else {
        (a, b)
    };
    let mut rungs: Vec<Rung> = crossings.iter().map(|c| rung(c, client.addr)).collect();
    let mut extra = Vec::new();
    attach(crossings, &client, &mut rungs, &mut extra, Side::Left);
    attach(crossings, &server, &mut rungs, &mut extra, Side::Right);
    rungs.append(&mut extra);
    // Stable: a change after a segment at the same instant stays after it.
    rungs.sort_by_key(|r| r.at);
    (client.addr, rungs)
}

fn is_client(crossings: &[Crossing], end: &End) -> bool {
    let syn = |c: &&Crossing| c.raw.flags.0 & (Flags::SYN | Flags::ACK) == Flags::SYN;
    match crossings.iter().find(syn) {
        Some(c) => c.from() == end.addr,
        None => end.phases.iter().any(|p| p.state == TcpState::SynSent),
    }
}

fn rung(c: &Crossing, client: SocketAddr) -> Rung {
    let direction = if c.from() == client {
        Direction::Right
    } else {
        Direction::Left
    };
    let flight = c
        .received
        .map(|r| r.saturating_duration_since(c.segment.at))
        .filter(|d| *d >= Duration::from_millis(10));
    Rung {
        at: c.segment.at,
        kind: RungKind::Segment {
            direction,
            segment: c.segment.clone(),
            fate: c.fate,
            flight,
        },
        left: Vec::new(),
        right: Vec::new(),
    }
}

#[derive(Clone, Copy)]
enum Side {
    Left,
    Right,
}

/// Writes each of `end`'s states beside the segment that moved it; the
/// rest go to `extra` as rungs of their own.
fn attach(
    crossings: &[Crossing],
    end: &End,
    rungs: &mut [Rung],
    extra: &mut Vec<Rung>,
    side: Side,
) {
    // An end's states follow its segments in order: never look back past
    // the segment the previous state was written beside.
    let mut floor = 0;
    let mut before = None;
    for phase in end.phases.iter() {
        let after_time_wait = before == Some(TcpState::TimeWait);
        // A request socket seen in SYN_RECV, then its child reported in
        // SYN_RECV again by the tracepoint: one state, written once.
        let repeated = before == Some(phase.state);
        before = Some(phase.state);
        if phase.entry == Entry::Before || repeated {
            continue;
        }
        // TIME_WAIT ends by its timer, never by a segment.
        let found = cause(crossings, end.addr, phase, floor).filter(|_| !after_time_wait);
        let states = match found {
            Some(i) => {
                floor = i;
                side_of(&mut rungs[i], side)
            }
            None => {
                extra.push(Rung {
                    at: phase.entered,
                    kind: RungKind::Change,
                    left: Vec::new(),
                    right: Vec::new(),
                });
                let last = extra.len() - 1;
                side_of(&mut extra[last], side)
            }
        };
        states.push(phase.state);
    }
}

fn side_of(rung: &mut Rung, side: Side) -> &mut Vec<TcpState> {
    match side {
        Side::Left => &mut rung.left,
        Side::Right => &mut rung.right,
    }
}

/// The segment that moved `addr` into `phase`'s state, at or after `floor`.
fn cause(crossings: &[Crossing], addr: SocketAddr, phase: &Phase, floor: usize) -> Option<usize> {
    // A state first seen in a reading began some time before it; a
    // reading of several namespaces is stamped when its first part began.
    let (t, window) = if phase.entry == Entry::Exact {
        (phase.entered, NEAR)
    } else {
        (phase.entered + SEEN_SLACK, SEEN)
    };
    let sent = |flag: u8| {
        (floor..crossings.len()).find(|&i| {
            let c = &crossings[i];
            c.from() == addr
                && c.raw.flags.has(flag)
                && c.segment.at + SKEW >= t
                && c.segment.at.saturating_duration_since(t) <= NEAR
        })
    };
    match phase.state {
        TcpState::SynSent => sent(Flags::SYN),
        TcpState::FinWait1 | TcpState::LastAck => sent(Flags::FIN),
        TcpState::Closed => reset_sent(crossings, addr, t, floor)
            .or_else(|| received(crossings, addr, t, floor, window)),
        // No tracepoint marks this moment: its time is an estimate (the
        // peer's LAST_ACK), a little early. The FIN it answers is the cause.
        TcpState::TimeWait => fin_received(crossings, addr, t, floor)
            .or_else(|| received(crossings, addr, t, floor, window)),
        _ => received(crossings, addr, t, floor, window),
    }
}

/// A RST `addr` sent just before it closed.
fn reset_sent(crossings: &[Crossing], addr: SocketAddr, t: Instant, floor: usize) -> Option<usize> {
    (floor..crossings.len()).rev().find(|&i| {
        let c = &crossings[i];
        c.from() == addr && c.raw.flags.has(Flags::RST) && near(c.segment.at, t)
    })
}

/// The last segment `addr` received at or before `t`, within `window`.
fn received(
    crossings: &[Crossing],
    addr: SocketAddr,
    t: Instant,
    floor: usize,
    window: Duration,
) -> Option<usize> {
    (floor..crossings.len()).rev().find(|&i| {
        let c = &crossings[i];
        c.to() == addr && c.received.is_some_and(|r| r <= t && t - r <= window)
    })
}

/// The first FIN `addr` received from a little before `t` on: the time
/// is the peer's LAST_ACK, which comes before its FIN is even sent (and,
/// on a slow link, long before it arrives).
fn fin_received(
    crossings: &[Crossing],
    addr: SocketAddr,
    t: Instant,
    floor: usize,
) -> Option<usize> {
    let from = t.checked_sub(NEAR).unwrap_or(t);
    (floor..crossings.len()).find(|&i| {
        let c = &crossings[i];
        c.to() == addr
            && c.raw.flags.has(Flags::FIN)
            && c.received.is_some_and(|r| r >= from && r - from <= SEEN)
    })
}

fn near(a: Instant, b: Instant) -> bool {
    a.max(b) - a.min(b) <= NEAR
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::crossings::SegmentLog;
    use crate::socket::segment::Header;
    use std::time::SystemTime;

    const C: &str = "127.0.0.1:40000";
    const S: &str = "127.0.0.1:80";

    fn header(from: &str, to: &str, flags: u8, seq: u32, ack: u32) -> Header {
        Header {
            from: from.parse().expect("addr"),
            to: to.parse().expect("addr"),
            flags: Flags(flags),
            seq,
            ack,
            len: 0,
            win: 100,
        }
    }

    fn phase(state: TcpState, entered: Instant) -> Phase {
        Phase {
            state,
            entered,
            entered_wall: SystemTime::now(),
            entry: Entry::Exact,
            cause: crate::socket::Cause::Unknown,
        }
    }

    /// A handshake and a close, microseconds apart, with the states as the
    /// tracepoint reports them (the server's socket appears at the ACK).
    #[test]
    fn each_state_beside_the_segment_that_moved_it() {
        use TcpState::*;
        let t0 = Instant::now();
        let us = |n: u64| t0 + Duration::from_micros(n);
        let (syn, ack, fin) = (Flags::SYN, Flags::ACK, Flags::FIN);
        let mut log = SegmentLog::default();
        let w = SystemTime::now();
        log.seen(header(C, S, syn, 100, 0), us(10), w);
        log.seen(header(S, C, syn | ack, 900, 101), us(20), w);
        log.seen(header(C, S, ack, 101, 901), us(30), w);
        log.seen(header(C, S, fin | ack, 101, 901), us(100), w);
        log.seen(header(S, C, ack, 901, 102), us(110), w);
        log.seen(header(S, C, fin | ack, 901, 102), us(200), w);
        log.seen(header(C, S, ack, 102, 902), us(210), w);
        let client = [
            phase(SynSent, us(5)),
            phase(Established, us(25)),
            phase(FinWait1, us(95)),
            phase(FinWait2, us(115)),
            phase(TimeWait, us(195)),
            phase(Closed, us(60_000_000)),
        ];
        let server = [
            phase(SynRecv, us(35)),
            phase(Established, us(36)),
            phase(CloseWait, us(105)),
            phase(LastAck, us(195)),
            phase(Closed, us(215)),
        ];
        let crossings: Vec<Crossing> = log
            .between(&crate::socket::SocketKey::new(
                crate::socket::Family::Inet,
                C.parse().expect("addr"),
                S.parse().expect("addr"),
            ))
            .expect("logged")
            .iter()
            .cloned()
            .collect();
        let s_end = End {
            addr: S.parse().expect("addr"),
            phases: server.to_vec(),
        };
        let c_end = End {
            addr: C.parse().expect("addr"),
            phases: client.to_vec(),
        };
        // Given server first: the SYN still puts the client on the left.
        let (left, rungs) = build(&crossings, s_end, c_end);
        assert_eq!(left, C.parse::<SocketAddr>().expect("addr"));
        let table: Vec<(String, Vec<TcpState>, Vec<TcpState>)> = rungs
            .iter()
            .map(|r| {
                let what = match &r.kind {
                    RungKind::Segment {
                        segment, direction, ..
                    } => format!("{direction:?} {}", segment.flags.names().join("+")),
                    RungKind::Change => "change".into(),
                };
                (what, r.left.clone(), r.right.clone())
            })
            .collect();
        let row = |w: &str, l: &[TcpState], r: &[TcpState]| (w.to_string(), l.to_vec(), r.to_vec());
        assert_eq!(
            table,
            [
                row("Right SYN", &[SynSent], &[]),
                row("Left SYN+ACK", &[Established], &[]),
                row("Right ACK", &[], &[SynRecv, Established]),
                row("Right FIN+ACK", &[FinWait1], &[CloseWait]),
                row("Left ACK", &[FinWait2], &[]),
                row("Left FIN+ACK", &[TimeWait], &[LastAck]),
                row("Right ACK", &[], &[Closed]),
                row("change", &[Closed], &[]),
            ]
        );
    }
}
