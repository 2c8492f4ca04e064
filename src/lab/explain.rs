//! Socket errors turned into teaching moments: what the kernel said, in
//! its own words, and why, and what to do about it. Errors stay typed
//! until they are shown, so the UI can add what only the socket table
//! knows (who holds a port).

use super::LabId;
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// What the lab was doing when the error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// `time_wait_from`: set when a lab server end on this port closed
    /// first (so TIME_WAIT is likely), with whether its listener had
    /// SO_REUSEADDR: on Linux a TIME_WAIT connection keeps its listener's
    /// flag and blocks a new bind unless both have it.
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
    Recv,
    Shutdown,
    Open,
}

/// An OS error, kept as data (io::Error is neither Clone nor Eq).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsFailure {
    pub kind: io::ErrorKind,
    pub errno: Option<i32>,
    /// The OS's own words, without "(os error N)".
    pub words: String,
}

impl From<&io::Error> for OsFailure {
    fn from(e: &io::Error) -> Self {
        OsFailure {
            kind: e.kind(),
            errno: e.raw_os_error(),
            words: crate::source::error::os_words(e),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A socket call the OS refused.
    Os { call: Attempt, os: OsFailure },
    /// A command the lab turned down, and why.
    Refused(String),
}

/// A lab error, about one lab socket or about the lab as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabError {
    pub socket: Option<LabId>,
    pub problem: Problem,
}

impl LabError {
    pub fn os(call: Attempt, err: &io::Error) -> Self {
        LabError {
            socket: None,
            problem: Problem::Os {
                call,
                os: err.into(),
            },
        }
    }

    pub fn refused(text: impl Into<String>) -> Self {
        LabError {
            socket: None,
            problem: Problem::Refused(text.into()),
        }
    }

    /// The same error, about socket `id`.
    pub fn on(self, id: LabId) -> Self {
        LabError {
            socket: Some(id),
            ..self
        }
    }

    /// The port a failed bind() wanted when another socket holds it.
    pub fn port_in_use(&self) -> Option<u16> {
        match &self.problem {
            Problem::Os {
                call: Attempt::Bind { addr, .. },
                os,
            } if os.kind == io::ErrorKind::AddrInUse => Some(addr.port()),
            _ => None,
        }
    }

    /// The message, with what the table says about the port when a bind
    /// failed because it is in use.
    pub fn describe(&self, port: &PortUse) -> String {
        let text = match &self.problem {
            Problem::Refused(text) => text.clone(),
            Problem::Os { call, os } => explain(*call, os, port),
        };
        match self.socket {
            Some(id) => format!("#{id} {text}"),
            None => text,
        }
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&PortUse::default()))
    }
}

/// Who uses a port, from the socket table: a listener's owner, and how
/// many connections on it are in TIME_WAIT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortUse {
    /// e.g. `pid 4242 (python3) listening on 0.0.0.0:9000`.
    pub listener: Option<String>,
    pub time_waits: usize,
}

fn explain(call: Attempt, os: &OsFailure, port: &PortUse) -> String {
    format!(
        "{}: {} — {}",
        headline(call),
        os.words,
        reason(call, os, port)
    )
}

fn headline(call: Attempt) -> String {
    match call {
        Attempt::Bind { addr, .. } => format!("bind({addr}) failed"),
        Attempt::Connect { addr } => format!("connect({addr}) failed"),
        Attempt::Accept => "accept() failed".into(),
        Attempt::Send => "send() failed".into(),
        Attempt::Recv => "recv() failed".into(),
        Attempt::Shutdown => "shutdown(SHUT_WR) failed".into(),
        Attempt::Open => "socket() failed".into(),
    }
}

fn reason(call: Attempt, os: &OsFailure, port: &PortUse) -> String {
    if matches!(os.errno, Some(23 | 24)) {
        return format!(
            "{}; connections already open are kept, close some or raise the limit",
            crate::source::error::too_many_files()
        );
    }
    match (call, os.kind) {
        (Attempt::Bind { .. }, io::ErrorKind::AddrInUse) => address_in_use(call, port),
        (Attempt::Bind { .. }, io::ErrorKind::PermissionDenied) => {
            "ports below 1024 need root (or CAP_NET_BIND_SERVICE); use a port from 1024 up".into()
        }
        (Attempt::Bind { .. }, io::ErrorKind::AddrNotAvailable) => {
            "that address is not one of this machine's; bind 127.0.0.1, 0.0.0.0 or an address the machine has".into()
        }
        (Attempt::Connect { .. }, io::ErrorKind::ConnectionRefused) => {
            "nothing is listening there, so the kernel answered the SYN with a RST; start the server (S) or check the port".into()
        }
        (Attempt::Connect { .. }, io::ErrorKind::TimedOut) => {
            "the SYN was never answered: the host is unreachable, a firewall drops it, or the listener's accept queue stayed full".into()
        }
        (Attempt::Send | Attempt::Recv, io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
            "the peer reset the connection (RST); nothing more can be sent or received on it, so the lab closed it".into()
        }
        (_, io::ErrorKind::NotConnected) => "the socket is not connected (any more)".into(),
        _ => "see the OS message".into(),
    }
}

/// EADDRINUSE: name what holds the port, as far as the table tells.
fn address_in_use(call: Attempt, port: &PortUse) -> String {
    let Attempt::Bind {
        reuseaddr,
        time_wait_from,
        ..
    } = call
    else {
        return String::new();
    };
    if let Some(holder) = &port.listener {
        let fix = if reuseaddr {
            "SO_REUSEADDR does not share a port with a listener"
        } else {
            "SO_REUSEADDR would not help against a listener"
        };
        return format!("{holder}; {fix}: stop it or pick another port (O, then 'port N')");
    }
    let tw = match port.time_waits {
        0 => "connections on this port are in TIME_WAIT".to_string(),
        n => format!("{n} connections on this port are in TIME_WAIT"),
    };
    let tw_known = port.time_waits > 0 || time_wait_from.is_some();
    match (reuseaddr, time_wait_from, tw_known) {
        (false, Some(false), _) => format!(
            "{tw}: the side that closes first waits 2·MSL (60 s on Linux) before the port is free again; SO_REUSEADDR avoids this, but on Linux only when the old server had it too, and it did not: wait up to 60 s or pick another port"
        ),
        (false, _, true) => format!(
            "{tw}: the side that closes first waits 2·MSL (60 s on Linux) before the port is free again; set SO_REUSEADDR (O, then 'reuseaddr on') to listen anyway"
        ),
        (true, Some(false), _) => format!(
            "SO_REUSEADDR is set, but {tw} from a server without it, and on Linux both need it: wait until they expire (60 s on Linux) or pick another port"
        ),
        (true, _, _) => "another program is listening on this port (SO_REUSEADDR only helps against TIME_WAIT); pick another port (O, then 'port N')".into(),
        (false, _, false) => "another socket holds this port: a program listening on it, or TIME_WAIT connections left by an earlier server (they last 60 s on Linux); with SO_REUSEADDR (O, then 'reuseaddr on') TIME_WAIT no longer blocks, a listener still does".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9000".parse().expect("addr")
    }

    fn bind(reuseaddr: bool, time_wait_from: Option<bool>) -> Attempt {
        Attempt::Bind {
            addr: addr(),
            reuseaddr,
            time_wait_from,
        }
    }

    #[test]
    fn address_in_use_after_an_active_close_names_time_wait_and_the_fix() {
        let err = io::Error::from(io::ErrorKind::AddrInUse);
        let text = LabError::os(bind(false, Some(true)), &err).to_string();
        assert!(text.starts_with("bind(127.0.0.1:9000) failed: "), "{text}");
        assert!(
            text.contains("TIME_WAIT") && text.contains("SO_REUSEADDR"),
            "{text}"
        );
        let text = LabError::os(bind(true, Some(false)), &err).to_string();
        assert!(text.contains("both need it"), "{text}");
    }

    #[test]
    fn address_in_use_by_another_program_names_it_not_time_wait() {
        let err = LabError::os(
            bind(false, Some(true)),
            &io::Error::from(io::ErrorKind::AddrInUse),
        );
        assert_eq!(err.port_in_use(), Some(9000));
        let port = PortUse {
            listener: Some("pid 4242 (python3) listening on 0.0.0.0:9000".into()),
            time_waits: 3,
        };
        let text = err.describe(&port);
        assert!(
            text.contains("pid 4242 (python3) listening on 0.0.0.0:9000"),
            "{text}"
        );
        assert!(!text.contains("TIME_WAIT"), "{text}");
    }

    #[test]
    fn refused_and_too_many_files() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let text = LabError::os(Attempt::Connect { addr: addr() }, &refused).to_string();
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
        assert!(text.contains("nothing is listening"), "{text}");
        assert!(!text.contains("os error"), "{text}");
        let emfile = io::Error::from_raw_os_error(24);
        let text = LabError::os(Attempt::Accept, &emfile).on(3).to_string();
        assert!(text.starts_with("#3 accept() failed"), "{text}");
        assert!(text.contains("too many open files (limit"), "{text}");
    }
}
