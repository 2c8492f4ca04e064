//! One line of tracefs output for `sock:inet_sock_set_state`, e.g.
//! `python3-1 [000] ..s2. 5381.191486: inet_sock_set_state: family=AF_INET
//! protocol=IPPROTO_TCP sport=58997 dport=51772 saddr=127.0.0.1
//! daddr=127.0.0.1 saddrv6=… daddrv6=… oldstate=TCP_LISTEN newstate=TCP_SYN_RECV`.

use crate::socket::{Family, SocketKey, TcpState};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A parsed state change: its socket, both states, and the trace clock's
/// time (CLOCK_MONOTONIC, as the instance is set to the `mono` clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedChange {
    pub key: SocketKey,
    pub from: TcpState,
    pub to: TcpState,
    pub mono: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceLine {
    Change(TracedChange),
    /// The kernel's ring buffer overflowed and dropped this many events.
    Lost(u64),
}

/// `None` for lines that are neither (headers, other events, non-TCP).
pub fn parse_line(line: &str) -> Option<TraceLine> {
    if let Some(lost) = lost_events(line) {
        return Some(TraceLine::Lost(lost));
    }
    let (head, fields) = line.split_once(": inet_sock_set_state: ")?;
    let mono = timestamp(head)?;
    let get = |name: &str| {
        fields
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    if get("protocol")? != "IPPROTO_TCP" {
        return None;
    }
    let (family, src, dst) = match get("family")? {
        "AF_INET" => (Family::Inet, get("saddr")?, get("daddr")?),
        "AF_INET6" => (Family::Inet6, get("saddrv6")?, get("daddrv6")?),
        _ => return None,
    };
    let sport: u16 = get("sport")?.parse().ok()?;
    let dport: u16 = get("dport")?.parse().ok()?;
    let local = SocketAddr::new(src.parse::<IpAddr>().ok()?, sport);
    let remote = SocketAddr::new(dst.parse::<IpAddr>().ok()?, dport);
    Some(TraceLine::Change(TracedChange {
        key: SocketKey::new(family, local, remote),
        from: state(get("oldstate")?)?,
        to: state(get("newstate")?)?,
        mono,
    }))
}

/// `5381.191486` just before the event name.
fn timestamp(head: &str) -> Option<Duration> {
    let text = head.split_whitespace().last()?;
    let (secs, frac) = text.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    let micros: u64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    Some(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// `CPU:1 [LOST 123 EVENTS]`
fn lost_events(line: &str) -> Option<u64> {
    let rest = line.split_once("[LOST ")?.1;
    rest.split_once(" EVENTS]")?.0.trim().parse().ok()
}

fn state(name: &str) -> Option<TcpState> {
    let s = match name {
        "TCP_ESTABLISHED" => TcpState::Established,
        "TCP_SYN_SENT" => TcpState::SynSent,
        "TCP_SYN_RECV" | "TCP_NEW_SYN_RECV" => TcpState::SynRecv,
        "TCP_FIN_WAIT1" => TcpState::FinWait1,
        "TCP_FIN_WAIT2" => TcpState::FinWait2,
        "TCP_TIME_WAIT" => TcpState::TimeWait,
        "TCP_CLOSE" => TcpState::Closed,
        "TCP_CLOSE_WAIT" => TcpState::CloseWait,
        "TCP_LAST_ACK" => TcpState::LastAck,
        "TCP_LISTEN" => TcpState::Listen,
        "TCP_CLOSING" => TcpState::Closing,
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "         python3-32201   [000] ..s2.  5381.191486: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=58997 dport=51772 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_LISTEN newstate=TCP_SYN_RECV";
    const V6: &str = "         python3-32201   [000] .....  5381.292469: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP sport=33378 dport=50991 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 oldstate=TCP_ESTABLISHED newstate=TCP_FIN_WAIT1";

    #[test]
    fn recorded_lines_parse() {
        let Some(TraceLine::Change(c)) = parse_line(V4) else {
            panic!("not parsed: {V4}")
        };
        assert_eq!((c.from, c.to), (TcpState::Listen, TcpState::SynRecv));
        assert_eq!(c.key.local, "127.0.0.1:58997".parse().expect("addr"));
        assert_eq!(c.key.remote, "127.0.0.1:51772".parse().expect("addr"));
        assert_eq!(c.mono, Duration::from_micros(5_381_191_486));
        let Some(TraceLine::Change(c)) = parse_line(V6) else {
            panic!("not parsed: {V6}")
        };
        assert_eq!(c.key.family, Family::Inet6);
        assert_eq!(
            c.key.local,
            "[::1]:33378".parse().expect("addr"),
            "IPv6 uses the v6 fields"
        );
        assert_eq!((c.from, c.to), (TcpState::Established, TcpState::FinWait1));
    }

    #[test]
    fn lost_events_and_noise() {
        assert_eq!(
            parse_line("CPU:1 [LOST 123 EVENTS]"),
            Some(TraceLine::Lost(123))
        );
        assert_eq!(parse_line("# tracer: nop"), None);
        assert_eq!(parse_line(&V4.replace("IPPROTO_TCP", "IPPROTO_SCTP")), None);
        assert_eq!(parse_line(&V4.replace("sport=58997", "sport=x")), None);
    }
}
