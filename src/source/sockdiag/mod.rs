//! The Linux-native source: the kernel's sock_diag netlink interface (what
//! `ss` uses). Compared with netstat2 it also reports queues, timers with
//! their expiry, and tcp_info on request, and it filters by port inside the
//! kernel. The wire format and bytecode are plain byte code, compiled and
//! tested everywhere; only the socket itself is Linux.

pub mod bytecode;
pub mod tcp_info;
pub mod wire;

#[cfg(target_os = "linux")]
mod linux;

#[cfg(target_os = "linux")]
pub use linux::SockDiagSource;

use crate::socket::{Family, SocketKey, SocketRow, SocketTimer, TcpState, TimerKind};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wire::{AF_INET, DiagMsg};

/// Linux TCP state numbers (include/net/tcp_states.h).
pub fn state(code: u8) -> Option<TcpState> {
    let s = match code {
        1 => TcpState::Established,
        2 => TcpState::SynSent,
        3 | 12 => TcpState::SynRecv,
        4 => TcpState::FinWait1,
        5 => TcpState::FinWait2,
        6 => TcpState::TimeWait,
        7 => TcpState::Closed,
        8 => TcpState::CloseWait,
        9 => TcpState::LastAck,
        10 => TcpState::Listen,
        11 => TcpState::Closing,
        _ => return None,
    };
    Some(s)
}

/// `ss -o` names for `idiag_timer`.
fn timer(m: &DiagMsg<'_>, taken_at: Instant) -> Option<SocketTimer> {
    let kind = match m.timer {
        1 => TimerKind::Retransmit,
        2 => TimerKind::KeepAlive,
        3 => TimerKind::TimeWait,
        4 => TimerKind::Persist,
        _ => return None,
    };
    Some(SocketTimer {
        kind,
        remaining_ms: m.expires_ms,
        expires_at: taken_at + Duration::from_millis(u64::from(m.expires_ms)),
        retransmits: if m.timer == 1 { m.retrans } else { 0 },
    })
}

/// One kernel record as a row; `None` for a state this code does not know.
pub fn to_row(m: &DiagMsg<'_>, taken_at: Instant) -> Option<SocketRow> {
    let family = if m.family == AF_INET {
        Family::Inet
    } else {
        Family::Inet6
    };
    let key = SocketKey::new(
        family,
        SocketAddr::new(m.src, m.sport),
        SocketAddr::new(m.dst, m.dport),
    );
    let mut row = SocketRow::new(key, state(m.state)?);
    row.recv_q = Some(m.rqueue);
    row.send_q = Some(m.wqueue);
    row.timer = timer(m, taken_at);
    row.uid = Some(m.uid);
    row.inode = (m.inode != 0).then_some(u64::from(m.inode));
    Some(row)
}
