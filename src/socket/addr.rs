//! Addresses the way people read them: IPv4-mapped IPv6 as IPv4,
//! an unconnected peer as `0.0.0.0:*` like netstat.

use std::net::{IpAddr, SocketAddr};

/// Folds `::ffff:a.b.c.d` into `a.b.c.d`; dual-stack sockets report their
/// IPv4 peers this way and nobody wants to read it.
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

pub fn normalize(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(normalize_ip(addr.ip()), addr.port())
}

/// `ip:port`, `[v6]:port`, and `*` for port 0 (an unconnected end).
pub fn display(addr: &SocketAddr) -> String {
    let port = match addr.port() {
        0 => "*".to_string(),
        p => p.to_string(),
    };
    match addr.ip() {
        IpAddr::V4(ip) => format!("{ip}:{port}"),
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn mapped_v6_reads_as_v4() {
        assert_eq!(normalize(sa("[::ffff:127.0.0.1]:80")), sa("127.0.0.1:80"));
        assert_eq!(normalize(sa("[::1]:80")), sa("[::1]:80"));
    }

    #[test]
    fn unconnected_remote_reads_like_netstat() {
        assert_eq!(display(&sa("0.0.0.0:0")), "0.0.0.0:*");
        assert_eq!(display(&sa("[::]:0")), "[::]:*");
        assert_eq!(display(&sa("10.0.0.1:443")), "10.0.0.1:443");
        assert_eq!(display(&sa("[fe80::1]:22")), "[fe80::1]:22");
    }
}
