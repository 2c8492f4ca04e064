//! Where socket tables come from. One trait, one file per backend; a
//! backend knows nothing about the UI and reports its limits as data.

mod netstat2;
pub(crate) mod procs;
mod replay;
pub mod sockdiag;
pub mod trace;
pub(crate) mod users;

pub use self::netstat2::Netstat2Source;
pub use self::procs::{ProcNames, scan_proc};
pub use self::replay::ScriptedSource;

use crate::socket::{SocketKey, SocketRow, TcpDetails};
use std::fmt;
use std::time::{Instant, SystemTime};

/// One reading of the OS socket table.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub rows: Vec<SocketRow>,
    /// Monotonic time of the reading: what durations are measured against.
    pub taken_at: Instant,
    /// Wall-clock time of the reading: what timestamps are printed from.
    pub wall: SystemTime,
    /// Something about this reading the user should know (e.g. it is
    /// suspiciously empty).
    pub warning: Option<String>,
}

impl Snapshot {
    pub fn new(rows: Vec<SocketRow>) -> Self {
        Snapshot {
            rows,
            taken_at: Instant::now(),
            wall: SystemTime::now(),
            warning: None,
        }
    }
}

/// Why a source shows less than the full picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Degradation {
    /// What is missing, e.g. "process names".
    pub what: &'static str,
    /// Why, and what would fix it.
    pub why: String,
}

impl fmt::Display for Degradation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.why)
    }
}

/// A failure to read the socket table, worded for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// What narrows a source's reading before it reaches the tracker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Keep only sockets whose local or remote port is this.
    pub port: Option<u16>,
}

impl Scope {
    pub fn admits(&self, row: &SocketRow) -> bool {
        self.port
            .is_none_or(|p| row.key.local.port() == p || row.key.remote.port() == p)
    }
}

/// A backend that reads the TCP socket table.
pub trait SocketSource: Send {
    /// Short name shown in the header, e.g. "netstat2".
    fn name(&self) -> &'static str;

    /// Reads the table now. Only sockets inside `scope` are returned.
    fn snapshot(&mut self, scope: &Scope) -> Result<Snapshot, SourceError>;

    /// What this source cannot show right now, and why.
    fn degradations(&self) -> Vec<Degradation> {
        Vec::new()
    }

    /// tcp_info for one connection; costs the kernel work, so it is asked
    /// for only while someone looks at it.
    fn details(&mut self, _key: &SocketKey) -> Result<Option<TcpDetails>, SourceError> {
        Ok(None)
    }

    /// Whether [`SocketSource::details`] can ever return something.
    fn has_details(&self) -> bool {
        false
    }

    /// State changes observed exactly since the last call (only sources
    /// backed by the kernel tracepoint have any), oldest first.
    fn transitions(&mut self, _scope: &Scope) -> Vec<crate::track::Transition> {
        Vec::new()
    }
}

/// Whether a source will be read many times or just once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// Live polling: process owners are looked up in the background.
    Live,
    /// One reading without process owners (like `ss -tan`: fast).
    Once,
    /// One reading with process owners (like `ss -tanp`: walks /proc).
    OnceWithOwners,
}

/// Which backend to read the table with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    /// sock_diag on Linux, netstat2 elsewhere.
    Auto,
    /// The kernel's sock_diag netlink interface (Linux): queues, timers, tcp_info.
    Sockdiag,
    /// The portable netstat2 crate (Linux, macOS, Windows): states and owners.
    Netstat2,
}

/// Opens the chosen backend.
pub fn open(kind: SourceKind, cadence: Cadence) -> Result<Box<dyn SocketSource>, SourceError> {
    match kind {
        SourceKind::Netstat2 => Ok(Box::new(Netstat2Source::with_cadence(cadence))),
        SourceKind::Sockdiag => open_sockdiag(cadence),
        SourceKind::Auto => {
            let polled = open_sockdiag(cadence).or_else(|_| {
                Ok::<Box<dyn SocketSource>, SourceError>(Box::new(Netstat2Source::with_cadence(
                    cadence,
                )))
            })?;
            // One reading needs no transitions; a live view gets them if it may.
            if cadence != Cadence::Live {
                return Ok(polled);
            }
            let (source, why_not) = trace::with_trace(polled);
            Ok(match why_not {
                Some(why) => Box::new(Noted {
                    inner: source,
                    note: Degradation {
                        what: "exact transitions",
                        why,
                    },
                }),
                None => source,
            })
        }
    }
}

/// A source with one more thing to say about its limits.
struct Noted {
    inner: Box<dyn SocketSource>,
    note: Degradation,
}

impl SocketSource for Noted {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn snapshot(&mut self, scope: &Scope) -> Result<Snapshot, SourceError> {
        self.inner.snapshot(scope)
    }

    fn degradations(&self) -> Vec<Degradation> {
        let mut out = self.inner.degradations();
        out.push(self.note.clone());
        out
    }

    fn details(&mut self, key: &SocketKey) -> Result<Option<TcpDetails>, SourceError> {
        self.inner.details(key)
    }

    fn has_details(&self) -> bool {
        self.inner.has_details()
    }
}

#[cfg(target_os = "linux")]
fn open_sockdiag(cadence: Cadence) -> Result<Box<dyn SocketSource>, SourceError> {
    Ok(Box::new(sockdiag::SockDiagSource::new(cadence)?))
}

#[cfg(not(target_os = "linux"))]
fn open_sockdiag(_cadence: Cadence) -> Result<Box<dyn SocketSource>, SourceError> {
    Err(SourceError(
        "the sockdiag source is Linux-only; use --source netstat2".to_string(),
    ))
}

/// Gives sockets that share a tuple in one reading (SO_REUSEPORT
/// listeners) distinct keys, so none is lost to a map collision.
pub fn separate_shared_tuples(rows: &mut [SocketRow]) {
    let mut seen = std::collections::HashSet::new();
    // A connected 4-tuple is unique in the kernel; only unconnected
    // sockets (listeners) can share one.
    for row in rows.iter_mut().filter(|r| r.key.remote.port() == 0) {
        if !seen.insert(row.key) {
            row.key.instance = row.inode.unwrap_or(0).max(1);
            while !seen.insert(row.key) {
                row.key.instance += 1;
            }
        }
    }
}

/// Text for a reading that came back empty: netstat2 turns a netlink
/// failure into an empty list, so "nothing at all" may be an error.
pub const EMPTY_TABLE_WARNING: &str = "the OS reported no TCP sockets at all: if this machine has connections, reading the socket table failed";
