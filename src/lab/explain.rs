//! Socket errors turned into teaching moments: what the kernel said, in
//! its own words, and why, and what to do about it.

use std::io;
use std::net::SocketAddr;

/// What the lab was doing when the error happened.
#[derive(Clone, Copy, Debug)]
pub enum Call {
    /// `time_wait_from`: set when a lab server end on this port closed
    /// first (so TIME_WAIT is likely), with whether its listener had
    /// SO_REUSEADDR: on Linux a TIME_WAIT connection keeps its listener's flag
    /// and blocks a new bind unless both have it.
    Bind {
        addr: SocketAddr,
        reuseaddr: bool,
        time_wait_from: Option<bool>,
    },
    Connect {
        addr: SocketAddr,
    },
    Accept,
    Send,
    Shutdown,
    Open,
}

pub fn explain(call: Call, err: &io::Error) -> String {
    let head = headline(call);
    let why = reason(call, err);
    format!("{head}: {} — {why}", os_words(err))
}

fn headline(call: Call) -> String {
    match call {
        Call::Bind { addr, .. } => format!("bind({addr}) failed"),
        Call::Connect { addr } => format!("connect({addr}) failed"),
        Call::Accept => "accept() failed".into(),
        Call::Send => "send() failed".into(),
        Call::Shutdown => "shutdown(SHUT_WR) failed".into(),
        Call::Open => "socket() failed".into(),
    }
}

/// The OS's own message without Rust's "(os error N)" suffix.
fn os_words(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn reason(call: Call, err: &io::Error) -> String {
    if is_too_many_files(err) {
        return "the process reached its open-files limit (ulimit -n); connections already open are kept, close some or raise the limit".into();
    }
    match (call, err.kind()) {
        (Call::Bind { reuseaddr: false, time_wait_from: Some(true), .. }, io::ErrorKind::AddrInUse) => {
            "connections on this port are in TIME_WAIT: the side that closes first waits 2·MSL (60 s on Linux) before the port is free again; set SO_REUSEADDR (O, then 'reuseaddr on') to listen anyway".into()
        }
        (Call::Bind { reuseaddr: false, time_wait_from: Some(false), .. }, io::ErrorKind::AddrInUse) => {
            "connections on this port are in TIME_WAIT: the side that closes first waits 2·MSL (60 s on Linux) before the port is free again; SO_REUSEADDR avoids this, but on Linux only when the old server had it too, and it did not: wait up to 60 s or pick another port".into()
        }
        (Call::Bind { reuseaddr: true, time_wait_from: Some(false), .. }, io::ErrorKind::AddrInUse) => {
            "SO_REUSEADDR is set, but the TIME_WAIT connections on this port come from a server without it, and on Linux both need it: wait until they expire (60 s on Linux) or pick another port".into()
        }
        (Call::Bind { reuseaddr: false, .. }, io::ErrorKind::AddrInUse) => {
            "another socket holds this port: a program listening on it, or TIME_WAIT connections left by an earlier server (they last 60 s on Linux); with SO_REUSEADDR (O, then 'reuseaddr on') TIME_WAIT no longer blocks, a listener still does".into()
        }
        (Call::Bind { .. }, io::ErrorKind::AddrInUse) => {
            "another program is listening on this port (SO_REUSEADDR only helps against TIME_WAIT); pick another port (O, then 'port N')".into()
        }
        (Call::Bind { .. }, io::ErrorKind::PermissionDenied) => {
            "ports below 1024 need root (or CAP_NET_BIND_SERVICE); use a port from 1024 up".into()
        }
        (Call::Bind { .. }, io::ErrorKind::AddrNotAvailable) => {
            "that address is not one of this machine's; bind 127.0.0.1, 0.0.0.0 or an address the machine has".into()
        }
        (Call::Connect { .. }, io::ErrorKind::ConnectionRefused) => {
            "nothing is listening there, so the kernel answered the SYN with a RST; start the server (S) or check the port".into()
        }
        (Call::Connect { .. }, io::ErrorKind::TimedOut) => {
            "the SYN was never answered: the host is unreachable, a firewall drops it, or the listener's accept queue stayed full".into()
        }
        (Call::Send, io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
            "the peer has reset or fully closed the connection; nothing more can be sent on it".into()
        }
        (_, io::ErrorKind::NotConnected) => "the socket is not connected (any more)".into(),
        _ => "see the OS message".into(),
    }
}

fn is_too_many_files(err: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and macOS.
    matches!(err.raw_os_error(), Some(23 | 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9000".parse().expect("addr")
    }

    #[test]
    fn address_in_use_after_an_active_close_names_time_wait_and_the_fix() {
        let err = io::Error::from(io::ErrorKind::AddrInUse);
        let call = Call::Bind {
            addr: addr(),
            reuseaddr: false,
            time_wait_from: Some(true),
        };
        let text = explain(call, &err);
        assert!(text.starts_with("bind(127.0.0.1:9000) failed: "), "{text}");
        assert!(
            text.contains("TIME_WAIT") && text.contains("SO_REUSEADDR"),
            "{text}"
        );
        let call = Call::Bind {
            addr: addr(),
            reuseaddr: true,
            time_wait_from: Some(false),
        };
        assert!(explain(call, &err).contains("both need it"));
    }

    #[test]
    fn refused_and_too_many_files() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let text = explain(Call::Connect { addr: addr() }, &refused);
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
        assert!(text.contains("nothing is listening"), "{text}");
        assert!(!text.contains("os error"), "{text}");
        let emfile = io::Error::from_raw_os_error(24);
        assert!(explain(Call::Accept, &emfile).contains("open-files limit"));
    }
}
