//! A source that reads the table with another source and adds the
//! tracepoint's exact transitions, placed on the monotonic clock.

use super::parse::TracedChange;
use super::session::TraceSession;
use crate::socket::{SocketKey, TcpDetails, TcpState};
use crate::source::{Degradation, Scope, Snapshot, SocketSource, SourceError};
use crate::track::Transition;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

pub struct TracedSource {
    inner: Box<dyn SocketSource>,
    session: TraceSession,
    clock: ClockMap,
    /// connect() before the port is chosen reports sport 0; its SYN_SENT
    /// time waits here for the first event with the real port.
    connecting: HashMap<(SocketAddr, std::net::IpAddr), Duration>,
}

impl TracedSource {
    pub fn new(inner: Box<dyn SocketSource>, session: TraceSession) -> Self {
        TracedSource {
            inner,
            session,
            clock: ClockMap::now(),
            connecting: HashMap::new(),
        }
    }

    /// The change as transitions on our clocks. A connect()'s first event
    /// carries port 0; it is kept and replayed, with its own time, before
    /// the first event that names the port, so SYN_SENT starts when the SYN
    /// left.
    fn place(&mut self, c: TracedChange, scope: &Scope) -> Vec<Transition> {
        if c.from == TcpState::Closed && c.to == TcpState::SynSent && c.key.local.port() == 0 {
            self.connecting
                .insert((c.key.remote, c.key.local.ip()), c.mono);
            return Vec::new();
        }
        let port_ok = scope
            .port
            .is_none_or(|p| c.key.local.port() == p || c.key.remote.port() == p);
        let syn = self.connecting.remove(&(c.key.remote, c.key.local.ip()));
        if !port_ok {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(2);
        if let (TcpState::SynSent, Some(sent)) = (c.from, syn) {
            let (at, wall) = self.clock.place(sent);
            out.push(Transition {
                key: c.key,
                from: TcpState::Closed,
                to: TcpState::SynSent,
                at,
                wall,
            });
        }
        let (at, wall) = self.clock.place(c.mono);
        out.push(Transition {
            key: c.key,
            from: c.from,
            to: c.to,
            at,
            wall,
        });
        out
    }
}

impl SocketSource for TracedSource {
    fn name(&self) -> &'static str {
        "sockdiag+trace"
    }

    fn snapshot(&mut self, scope: &Scope) -> Result<Snapshot, SourceError> {
        self.inner.snapshot(scope)
    }

    fn transitions(&mut self, scope: &Scope) -> Vec<Transition> {
        let changes = self.session.drain();
        changes
            .into_iter()
            .flat_map(|c| self.place(c, scope))
            .collect()
    }

    fn degradations(&self) -> Vec<Degradation> {
        let mut out = self.inner.degradations();
        if self.session.mounted {
            out.push(Degradation {
                what: "tracefs",
                why: "was not mounted; tcpscope mounted it at /sys/kernel/tracing".into(),
            });
        }
        let lost = self.session.lost();
        if lost > 0 {
            out.insert(
                0,
                Degradation {
                    what: "transitions",
                    why: format!(
                        "the kernel's trace buffer overflowed: {lost} state changes were lost"
                    ),
                },
            );
        }
        out
    }

    fn details(&mut self, key: &SocketKey) -> Result<Option<TcpDetails>, SourceError> {
        self.inner.details(key)
    }

    fn has_details(&self) -> bool {
        self.inner.has_details()
    }
}

/// Maps CLOCK_MONOTONIC times (the trace clock) onto `Instant` and
/// `SystemTime`, from one reading of all three taken together.
struct ClockMap {
    mono: Duration,
    instant: Instant,
    wall: SystemTime,
}

impl ClockMap {
    fn now() -> Self {
        ClockMap {
            mono: monotonic(),
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn place(&self, mono: Duration) -> (Instant, SystemTime) {
        if mono >= self.mono {
            let d = mono - self.mono;
            (self.instant + d, self.wall + d)
        } else {
            let d = self.mono - mono;
            (
                self.instant.checked_sub(d).unwrap_or(self.instant),
                self.wall - d,
            )
        }
    }
}

fn monotonic() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}
