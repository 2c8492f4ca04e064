//! Why a connection changed state: a system call of a process, a segment
//! that arrived, a timer that fired, or no sign of which. Sources say
//! what the kernel told them; where it told nothing, the state machine
//! alone can still name the cause of an edge only one thing makes
//! (ESTABLISHED → CLOSE_WAIT is a FIN arriving, whoever watches).

use super::row::Owner;
use super::segment::Flags;
use super::state::TcpState;
use std::sync::Arc;

/// The system call (or its stand-in) that made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    Connect,
    Listen,
    Close,
    Shutdown,
    /// The process exited holding the socket.
    Exit,
    /// close() with SO_LINGER 0: a RST instead of a FIN.
    CloseLinger0,
    /// close() with data still unread: a RST instead of a FIN.
    CloseUnread,
    /// Another process destroyed it (`ss -K`, tcpscope's `K`).
    Destroy,
    /// A RST from close() with SO_LINGER 0 or from a destroy, when who
    /// holds the socket is not known to tell them apart.
    Abort,
}

impl Call {
    /// The `call` word of the event stream.
    pub fn name(self) -> &'static str {
        match self {
            Call::Connect => "connect",
            Call::Listen => "listen",
            Call::Close => "close",
            Call::Shutdown => "shutdown",
            Call::Exit => "exit",
            Call::CloseLinger0 => "close_linger0",
            Call::CloseUnread => "close_unread",
            Call::Destroy => "destroy",
            Call::Abort => "abort",
        }
    }

    pub fn from_name(name: &str) -> Option<Call> {
        ALL_CALLS.into_iter().find(|c| c.name() == name)
    }

    /// As a sentence says it: "close() with SO_LINGER 0".
    pub fn words(self) -> &'static str {
        match self {
            Call::Connect => "connect()",
            Call::Listen => "listen()",
            Call::Close => "close()",
            Call::Shutdown => "shutdown()",
            Call::Exit => "exit (the process ended holding it)",
            Call::CloseLinger0 => "close() with SO_LINGER 0",
            Call::CloseUnread => "close() with unread data",
            Call::Destroy => "a destroy (ss -K)",
            Call::Abort => "close() with SO_LINGER 0 or a destroy",
        }
    }
}

pub const ALL_CALLS: [Call; 9] = [
    Call::Connect,
    Call::Listen,
    Call::Close,
    Call::Shutdown,
    Call::Exit,
    Call::CloseLinger0,
    Call::CloseUnread,
    Call::Destroy,
    Call::Abort,
];

/// The kernel timer that made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// TIME_WAIT's 60 s ended.
    TimeWait,
    /// An orphaned FIN_WAIT_2 waited `tcp_fin_timeout` for the peer's FIN.
    FinWait2,
    /// Retransmissions went unanswered until the kernel gave up.
    Retransmission,
    /// The SYN was retried `tcp_syn_retries` times unanswered.
    SynRetries,
    /// Keepalive probes went unanswered.
    Keepalive,
}

impl Timer {
    pub fn name(self) -> &'static str {
        match self {
            Timer::TimeWait => "time_wait",
            Timer::FinWait2 => "fin_wait_2",
            Timer::Retransmission => "retransmission",
            Timer::SynRetries => "syn_retries",
            Timer::Keepalive => "keepalive",
        }
    }

    pub fn from_name(name: &str) -> Option<Timer> {
        ALL_TIMERS.into_iter().find(|t| t.name() == name)
    }

    pub fn words(self) -> &'static str {
        match self {
            Timer::TimeWait => "TIME_WAIT's timer ended",
            Timer::FinWait2 => "FIN_WAIT_2 timed out",
            Timer::Retransmission => "retransmissions gave up",
            Timer::SynRetries => "SYN retries gave up",
            Timer::Keepalive => "keepalive gave up",
        }
    }
}

pub const ALL_TIMERS: [Timer; 5] = [
    Timer::TimeWait,
    Timer::FinWait2,
    Timer::Retransmission,
    Timer::SynRetries,
    Timer::Keepalive,
];

/// Why a change happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Cause {
    /// A system call; which one when the kernel said, and the process
    /// that made it when it ran in that process's context.
    Call {
        call: Option<Call>,
        by: Option<Arc<Owner>>,
    },
    /// A segment that arrived, with the flags that made the change.
    Segment(Flags),
    Timer(Timer),
    /// The kernel gave no sign.
    #[default]
    Unknown,
}

/// The kinds a filter can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CauseKind {
    Call,
    Segment,
    Timer,
    Unknown,
}

impl CauseKind {
    pub fn name(self) -> &'static str {
        match self {
            CauseKind::Call => "call",
            CauseKind::Segment => "segment",
            CauseKind::Timer => "timer",
            CauseKind::Unknown => "unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<CauseKind> {
        [
            CauseKind::Call,
            CauseKind::Segment,
            CauseKind::Timer,
            CauseKind::Unknown,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

impl Cause {
    pub fn call(call: Call, by: Option<Arc<Owner>>) -> Cause {
        Cause::Call {
            call: Some(call),
            by,
        }
    }

    pub fn segment(bits: u8) -> Cause {
        Cause::Segment(Flags(bits))
    }

    pub fn kind(&self) -> CauseKind {
        match self {
            Cause::Call { .. } => CauseKind::Call,
            Cause::Segment(_) => CauseKind::Segment,
            Cause::Timer(_) => CauseKind::Timer,
            Cause::Unknown => CauseKind::Unknown,
        }
    }

    pub fn is_known(&self) -> bool {
        *self != Cause::Unknown
    }

    /// The process that made a call, if the kernel said.
    pub fn by(&self) -> Option<&Owner> {
        match self {
            Cause::Call { by, .. } => by.as_deref(),
            _ => None,
        }
    }

    /// "close() by python3 (4242)", "FIN received", "TIME_WAIT's timer
    /// ended", "cause unknown".
    pub fn words(&self) -> String {
        match self {
            Cause::Call { call, by } => {
                let call = call.map_or("a system call", Call::words);
                match by.as_deref().and_then(|o| o.procs.first()) {
                    Some(p) => match &p.name {
                        Some(name) => format!("{call} by {name} ({})", p.pid),
                        None => format!("{call} by pid {}", p.pid),
                    },
                    None => call.to_string(),
                }
            }
            Cause::Segment(flags) => format!("{} received", flags.names().join("+")),
            Cause::Timer(t) => t.words().to_string(),
            Cause::Unknown => "cause unknown".to_string(),
        }
    }

    /// What only one thing makes: the cause of an edge of the state
    /// machine that a segment alone, or a call alone, moves along, as
    /// far as the two states tell. Unknown for every other pair (a jump
    /// over states a reading missed, or an edge with several causes).
    pub fn of_edge(from: TcpState, to: TcpState) -> Cause {
        use TcpState::*;
        const ACK: u8 = Flags::ACK;
        const FIN: u8 = Flags::FIN;
        match (from, to) {
            (Closed, SynSent) => Cause::call(Call::Connect, None),
            (Closed, Listen) => Cause::call(Call::Listen, None),
            (Listen, SynRecv) => Cause::segment(Flags::SYN),
            (SynSent, Established) => Cause::segment(Flags::SYN | ACK),
            (SynRecv, Established) => Cause::segment(ACK),
            (Established, CloseWait) => Cause::segment(FIN | ACK),
            (Established, FinWait1) | (CloseWait, LastAck) => Cause::Call {
                call: None,
                by: None,
            },
            (FinWait1, FinWait2) | (Closing, TimeWait) => Cause::segment(ACK),
            (FinWait1, Closing) | (FinWait2, TimeWait) => Cause::segment(FIN | ACK),
            (FinWait1, TimeWait) => Cause::segment(FIN | ACK),
            (TimeWait, Closed) => Cause::Timer(Timer::TimeWait),
            _ => Cause::Unknown,
        }
    }

    /// A change's cause with the holder of its socket known: a call to
    /// CLOSE by a process that does not hold the socket destroyed it; one
    /// by the holder that sent a RST was close() with SO_LINGER 0.
    pub fn seen_with_holder(self, to: TcpState, holder: Option<&Owner>) -> Cause {
        let Cause::Call {
            call: Some(call),
            by: Some(by),
        } = &self
        else {
            return self;
        };
        let (Some(holder), TcpState::Closed) = (holder, to) else {
            return self;
        };
        let held = by.pids().any(|pid| holder.pids().any(|h| h == pid));
        let call = match (held, call) {
            (false, _) => Call::Destroy,
            (true, Call::Abort) => Call::CloseLinger0,
            (true, other) => *other,
        };
        Cause::call(call, Some(by.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::Process;
    use TcpState::*;

    fn owner(pid: u32, name: &str) -> Arc<Owner> {
        Arc::new(Owner {
            procs: vec![Process {
                pid,
                name: Some(name.into()),
            }],
        })
    }

    #[test]
    fn words_say_the_call_and_who_made_it() {
        let c = Cause::call(Call::Close, Some(owner(4242, "python3")));
        assert_eq!(c.words(), "close() by python3 (4242)");
        assert_eq!(
            Cause::of_edge(Established, CloseWait).words(),
            "FIN+ACK received"
        );
        assert_eq!(
            Cause::of_edge(TimeWait, Closed).words(),
            "TIME_WAIT's timer ended"
        );
        assert_eq!(Cause::of_edge(Established, TimeWait), Cause::Unknown);
    }

    #[test]
    fn every_name_reads_back() {
        for c in ALL_CALLS {
            assert_eq!(Call::from_name(c.name()), Some(c));
        }
        for t in ALL_TIMERS {
            assert_eq!(Timer::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn a_close_by_another_process_is_a_destroy() {
        let abort = Cause::call(Call::Abort, Some(owner(7, "ss")));
        let held_by = owner(4242, "python3");
        let seen = abort.clone().seen_with_holder(Closed, Some(&held_by));
        assert_eq!(seen, Cause::call(Call::Destroy, Some(owner(7, "ss"))));
        let own = Cause::call(Call::Abort, Some(owner(4242, "python3")));
        let seen = own.seen_with_holder(Closed, Some(&held_by));
        assert_eq!(seen.words(), "close() with SO_LINGER 0 by python3 (4242)");
        // Holder unknown: said as it is.
        assert_eq!(abort.clone().seen_with_holder(Closed, None), abort);
    }
}
