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
    let mut out = String::with_capacity(24);
    push_display(addr, &mut out);
    out
}

/// [`display`] appended to `out`: no allocation for the common case,
/// because printing a whole table formats tens of thousands of these.
pub fn push_display(addr: &SocketAddr, out: &mut String) {
    push_ip(addr.ip(), out);
    out.push(':');
    match addr.port() {
        0 => out.push('*'),
        p => out.push_str(itoa::Buffer::new().format(p)),
    }
}

/// `ip:port` / `[v6]:port` with port 0 written as 0: the form scripts
/// parse (the same text as `SocketAddr`'s `Display` for our addresses).
pub fn push_plain(addr: &SocketAddr, out: &mut String) {
    push_ip(addr.ip(), out);
    out.push(':');
    out.push_str(itoa::Buffer::new().format(addr.port()));
}

/// The address alone: dotted IPv4, `[v6]`.
pub fn push_ip(ip: IpAddr, out: &mut String) {
    use std::fmt::Write as _;
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(octet));
            }
        }
        // Rare, and the text form (zero compression) is subtle: the
        // standard library's.
        IpAddr::V6(v6) => {
            let _ = write!(out, "[{v6}]");
        }
    }
}

/// An address as bytes that compare the way `SocketAddr`s do (IPv4 before
/// IPv6, then address, then port): several times faster to compare than
/// `SocketAddr`, and small enough to keep one per row.
pub type OrderKey = [u8; 19];

pub fn order_key(a: &SocketAddr) -> OrderKey {
    let mut key = [0u8; 19];
    match a.ip() {
        IpAddr::V4(v4) => key[13..17].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => {
            key[0] = 1;
            key[1..17].copy_from_slice(&v6.octets());
        }
    }
    key[17..].copy_from_slice(&a.port().to_be_bytes());
    key
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

    #[test]
    fn plain_text_is_what_the_standard_library_writes() {
        for a in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.0.0.1:8",
            "[::]:0",
            "[fe80::1]:22",
        ] {
            let mut out = String::new();
            push_plain(&sa(a), &mut out);
            assert_eq!(out, sa(a).to_string());
        }
    }

    #[test]
    fn order_keys_order_like_socket_addrs() {
        let addrs: Vec<SocketAddr> = [
            "10.0.0.1:80",
            "10.0.0.1:443",
            "9.255.255.255:1",
            "[::1]:22",
            "[::]:80",
            "[fe80::1]:1",
            "255.255.255.255:65535",
        ]
        .iter()
        .map(|a| sa(a))
        .collect();
        for a in &addrs {
            for b in &addrs {
                assert_eq!(order_key(a).cmp(&order_key(b)), a.cmp(b), "{a} vs {b}");
            }
        }
    }
}
