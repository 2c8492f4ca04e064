//! One socket as every part of tcpscope sees it.

use super::addr;
use super::state::TcpState;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Inet,
    Inet6,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }

    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }
}

/// Where a connection is: family plus both ends. Not an identity on its
/// own (a 4-tuple is reused by later connections, and a socket that enters
/// TIME_WAIT is handed to a separate kernel object); the pipeline gives
/// connections their identity.
///
/// `instance` separates sockets that share a tuple in one reading
/// (SO_REUSEPORT listeners): 0 for a socket alone on its tuple, else the
/// socket's inode (or cookie), so each keeps its key in any order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketKey {
    pub family: Family,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub instance: u64,
}

impl SocketKey {
    pub fn new(family: Family, local: SocketAddr, remote: SocketAddr) -> Self {
        SocketKey {
            family,
            local: addr::normalize(local),
            remote: addr::normalize(remote),
            instance: 0,
        }
    }

    /// `local -> remote`, the form used in logs and `watch` output.
    pub fn label(&self) -> String {
        format!(
            "{} -> {}",
            addr::display(&self.local),
            addr::display(&self.remote)
        )
    }

    /// The same connection seen from its other end.
    pub fn reversed(&self) -> SocketKey {
        SocketKey {
            local: self.remote,
            remote: self.local,
            instance: 0,
            ..*self
        }
    }
}

/// Which kernel timer is running on a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    Retransmit,
    KeepAlive,
    /// The timewait socket's timer: 2·MSL in TIME_WAIT.
    TimeWait,
    /// The same timer on an orphaned FIN_WAIT_2 (a timewait socket still
    /// waiting for the peer's FIN): `tcp_fin_timeout`.
    FinTimeout,
    /// Zero-window probe.
    Persist,
}

impl TimerKind {
    /// The name `ss -o` uses (`ss` calls the orphan FIN_WAIT_2 timer
    /// `timewait` too; it is the fin timeout, so it is named that here).
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Retransmit => "on",
            TimerKind::KeepAlive => "keepalive",
            TimerKind::TimeWait => "timewait",
            TimerKind::FinTimeout => "fin_timeout",
            TimerKind::Persist => "persist",
        }
    }
}

/// A kernel timer on a socket (filled by sources that can read it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketTimer {
    pub kind: TimerKind,
    /// Time left when the reading was taken.
    pub remaining_ms: u32,
    /// When it fires: the reading's time plus `remaining_ms`, so a
    /// countdown can move on between readings from the kernel's own expiry.
    pub expires_at: Instant,
    /// Retransmissions so far (retransmit timer only).
    pub retransmits: u8,
}

impl SocketTimer {
    /// Time left as of `now`.
    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// `timewait 42s`, `on 200ms (2)`: the kind, the time left as of `now`,
    /// and retransmissions so far for a retransmit timer.
    pub fn label(&self, now: Instant) -> String {
        let left = super::human::age(self.remaining(now));
        if self.kind == TimerKind::Retransmit && self.retransmits > 0 {
            format!("on {left} ({})", self.retransmits)
        } else {
            format!("{} {left}", self.kind.name())
        }
    }
}

/// One process holding a socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Process {
    pub pid: u32,
    pub name: Option<Arc<str>>,
}

/// Every process holding a socket: a forked child shares its parent's
/// descriptors, so one socket can have several. Shared, because thousands
/// of rows name the same few processes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Owner {
    pub procs: Vec<Process>,
}

impl Owner {
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.procs.iter().map(|p| p.pid)
    }

    /// The first process's name (the `process` field of `--json`).
    pub fn name(&self) -> Option<&str> {
        self.procs.iter().find_map(|p| p.name.as_deref())
    }

    /// `1234/nginx`, `1234+/nginx` when more processes hold it (details
    /// lists them all), or empty.
    pub fn label(&self) -> String {
        let Some(first) = self.procs.first() else {
            return String::new();
        };
        let more = if self.procs.len() > 1 { "+" } else { "" };
        match &first.name {
            Some(name) => format!("{}{more}/{}", first.pid, printable(name)),
            None => format!("{}{more}", first.pid),
        }
    }

    /// Every process: `1234 python3, 1240 python3`.
    pub fn all(&self) -> String {
        let each = self.procs.iter().map(|p| match &p.name {
            Some(n) => format!("{} {}", p.pid, printable(n)),
            None => p.pid.to_string(),
        });
        each.collect::<Vec<_>>().join(", ")
    }
}

/// A name as text that is safe to print on a terminal: a program may call
/// itself anything, escape sequences included.
pub fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A connection's running totals from its tcp_info: what a summary of
/// its life reports once it has ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Data bytes sent, each counted once however often it was resent.
    pub bytes_sent: u64,
    /// Data bytes received in order.
    pub bytes_received: u64,
    pub total_retrans: u32,
}

/// One row of the socket table. `None` means the source cannot tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketRow {
    pub key: SocketKey,
    pub state: TcpState,
    pub recv_q: Option<u32>,
    pub send_q: Option<u32>,
    pub timer: Option<SocketTimer>,
    /// None where the kernel reports no owner (TIME_WAIT, request sockets).
    pub uid: Option<u32>,
    /// The owner's user name, when the uid resolves.
    pub user: Option<Arc<str>>,
    pub inode: Option<u64>,
    /// The kernel's socket cookie (sock_diag): a socket's identity for its
    /// whole life, kept by its TIME_WAIT successor.
    pub cookie: Option<u64>,
    pub owner: Option<Arc<Owner>>,
    /// The lab's network namespace the socket lives in (`lab --wire`);
    /// `None`: this process's own.
    pub netns: Option<&'static str>,
    /// Only when the reading asked for them ([`crate::source::Scope`]'s
    /// `totals`), and never for TIME_WAIT or request sockets.
    pub totals: Option<Totals>,
}

impl SocketRow {
    /// A row with only what every source knows.
    pub fn new(key: SocketKey, state: TcpState) -> Self {
        SocketRow {
            key,
            state,
            recv_q: None,
            send_q: None,
            timer: None,
            uid: None,
            user: None,
            inode: None,
            cookie: None,
            owner: None,
            netns: None,
            totals: None,
        }
    }

    /// `1234/nginx`, `1234`, or empty: the netstat `PID/Program` column.
    pub fn pid_label(&self) -> String {
        self.owner.as_ref().map(|o| o.label()).unwrap_or_default()
    }
}

/// What `tcp_info` says about one connection; fetched only on request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpDetails {
    /// Retransmissions of the current segment (tcpi_retransmits).
    pub retransmits: u8,
    pub rto_us: u32,
    pub snd_mss: u32,
    pub unacked: u32,
    pub lost: u32,
    pub pmtu: Option<u32>,
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub snd_ssthresh: u32,
    pub snd_cwnd: u32,
    pub total_retrans: Option<u32>,
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
    pub min_rtt_us: Option<u32>,
    /// Bytes per second.
    pub delivery_rate: Option<u64>,
    /// Congestion control algorithm, e.g. "cubic".
    pub congestion: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_name_every_process_and_escape_names() {
        let owner = Owner {
            procs: vec![
                Process {
                    pid: 9445,
                    name: Some(Arc::from("python3")),
                },
                Process {
                    pid: 9501,
                    name: Some(Arc::from("\x1b[2J")),
                },
            ],
        };
        assert_eq!(owner.label(), "9445+/python3");
        assert_eq!(owner.all(), "9445 python3, 9501 ?[2J");
        assert_eq!(owner.pids().collect::<Vec<_>>(), [9445, 9501]);
    }
}
