//! A tracefs instance of our own (`instances/tcpscope-PID-START-N`), with
//! only `sock:inet_sock_set_state` enabled and the `mono` clock. It is
//! removed when dropped, and instances left by a run that was killed
//! (SIGKILL runs no cleanup) are removed at the next start, whatever that
//! run's mode. tracefs is mounted through mount(2) if it was not, and
//! unmounted again when the last session of this process ends.

use super::ring::HintEvent;
use crate::cleanup::{self, Registration};
use crate::source::{SourceError, os_error};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

pub const EVENT: &str = "events/sock/inet_sock_set_state";
/// Ring buffer per CPU, in KiB: room for ~50k changes before a reader
/// that fell behind loses any.
const BUFFER_KB: &str = "4096";
const ROOTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const PREFIX: &str = "tcpscope-";

static NEXT: AtomicU64 = AtomicU64::new(0);
/// The tracefs mount this process uses, shared by its sessions.
static TRACEFS: Mutex<Weak<Tracefs>> = Mutex::new(Weak::new());

/// tracefs, and whether this process mounted it (then it unmounts it).
pub struct Tracefs {
    pub root: PathBuf,
    pub mounted_here: bool,
    _unmount: Option<Registration>,
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        if self.mounted_here {
            unmount(&self.root);
        }
    }
}

/// Not lazily: if anyone still uses it (another tcpscope), it stays.
fn unmount(root: &Path) {
    let _ = rustix::mount::unmount(root, rustix::mount::UnmountFlags::empty());
}

fn tracefs() -> Result<Arc<Tracefs>, SourceError> {
    let mut shared = TRACEFS
        .lock()
        .map_err(|_| SourceError::Unavailable("tracefs state is poisoned".into()))?;
    if let Some(t) = shared.upgrade() {
        return Ok(t);
    }
    let t = Arc::new(mount_tracefs()?);
    *shared = Arc::downgrade(&t);
    Ok(t)
}

/// Where this process's tracing instances live and whether it mounted
/// tracefs itself; `None` while it holds no session.
pub fn in_use() -> Option<(PathBuf, bool)> {
    let t = TRACEFS.lock().ok()?.upgrade()?;
    Some((t.root.join("instances"), t.mounted_here))
}

fn mounted_root() -> Option<PathBuf> {
    ROOTS
        .iter()
        .map(PathBuf::from)
        .find(|r| r.join("instances").is_dir())
}

/// Why tracefs cannot be used: not mounted (and not mountable), or
/// mounted where this user may not look (its root directory is root's).
fn unreachable_why(root: &Path, mount_error: rustix::io::Errno) -> String {
    if let Err(e) = fs::read_dir(root)
        && e.kind() == ErrorKind::PermissionDenied
    {
        return format!(
            "need root: {} belongs to root (tcpscope doctor gives the fix)",
            root.display()
        );
    }
    format!(
        "need root: tracefs is not mounted and mounting it failed ({})",
        crate::source::error::os_words(&std::io::Error::from(mount_error))
    )
}

fn mount_tracefs() -> Result<Tracefs, SourceError> {
    if let Some(root) = mounted_root() {
        return Ok(Tracefs {
            root,
            mounted_here: false,
            _unmount: None,
        });
    }
    let root = PathBuf::from(ROOTS[0]);
    let flags = rustix::mount::MountFlags::empty();
    let mounted = rustix::mount::mount("nodev", &root, "tracefs", flags, None);
    // Another process may have mounted it meanwhile; then it is theirs.
    match (mounted, mounted_root()) {
        (Ok(()), Some(root)) => {
            let at = root.clone();
            Ok(Tracefs {
                root,
                mounted_here: true,
                _unmount: Some(cleanup::register(move || unmount(&at))),
            })
        }
        (Err(_), Some(root)) => Ok(Tracefs {
            root,
            mounted_here: false,
            _unmount: None,
        }),
        (Err(e), None) => Err(SourceError::Unavailable(unreachable_why(&root, e))),
        (Ok(()), None) => Err(SourceError::Unavailable(
            "tracefs was mounted but has no instances directory".into(),
        )),
    }
}

pub struct TraceSession {
    dir: PathBuf,
    /// The events besides the state changes that tell causes, as far as
    /// this kernel has them.
    hints: Vec<HintEvent>,
    tracefs: Arc<Tracefs>,
    _cleanup: Registration,
}

impl TraceSession {
    /// A configured instance with the event enabled; `filter` is the
    /// event filter (e.g. `protocol == 6`).
    pub fn open(filter: &str, hint_filter: Option<&str>) -> Result<TraceSession, SourceError> {
        let tracefs = tracefs()?;
        let root = tracefs.root.clone();
        let _ = remove_stale_instances(&root);
        if !root.join(EVENT).exists() {
            return Err(SourceError::Unavailable(
                "this kernel lacks the sock:inet_sock_set_state tracepoint (Linux 4.16+)".into(),
            ));
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let me = std::process::id();
        let start = start_time(me).unwrap_or(0);
        // `-m`: this run mounted tracefs, so a run after a killed one
        // knows to unmount it (see `clean_up_after_killed_runs`).
        let mounted = if tracefs.mounted_here {
            MOUNTED_MARK
        } else {
            ""
        };
        let dir = root
            .join("instances")
            .join(format!("{PREFIX}{me}-{start}-{n}{mounted}"));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                let doing = format!("cannot create the tracing instance {}", dir.display());
                return Err(os_error(doing, &e));
            }
        }
        let at = dir.clone();
        let mut session = TraceSession {
            dir,
            hints: Vec::new(),
            tracefs,
            _cleanup: cleanup::register(move || remove_instance(&at)),
        };
        configure(&session.dir, filter)?;
        session.hints = enable_hints(&session.dir, hint_filter);
        Ok(session)
    }

    /// The hint events enabled in this instance.
    pub fn hints(&self) -> &[HintEvent] {
        &self.hints
    }

    pub fn instance(&self) -> &Path {
        &self.dir
    }

    /// A new event filter, in force at once: the kernel then drops what
    /// no one watches before it is written to the buffer.
    pub fn set_filter(&self, filter: &str, hint_filter: Option<&str>) -> Result<(), SourceError> {
        for h in self.hints.iter().filter(|h| h.has_ports()) {
            // A hint unfiltered costs little: it is there to be complete.
            let _ = fs::write(
                self.dir.join(h.path()).join("filter"),
                hint_filter.unwrap_or("0"),
            );
        }
        let file = self.dir.join(EVENT).join("filter");
        fs::write(&file, filter)
            .map_err(|e| os_error(format!("cannot set the filter in {}", file.display()), &e))
    }

    /// Whether tracefs had to be mounted for this session.
    pub fn mounted(&self) -> bool {
        self.tracefs.mounted_here
    }

    /// A tracefs file of the instance (or, failing that, of the root).
    pub fn read(&self, file: &str) -> Result<String, SourceError> {
        read_whole(&self.dir.join(file))
            .or_else(|_| read_whole(&self.tracefs.root.join(file)))
            .map_err(|e| os_error(format!("cannot read {file} in tracefs"), &e))
    }
}

impl Drop for TraceSession {
    fn drop(&mut self) {
        remove_instance(&self.dir);
    }
}

/// Some tracefs files (`events/header_page`) answer only a read at offset
/// 0, so the whole file must come in one read, with room to spare.
fn read_whole(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; 64 * 1024];
    let n = fs::File::open(path)?.read(&mut buf)?;
    buf.truncate(n);
    String::from_utf8(buf).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

fn configure(dir: &Path, filter: &str) -> Result<(), SourceError> {
    let write = |file: &str, value: &str| {
        fs::write(dir.join(file), value).map_err(|e| {
            let doing = format!("cannot set {file} in {}", dir.display());
            os_error(doing, &e)
        })
    };
    write("trace_clock", "mono")?;
    // Optional tunings: a bigger ring loses fewer changes under heavy
    // churn; buffer_percent 0 makes poll(2) wake on the first change.
    let _ = fs::write(dir.join("buffer_size_kb"), BUFFER_KB);
    let _ = fs::write(dir.join("buffer_percent"), "0");
    write(&format!("{EVENT}/filter"), filter)?;
    write(&format!("{EVENT}/enable"), "1")
}

/// Enables each hint event this kernel has; the ones that took.
fn enable_hints(dir: &Path, hint_filter: Option<&str>) -> Vec<HintEvent> {
    let enable = |h: HintEvent| {
        let at = dir.join(h.path());
        if let (true, Some(f)) = (h.has_ports(), hint_filter) {
            fs::write(at.join("filter"), f).ok()?;
        }
        if let Some(f) = h.own_filter() {
            fs::write(at.join("filter"), f).ok()?;
        }
        fs::write(at.join("enable"), "1").ok()
    };
    HintEvent::ALL
        .into_iter()
        .filter(|h| enable(*h).is_some())
        .collect()
}

/// Disables the events and removes the instance directory (the kernel
/// frees its buffers). Fails quietly while files in it are still open.
pub fn remove_instance(dir: &Path) {
    for h in HintEvent::ALL {
        let _ = fs::write(dir.join(h.path()).join("enable"), "0");
    }
    let _ = fs::write(dir.join(EVENT).join("enable"), "0");
    let _ = fs::remove_dir(dir);
}

/// Instances left by a tcpscope that no longer runs: its PID is gone, is a
/// zombie, or now belongs to another process (a different start time).
/// Whether one of them had mounted tracefs.
pub fn remove_stale_instances(root: &Path) -> bool {
    let Ok(entries) = fs::read_dir(root.join("instances")) else {
        return false;
    };
    let mut mounted = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let mut parts = rest.split('-');
        let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let started = parts.next().and_then(|s| s.parse::<u64>().ok());
        if !owner_alive(pid, started) {
            remove_instance(&entry.path());
            mounted |= rest.ends_with(MOUNTED_MARK);
        }
    }
    mounted
}

/// The end of an instance's name when its run mounted tracefs.
const MOUNTED_MARK: &str = "-m";

/// Whether process `pid` still runs and is the one that made the instance.
fn owner_alive(pid: u32, started: Option<u64>) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some((state, start)) = parse_stat(&stat) else {
        return false;
    };
    state != 'Z' && started.is_none_or(|s| s == 0 || s == start)
}

/// Process state and start time (fields 3 and 22) from `/proc/PID/stat`;
/// the name in parentheses may itself hold spaces and parentheses.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, start)| start)
}

/// Removes stale instances if tracefs is mounted and readable; called at
/// every start, so even `--once` cleans up after a killed live view.
/// A killed run that had mounted tracefs is undone too: unmounted, as its
/// exit would have, unless something uses it now (then the kernel says
/// busy and it stays).
pub fn clean_up_after_killed_runs() {
    if let Some(root) = mounted_root()
        && remove_stale_instances(&root)
    {
        unmount(&root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 987654)));
        assert_eq!(parse_stat("1 (z) Z 0"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = std::process::id();
        let start = start_time(me).expect("own start time");
        assert!(owner_alive(me, Some(start)));
        assert!(owner_alive(me, None));
        assert!(!owner_alive(me, Some(start + 1)), "another process's PID");
        assert!(!owner_alive(u32::MAX - 1, None));
    }
}
