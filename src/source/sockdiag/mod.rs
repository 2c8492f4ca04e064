//! The Linux-native source: the kernel's sock_diag netlink interface (what
//! `ss` uses). Compared with netstat2 it also reports queues, timers with
//! their expiry, socket cookies, and tcp_info on request, and it filters
//! by port inside the kernel. The netlink format and bytecode are plain byte
//! code, compiled and tested everywhere; only the socket itself is Linux.

pub mod bytecode;
pub mod destroy;
pub mod netlink;
pub mod tcp_info;

#[cfg(target_os = "linux")]
mod linux;

#[cfg(target_os = "linux")]
pub use linux::{NetlinkIo, Opener, SockDiagSource, kernel_socket};

use super::{Cadence, SocketSource, SourceError};
use crate::socket::{Family, SocketKey, SocketRow, SocketTimer, StateSet, TcpState, TimerKind};
use netlink::{AF_INET, DiagMsg};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Opens the sockdiag source where the OS has it.
#[cfg(target_os = "linux")]
pub fn open(cadence: Cadence) -> Result<Box<dyn SocketSource>, SourceError> {
    Ok(Box::new(SockDiagSource::new(cadence)?))
}

#[cfg(not(target_os = "linux"))]
pub fn open(_cadence: Cadence) -> Result<Box<dyn SocketSource>, SourceError> {
    Err(SourceError::Unavailable(
        "the sockdiag source is Linux-only; use --source netstat2".to_string(),
    ))
}

/// Linux TCP state numbers (include/net/tcp_states.h).
pub fn state(code: u8) -> Option<TcpState> {
    let s = match code {
        1 => TcpState::Established,
        2 => TcpState::SynSent,
        3 | NEW_SYN_RECV => TcpState::SynRecv,
        4 => TcpState::FinWait1,
        5 => TcpState::FinWait2,
        TIME_WAIT => TcpState::TimeWait,
        7 => TcpState::Closed,
        8 => TcpState::CloseWait,
        9 => TcpState::LastAck,
        10 => TcpState::Listen,
        11 => TcpState::Closing,
        _ => return None,
    };
    Some(s)
}

/// The kernel's state bits for a dump of `states` (all if `None`).
pub fn kernel_states(states: Option<StateSet>) -> u32 {
    let Some(set) = states else {
        return netlink::ALL_STATES;
    };
    (1..=NEW_SYN_RECV)
        .filter(|&code| state(code).is_some_and(|s| set.contains(s)))
        .fold(0, |mask, code| mask | 1 << code)
}

const TIME_WAIT: u8 = 6;
/// A request socket: a SYN answered, the handshake not finished.
const NEW_SYN_RECV: u8 = 12;
/// `idiag_timer` of a timewait socket.
const TIMER_TIMEWAIT: u8 = 3;

/// A timewait or request socket: a small kernel object standing in for a
/// connection, with no owner (the kernel reports uid 0 for it).
fn is_mini_socket(m: &DiagMsg<'_>) -> bool {
    m.state == TIME_WAIT || m.state == NEW_SYN_RECV || m.timer == TIMER_TIMEWAIT
}

/// `ss -o` names for `idiag_timer`; a timewait socket still in FIN_WAIT_2
/// runs the fin timeout, not 2·MSL.
fn timer(m: &DiagMsg<'_>, taken_at: Instant) -> Option<SocketTimer> {
    let kind = match m.timer {
        1 => TimerKind::Retransmit,
        2 => TimerKind::KeepAlive,
        TIMER_TIMEWAIT if m.state == 5 => TimerKind::FinTimeout,
        TIMER_TIMEWAIT => TimerKind::TimeWait,
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
    let mini = is_mini_socket(m);
    row.recv_q = Some(m.rqueue);
    row.send_q = Some(m.wqueue);
    row.timer = timer(m, taken_at);
    row.uid = (!mini).then_some(m.uid);
    row.inode = (m.inode != 0).then_some(u64::from(m.inode));
    row.cookie = m.cookie;
    row.totals = m
        .attr(netlink::INET_DIAG_INFO)
        .and_then(|info| tcp_info::parse_totals(info, row.state));
    Some(row)
}

/// Destroys the socket on `key` (with that cookie, when known, so a newer
/// socket on the same ends is never hit).
#[cfg(target_os = "linux")]
pub fn destroy(key: &SocketKey, cookie: Option<u64>) -> Result<(), destroy::DestroyError> {
    linux::destroy(key, cookie)
}

#[cfg(not(target_os = "linux"))]
pub fn destroy(_key: &SocketKey, _cookie: Option<u64>) -> Result<(), destroy::DestroyError> {
    Err(DestroyError::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_state_bits() {
        assert_eq!(kernel_states(None), netlink::ALL_STATES);
        let bits = |s: &[TcpState]| kernel_states(Some(StateSet::of(s.iter().copied())));
        assert_eq!(bits(&[TcpState::Established]), 1 << 1);
        assert_eq!(bits(&[TcpState::Listen]), 1 << 10);
        assert_eq!(
            bits(&[TcpState::SynRecv]),
            1 << 3 | 1 << NEW_SYN_RECV,
            "request sockets too"
        );
        assert_eq!(
            bits(&[TcpState::TimeWait, TcpState::Closed]),
            1 << 6 | 1 << 7
        );
    }
}
