//! One socket as every part of tcpscope sees it.

use super::addr;
use super::state::TcpState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
}

/// Identity of a connection: family plus both ends. The inode is not part
/// of it because a socket that enters TIME_WAIT is handed to a separate
/// kernel object with inode 0, yet it is the same connection.
///
/// `instance` separates sockets that share a tuple in one snapshot
/// (SO_REUSEPORT listeners); it is 0 for the first and the inode after.
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
}

/// Which kernel timer is running on a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    Retransmit,
    KeepAlive,
    TimeWait,
    /// Zero-window probe.
    Persist,
}

impl TimerKind {
    /// The name `ss -o` uses.
    pub fn name(self) -> &'static str {
        match self {
            TimerKind::Retransmit => "on",
            TimerKind::KeepAlive => "keepalive",
            TimerKind::TimeWait => "timewait",
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
        let left = crate::output::human::age(self.remaining(now));
        if self.kind == TimerKind::Retransmit && self.retransmits > 0 {
            format!("on {left} ({})", self.retransmits)
        } else {
            format!("{} {left}", self.kind.name())
        }
    }
}

/// One row of the socket table. `None` means the source cannot tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketRow {
    pub key: SocketKey,
    pub state: TcpState,
    pub recv_q: Option<u32>,
    pub send_q: Option<u32>,
    pub timer: Option<SocketTimer>,
    pub uid: Option<u32>,
    /// The owner's user name, when the uid resolves.
    pub user: Option<Arc<str>>,
    pub inode: Option<u64>,
    pub pids: Vec<u32>,
    /// Shared because thousands of rows name the same few processes.
    pub process: Option<Arc<str>>,
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
            pids: Vec::new(),
            process: None,
        }
    }

    /// `1234/nginx`, `1234`, or empty: the netstat `PID/Program` column.
    pub fn pid_label(&self) -> String {
        let Some(pid) = self.pids.first() else {
            return String::new();
        };
        let more = if self.pids.len() > 1 { "+" } else { "" };
        match &self.process {
            Some(name) => format!("{pid}{more}/{name}"),
            None => format!("{pid}{more}"),
        }
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
