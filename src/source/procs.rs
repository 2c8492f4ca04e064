//! Which process owns a socket. On Linux that means walking every
//! `/proc/PID/fd`, ~80 ms at 25k sockets, so it runs on its own thread,
//! only when an inode appears that has not been looked up before, and at
//! most once per [`MIN_SCAN_GAP`] or [`SCAN_COST_FACTOR`] times its own
//! last duration, whichever is longer, so it stays under ~5% of a core
//! however fast the table churns. Owners also change without a new inode
//! (a parent exits and leaves its socket to a forked child), so the walk is
//! repeated every [`REFRESH`] too. Polls never wait for it.
//!
//! The live view asks for less: owners only for the rows on screen
//! ([`ProcNames::fill_cached`] for whole readings), a walk only when one
//! of those is unknown or its owner has exited. A connection made by
//! connect() is named by the kernel's own change record instead (see
//! `trace`), so on a busy port most rows need no walk at all.

use super::{Degradation, Limit};
use crate::socket::{Owner, SocketRow};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::{Duration, Instant};

/// Shortest time between two /proc walks.
pub const MIN_SCAN_GAP: Duration = Duration::from_secs(1);
/// A walk that took `d` is followed by a pause of at least this many `d`.
pub const SCAN_COST_FACTOR: u32 = 20;
/// Owners are walked again this often even when no new inode appears.
pub const REFRESH: Duration = Duration::from_secs(10);
/// How long the first reading waits for the first walk.
const FIRST_WALK_WAIT: Duration = Duration::from_secs(1);

pub type OwnerMap = rustc_hash::FxHashMap<u64, Arc<Owner>>;

/// One walk's owners and how long the walk took.
type ScanResult = (OwnerMap, Duration);

/// Inode → owner cache fed by a background scanner.
pub struct ProcNames {
    owners: Arc<OwnerMap>,
    /// Inodes already covered by a requested scan; if a scan did not find
    /// them (another user's process, no root) they are not asked for again.
    asked: HashSet<u64>,
    scan_pending: bool,
    last_request: Option<Instant>,
    /// How long the last walk took, to pace the next one.
    last_cost: Duration,
    requests: Option<Sender<()>>,
    replies: Option<Receiver<ScanResult>>,
    /// One-shot readings (`--once`) scan inline instead of in the background.
    inline: bool,
    /// What ownership this process can see; fixed for its life, so read once
    /// rather than on every update.
    limits: Vec<Degradation>,
    /// How often owners are walked again without a new inode.
    refresh: Duration,
    /// The first walk has been waited for (only ever once).
    awaited: bool,
    /// The last reading held sockets whose owner is not known yet and
    /// may be: a walk to wait for or to ask for.
    owed: bool,
}

impl ProcNames {
    /// Starts the scanner thread where the OS needs one.
    pub fn start() -> Self {
        Self::refreshing_every(REFRESH)
    }

    /// The same, walking owners again at least every `refresh`. The first
    /// walk starts at once, so the first reading finds owners (rather than
    /// every row changing when they arrive a moment later).
    pub fn refreshing_every(refresh: Duration) -> Self {
        let (requests, replies) = match spawn_scanner() {
            Some((tx, rx)) => (Some(tx), Some(rx)),
            None => (None, None),
        };
        let first = requests.as_ref().is_some_and(|r| r.send(()).is_ok());
        ProcNames {
            owners: Arc::new(OwnerMap::default()),
            asked: HashSet::new(),
            scan_pending: first,
            last_request: first.then(Instant::now),
            last_cost: Duration::ZERO,
            requests,
            replies,
            inline: false,
            limits: ownership_limits(),
            refresh,
            awaited: !first,
            owed: false,
        }
    }

    /// Fills rows from the cache only: nothing new is walked for.
    pub fn fill_cached(&mut self, rows: &mut [SocketRow]) {
        self.take_replies();
        for row in rows.iter_mut() {
            if let Some(owner) = row.inode.and_then(|i| self.owners.get(&i)) {
                row.owner = Some(owner.clone());
            }
        }
    }

    /// The rows on screen: from the cache, with a walk if one is unknown
    /// or held by a process that has exited (its socket may have passed
    /// to a child). Never blocks.
    pub fn fill_shown(&mut self, rows: &mut [SocketRow]) {
        self.fill_cached(rows);
        let unknown = rows
            .iter()
            .any(|r| r.owner.is_none() && r.inode.is_some_and(|i| !self.asked.contains(&i)));
        let exited = || {
            let mut seen = rustc_hash::FxHashSet::default();
            rows.iter()
                .filter_map(|r| r.owner.as_ref())
                .filter(|o| seen.insert(Arc::as_ptr(o)))
                .any(|o| o.pids().any(|pid| !process_alive(pid)))
        };
        if unknown || exited() {
            self.request_scan(rows);
        }
    }

    /// For a single reading: the first `fill` walks /proc right away.
    pub fn inline() -> Self {
        ProcNames {
            owners: Arc::new(OwnerMap::default()),
            asked: HashSet::new(),
            scan_pending: false,
            last_request: None,
            last_cost: Duration::ZERO,
            requests: None,
            replies: None,
            inline: true,
            limits: ownership_limits(),
            refresh: REFRESH,
            awaited: true,
            owed: false,
        }
    }

    /// Fills `pids` and `process` from the cache, and asks for a scan if
    /// some inode is new. Never blocks.
    pub fn fill(&mut self, rows: &mut [SocketRow]) {
        self.take_replies();
        if !self.awaited {
            self.awaited = true;
            self.await_first_walk();
        }
        let mut unknown = false;
        for row in rows.iter_mut() {
            let Some(inode) = row.inode else { continue };
            match self.owners.get(&inode) {
                Some(owner) => row.owner = Some(owner.clone()),
                None => unknown |= !self.asked.contains(&inode),
            }
        }
        let stale = self
            .last_request
            .is_some_and(|t| t.elapsed() >= self.refresh);
        if unknown || stale {
            self.request_scan(rows);
        }
        self.owed = unknown || self.scan_pending;
    }

    /// Whether another reading would bring owners the last one lacked
    /// (a walk was asked for, or must still be): then the table is worth
    /// reading even while the kernel's counters stand still.
    pub fn owes_owners(&self) -> bool {
        self.owed || self.scan_pending
    }

    pub fn degradations(&self) -> Vec<Degradation> {
        self.limits.clone()
    }

    /// The limits of an optional cache (none when owners are not looked up).
    pub fn limits_of(procs: Option<&ProcNames>) -> Vec<Degradation> {
        procs.map(ProcNames::degradations).unwrap_or_default()
    }

    /// Waits (a little) for the walk started with the cache.
    fn await_first_walk(&mut self) {
        let Some(replies) = &self.replies else { return };
        if let Ok((map, cost)) = replies.recv_timeout(FIRST_WALK_WAIT) {
            self.owners = Arc::new(map);
            self.last_cost = cost;
            self.scan_pending = false;
        }
    }

    fn take_replies(&mut self) {
        let Some(replies) = &self.replies else { return };
        while let Ok((map, cost)) = replies.try_recv() {
            self.owners = Arc::new(map);
            self.last_cost = cost;
            self.scan_pending = false;
            // The first walk is in: nothing left to wait for.
            self.awaited = true;
        }
    }

    fn request_scan(&mut self, rows: &mut [SocketRow]) {
        if self.inline {
            self.asked.extend(rows.iter().filter_map(|r| r.inode));
            self.owners = Arc::new(scan_proc());
            self.inline = false;
            return self.fill(rows);
        }
        let Some(requests) = &self.requests else {
            return;
        };
        let gap = MIN_SCAN_GAP
            .min(self.refresh)
            .max(self.last_cost * SCAN_COST_FACTOR);
        let too_soon = self.last_request.is_some_and(|t| t.elapsed() < gap);
        if self.scan_pending || too_soon {
            return;
        }
        if requests.send(()).is_err() {
            return;
        }
        self.scan_pending = true;
        self.last_request = Some(Instant::now());
        if self.asked.len() > rows.len() * 2 + 1024 {
            // Forget inodes of sockets long gone, so the set stays bounded.
            self.asked.clear();
        }
        self.asked.extend(rows.iter().filter_map(|r| r.inode));
    }
}

/// How soon the scanner takes on the main thread's confinement.
#[cfg(any(target_os = "linux", target_os = "android"))]
const FOLLOW: Duration = Duration::from_millis(200);

#[cfg(any(target_os = "linux", target_os = "android"))]
fn spawn_scanner() -> Option<(Sender<()>, Receiver<ScanResult>)> {
    let (req_tx, req_rx) = std::sync::mpsc::channel::<()>();
    let (rep_tx, rep_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tcpscope-procs".into())
        .spawn(move || {
            use std::sync::mpsc::RecvTimeoutError;
            // Ends when the cache (and so the request sender) is dropped.
            // Started during setup, it wakes now and then until it has
            // taken on the privileges the main thread keeps afterwards.
            let mut followed = false;
            loop {
                let request = if followed {
                    req_rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                } else {
                    req_rx.recv_timeout(FOLLOW)
                };
                followed = crate::source::confine::follow_for_owners();
                match request {
                    Ok(()) => {}
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                while req_rx.try_recv().is_ok() {}
                let started = Instant::now();
                let owners = scan_proc();
                if rep_tx.send((owners, started.elapsed())).is_err() {
                    break;
                }
            }
        })
        .ok()?;
    Some((req_tx, rep_rx))
}

/// Elsewhere netstat2 already attaches PIDs, so there is nothing to scan.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn spawn_scanner() -> Option<(Sender<()>, Receiver<ScanResult>)> {
    None
}

/// One walk over `/proc/*/fd`: every socket inode and the processes
/// holding it. Unreadable entries (other users' processes) are skipped.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn scan_proc() -> OwnerMap {
    let mut owners: rustc_hash::FxHashMap<u64, Owner> = Default::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return OwnerMap::default();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let inodes = socket_inodes(pid);
        if inodes.is_empty() {
            continue;
        }
        let name = process_name(pid);
        for inode in inodes {
            let owner = owners.entry(inode).or_default();
            if !owner.procs.iter().any(|p| p.pid == pid) {
                owner.procs.push(crate::socket::Process {
                    pid,
                    name: name.clone(),
                });
            }
        }
    }
    // One shared owner per set of processes: a server with 10k sockets
    // costs one, not 10k.
    let mut shared: rustc_hash::FxHashMap<Owner, Arc<Owner>> = Default::default();
    owners
        .into_iter()
        .map(|(inode, owner)| {
            let one = shared
                .entry(owner)
                .or_insert_with_key(|o| Arc::new(o.clone()));
            (inode, one.clone())
        })
        .collect()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn scan_proc() -> OwnerMap {
    OwnerMap::default()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let text = link.to_str()?;
            text.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// Whether process `pid` still exists (a stat, no walk).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn process_alive(pid: u32) -> bool {
    std::fs::metadata(format!("/proc/{pid}")).is_ok()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn process_alive(_pid: u32) -> bool {
    true
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn process_name(pid: u32) -> Option<Arc<str>> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(Arc::from(comm.trim_end()))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn ownership_limits() -> Vec<Degradation> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    let euid = std::fs::metadata("/proc/self").map(|m| m.uid());
    if euid.is_ok_and(|uid| uid == 0) {
        return Vec::new();
    }
    vec![Degradation::new(
        Limit::ProcessNames,
        "only your own processes are shown; run as root to see all",
    )]
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn ownership_limits() -> Vec<Degradation> {
    vec![Degradation::new(
        Limit::ProcessNames,
        "only PIDs on this OS; names are read on Linux",
    )]
}
