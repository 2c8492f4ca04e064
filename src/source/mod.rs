//! Where observations come from. One file per backend; a backend knows
//! nothing about the UI, produces timestamped observations (a dump of the
//! table with the time it was taken, a state change with the kernel's
//! time), and reports its limits as data. The pipeline turns them into
//! connections.

// Data from outside the program passes here: a number is never silently
// cut to fit (`try_from`, or a saturating value the kernel will refuse).
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

pub mod activity;
mod caller;
pub mod capture;
pub mod confine;
pub mod doctor;
pub mod error;
pub mod files;
pub mod host;
pub mod identity;
pub mod link;
pub mod memory;
pub mod names;
pub mod namespaced;
pub mod netns;
mod netstat2;
pub mod playback;
pub(crate) mod procs;
pub mod remote;
mod scripted;
pub mod sockdiag;
pub mod trace;
pub(crate) mod users;

pub use self::error::{SourceError, os_error};
pub use self::netstat2::Netstat2Source;
pub use self::procs::{ProcNames, ownership_limits, scan_proc};
pub use self::scripted::ScriptedSource;

use crate::socket::{SocketKey, SocketRow, StateSet, TcpDetails, TcpState};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// One complete reading of the OS socket table.
#[derive(Clone, Debug)]
pub struct Dump {
    pub rows: Vec<SocketRow>,
    /// When the reading began: a socket's row shows its state at some
    /// moment between `started` and `finished`.
    pub started: Instant,
    pub finished: Instant,
    /// Wall-clock time of `started`, for printing.
    pub wall: SystemTime,
    /// Something about this reading the user should know (e.g. it is
    /// suspiciously empty).
    pub warning: Option<String>,
}

impl Dump {
    /// A reading taken now (for scripted sources and tests).
    pub fn new(rows: Vec<SocketRow>) -> Self {
        let now = Instant::now();
        Dump::at(rows, now, SystemTime::now())
    }

    /// A reading taken in an instant at `started`.
    pub fn at(rows: Vec<SocketRow>, started: Instant, wall: SystemTime) -> Self {
        Dump {
            rows,
            started,
            finished: started,
            wall,
            warning: None,
        }
    }
}

/// One state change of one socket, as the kernel reported it when it
/// happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub key: SocketKey,
    pub from: TcpState,
    pub to: TcpState,
    pub at: Instant,
    pub wall: SystemTime,
    /// The kernel's address of the socket: the same socket for as long as
    /// it lives (then the memory may be reused for another).
    pub sk: Option<u64>,
    /// The process whose system call on the socket made the change, where
    /// the kernel's record says (connect, listen, close, shutdown).
    pub owner: Option<Arc<crate::socket::Owner>>,
    /// Why it happened, as far as the source could tell.
    pub cause: crate::socket::Cause,
}

/// What a source cannot show right now, as a kind the program can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    ProcessNames,
    QueuesAndTimers,
    KernelPortFilter,
    ExactTransitions,
    TracefsMounted,
    /// The kernel's trace buffer overflowed.
    LostTransitions,
    /// A reading failed and was retried on a fresh socket.
    TableRecovered,
    Namespaces,
    Recording,
    Remote,
    /// Privileges could not all be dropped after setup.
    Confinement,
}

impl Limit {
    pub fn label(self) -> &'static str {
        match self {
            Limit::ProcessNames => "process names",
            Limit::QueuesAndTimers => "queues and timers",
            Limit::KernelPortFilter => "kernel port filter",
            Limit::ExactTransitions => "exact transitions",
            Limit::TracefsMounted => "tracefs",
            Limit::LostTransitions => "transitions",
            Limit::TableRecovered => "socket table",
            Limit::Namespaces => "namespaces",
            Limit::Recording => "recording",
            Limit::Remote => "remote",
            Limit::Confinement => "confinement",
        }
    }
}

/// Why a source shows less than the full picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Degradation {
    pub limit: Limit,
    /// Why, and what would fix it.
    pub why: String,
}

impl Degradation {
    pub fn new(limit: Limit, why: impl Into<String>) -> Self {
        Degradation {
            limit,
            why: why.into(),
        }
    }
}

impl fmt::Display for Degradation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.limit.label(), self.why)
    }
}

/// What narrows a source's reading before it reaches the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Keep only sockets whose local or remote port is this.
    pub port: Option<u16>,
    /// Keep only sockets in these states. Only for a single reading: a
    /// series of readings must see a socket leave a state, not vanish.
    pub states: Option<StateSet>,
    /// Ask for each socket's byte and retransmission totals (tcp_info),
    /// which summaries need; a larger reading, so only when wanted.
    pub totals: bool,
}

impl Scope {
    /// Every socket on `port` (or all of them), in any state.
    pub fn on_port(port: Option<u16>) -> Scope {
        Scope {
            port,
            ..Scope::default()
        }
    }

    pub fn admits(&self, row: &SocketRow) -> bool {
        self.admits_key(&row.key) && self.states.is_none_or(|s| s.contains(row.state))
    }

    /// Whether a socket on these ends is on the watched port.
    pub fn admits_key(&self, key: &SocketKey) -> bool {
        self.port
            .is_none_or(|p| key.local.port() == p || key.remote.port() == p)
    }
}

/// A backend that reads the whole TCP socket table.
pub trait SocketSource: Send {
    /// Short name shown in the header, e.g. "sockdiag".
    fn name(&self) -> &'static str;

    /// Reads the table now. Only sockets inside `scope` are returned.
    fn dump(&mut self, scope: &Scope) -> Result<Dump, SourceError>;

    /// What this source cannot show right now, and why.
    fn degradations(&self) -> Vec<Degradation> {
        Vec::new()
    }

    /// Whether the table may differ from the last reading: asked before
    /// every reading while polling, so an unchanged table need not be read
    /// again. A source that cannot tell says yes.
    fn may_have_changed(&mut self) -> bool {
        true
    }

    /// Owners only for what is on screen (`true`, the live view with a
    /// filter that names no process) or for every socket read (`false`,
    /// the default: `watch`, `record`, owner filters).
    fn owners_on_demand(&mut self, _on: bool) {}

    /// tcp_info for one connection; costs the kernel work, so it is asked
    /// for only while someone looks at it.
    fn details(&mut self, _key: &SocketKey) -> Result<Option<TcpDetails>, SourceError> {
        Ok(None)
    }

    /// Whether [`SocketSource::details`] can ever return something.
    fn has_details(&self) -> bool {
        false
    }

    /// Reads single sockets exactly, by their ends and (when known) their
    /// cookie: `None` for one the kernel does not have. Only where
    /// [`Self::can_look_up`] says so.
    fn look_up(&mut self, _wanted: &[Wanted]) -> Result<Vec<Option<SocketRow>>, SourceError> {
        Err(SourceError::Unavailable(format!(
            "{} reads whole tables only",
            self.name()
        )))
    }

    fn can_look_up(&self) -> bool {
        false
    }
}

/// A socket to read exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub key: SocketKey,
    /// Its cookie, so that a newer socket on the same ends is not taken
    /// for it.
    pub cookie: Option<u64>,
    /// Its owner as far as the caller knows (from the kernel's change
    /// records): a socket still held keeps it unless a walk says more.
    pub owner: Option<Arc<crate::socket::Owner>>,
}

/// Wakes a [`ChangeSource`] that is waiting, from another thread.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A backend that reports state changes as they happen (the tracepoint).
pub trait ChangeSource: Send {
    /// Short name added to the header, e.g. "trace".
    fn name(&self) -> &'static str;

    /// Blocks up to `timeout` until changes are waiting or [`Self::waker`]
    /// is called.
    fn wait(&mut self, timeout: Duration);

    /// Appends every change committed so far, oldest first. A batch is
    /// complete: a change whose successor is in it is in it too, and every
    /// state a dump finished before this call saw has its change in it.
    fn drain(&mut self, out: &mut Vec<Change>) -> Result<(), SourceError>;

    fn waker(&self) -> Waker;

    /// Report only changes on `port` (every port, for `None`) from now on,
    /// filtered where the source can (in the kernel, for the tracepoint).
    fn follow_port(&mut self, _port: Option<u16>) -> Result<(), SourceError> {
        Ok(())
    }

    fn degradations(&self) -> Vec<Degradation> {
        Vec::new()
    }

    /// Changes the kernel dropped so far (its buffer overflowed): the
    /// table must then be read again to put states right.
    fn lost(&self) -> u64 {
        0
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

/// The backends one pipeline reads: the table, and where available the
/// kernel's own report of each change.
pub struct Sources {
    pub table: Box<dyn SocketSource>,
    pub changes: Option<Box<dyn ChangeSource>>,
    /// Why there are no exact changes, when there are none.
    pub notes: Vec<Degradation>,
}

impl Sources {
    pub fn table_only(table: Box<dyn SocketSource>) -> Self {
        Sources {
            table,
            changes: None,
            notes: Vec::new(),
        }
    }

    /// `sockdiag+trace`, `netstat2`: what the header shows.
    pub fn name(&self) -> String {
        match &self.changes {
            Some(c) => format!("{}+{}", self.table.name(), c.name()),
            None => self.table.name().to_string(),
        }
    }

    pub fn degradations(&self) -> Vec<Degradation> {
        let mut out = self.table.degradations();
        if let Some(c) = &self.changes {
            out.extend(c.degradations());
        }
        out.extend(self.notes.iter().cloned());
        // The most urgent first: lost data, then a recovered reading.
        out.sort_by_key(|d| match d.limit {
            Limit::LostTransitions => 0,
            Limit::TableRecovered => 1,
            _ => 2,
        });
        out
    }
}

/// Opens the chosen backends. A live reading also gets exact changes
/// where this process may read the tracepoint (`Auto` only).
pub fn open(kind: SourceKind, cadence: Cadence, scope: &Scope) -> Result<Sources, SourceError> {
    let table: Box<dyn SocketSource> = match kind {
        SourceKind::Netstat2 => Box::new(Netstat2Source::with_cadence(cadence)),
        SourceKind::Sockdiag => sockdiag::open(cadence)?,
        SourceKind::Auto => {
            sockdiag::open(cadence).or_else(|_| -> Result<Box<dyn SocketSource>, SourceError> {
                Ok(Box::new(Netstat2Source::with_cadence(cadence)))
            })?
        }
    };
    let mut sources = Sources::table_only(table);
    if cadence != Cadence::Live || kind != SourceKind::Auto {
        return Ok(sources);
    }
    match trace::open(scope) {
        Ok(changes) => sources.changes = Some(changes),
        Err(why) => sources
            .notes
            .push(Degradation::new(Limit::ExactTransitions, why.to_string())),
    }
    Ok(sources)
}

/// Gives sockets that share a tuple in one reading (SO_REUSEPORT
/// listeners) distinct keys, so none is lost to a map collision. Every
/// socket of a shared tuple gets its own stable number (its inode, else
/// its cookie), whatever order the reading lists them in; a socket alone
/// on its tuple keeps instance 0, the key the kernel's changes carry.
pub fn separate_shared_tuples(rows: &mut [SocketRow]) {
    use std::collections::{HashMap, HashSet};
    // A connected 4-tuple is unique in the kernel; only unconnected
    // sockets (listeners) can share one.
    let unconnected = |r: &SocketRow| r.key.remote.port() == 0;
    let mut sharing: HashMap<SocketKey, usize> = HashMap::new();
    for row in rows.iter().filter(|r| unconnected(r)) {
        *sharing.entry(row.key).or_default() += 1;
    }
    if sharing.values().all(|&n| n == 1) {
        return;
    }
    let mut taken = HashSet::new();
    for row in rows.iter_mut().filter(|r| unconnected(r)) {
        if sharing.get(&row.key).copied().unwrap_or(0) < 2 {
            continue;
        }
        row.key.instance = row.inode.or(row.cookie).unwrap_or(0).max(1);
        while !taken.insert(row.key) {
            row.key.instance += 1;
        }
    }
}

/// Text for a reading that came back empty: netstat2 turns a netlink
/// failure into an empty list, so "nothing at all" may be an error.
pub const EMPTY_TABLE_WARNING: &str = "the OS reported no TCP sockets at all: if this machine has connections, reading the socket table failed";
