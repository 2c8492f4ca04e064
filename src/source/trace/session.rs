//! A tracefs instance of our own (`instances/tcpscope-PID`), with only
//! `sock:inet_sock_set_state` enabled for TCP and the `mono` clock, read by
//! a thread. Removed when dropped, and by the panic hook through
//! [`remove_registered_instance`].

use super::parse::{TraceLine, TracedChange, parse_line};
use crate::source::SourceError;
use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const EVENT: &str = "events/sock/inet_sock_set_state";
/// O_NONBLOCK: the reader polls, so it can notice it should stop.
const O_NONBLOCK: i32 = 0o4000;
const IDLE: Duration = Duration::from_millis(5);
const BUFFER_KB: &str = "4096";

/// Open instances, for cleanup from the panic hook (no destructor runs
/// there). A plain registry: written twice per session, read on panic.
static INSTANCES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

pub struct TraceSession {
    dir: PathBuf,
    changes: Receiver<TracedChange>,
    lost: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    /// Set when tcpscope had to mount tracefs itself.
    pub mounted: bool,
}

impl TraceSession {
    pub fn open() -> Result<TraceSession, SourceError> {
        let (root, mounted) = tracefs_root()?;
        remove_stale_instances(&root);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = root
            .join("instances")
            .join(format!("tcpscope-{}-{n}", std::process::id()));
        if !root.join(EVENT).exists() {
            return Err(SourceError(
                "this kernel lacks the sock:inet_sock_set_state tracepoint (Linux 4.16+)".into(),
            ));
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(SourceError(format!(
                    "cannot create the tracing instance {}: {e}",
                    dir.display()
                )));
            }
        }
        if let Ok(mut open) = INSTANCES.lock() {
            open.push(dir.clone());
        }
        if let Err(e) = configure(&dir) {
            remove_instance(&dir);
            return Err(e);
        }
        let (session_parts, reader) = start_reader(&dir).inspect_err(|_| remove_instance(&dir))?;
        let (changes, lost, stop) = session_parts;
        Ok(TraceSession {
            dir,
            changes,
            lost,
            stop,
            reader: Some(reader),
            mounted,
        })
    }

    /// Every change read since the last call, oldest first.
    pub fn drain(&self) -> Vec<TracedChange> {
        self.changes.try_iter().collect()
    }

    /// Events the kernel dropped because its buffer overflowed, in total.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    pub fn instance(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TraceSession {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        remove_instance(&self.dir);
    }
}

/// tracefs, mounted by us if needed (root only).
fn tracefs_root() -> Result<(PathBuf, bool), SourceError> {
    for root in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(root).join("instances").is_dir() {
            return Ok((PathBuf::from(root), false));
        }
    }
    let root = PathBuf::from("/sys/kernel/tracing");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tracefs", "nodev"])
        .arg(&root)
        .output()
        .is_ok_and(|o| o.status.success());
    // Another process (or a parallel test) may have mounted it meanwhile.
    if root.join("instances").is_dir() {
        return Ok((root, mounted));
    }
    Err(SourceError(
        "need root: tracefs is not mounted and could not be mounted (run as root, or mount -t tracefs nodev /sys/kernel/tracing)".into(),
    ))
}

fn configure(dir: &Path) -> Result<(), SourceError> {
    let write = |file: &str, value: &str| {
        fs::write(dir.join(file), value).map_err(|e| {
            let hint = if e.kind() == ErrorKind::PermissionDenied {
                " (need root)"
            } else {
                ""
            };
            SourceError(format!("cannot set {file} in {}: {e}{hint}", dir.display()))
        })
    };
    write("trace_clock", "mono")?;
    // A bigger ring than the default loses fewer events under heavy churn
    // (per CPU; 4 MiB each).
    let _ = fs::write(dir.join("buffer_size_kb"), BUFFER_KB);
    write(&format!("{EVENT}/filter"), "protocol == 6")?;
    write(&format!("{EVENT}/enable"), "1")
}

type ReaderParts = (Receiver<TracedChange>, Arc<AtomicU64>, Arc<AtomicBool>);

fn start_reader(dir: &Path) -> Result<(ReaderParts, JoinHandle<()>), SourceError> {
    let pipe = fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(dir.join("trace_pipe"))
        .map_err(|e| SourceError(format!("cannot open {}/trace_pipe: {e}", dir.display())))?;
    let (tx, rx) = mpsc::channel();
    let lost = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (lost2, stop2) = (lost.clone(), stop.clone());
    let reader = std::thread::Builder::new()
        .name("tcpscope-trace".into())
        .spawn(move || read_loop(pipe, &tx, &lost2, &stop2))
        .map_err(|e| SourceError(format!("cannot start the trace reader: {e}")))?;
    Ok(((rx, lost, stop), reader))
}

fn read_loop(pipe: fs::File, tx: &mpsc::Sender<TracedChange>, lost: &AtomicU64, stop: &AtomicBool) {
    let mut reader = BufReader::with_capacity(64 * 1024, pipe);
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        match reader.read_line(&mut line) {
            Ok(0) => std::thread::sleep(IDLE),
            Ok(_) if !line.ends_with('\n') => continue, // partial line: read on
            Ok(_) => {
                let parsed = parse_line(&line);
                line.clear();
                match parsed {
                    Some(TraceLine::Change(c)) => {
                        let Ok(()) = tx.send(c) else { return };
                    }
                    Some(TraceLine::Lost(n)) => {
                        lost.fetch_add(n, Ordering::Relaxed);
                    }
                    None => {}
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(IDLE),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
    let _ = reader.get_mut().read(&mut []);
}

/// Disables the event and removes the instance directory.
fn remove_instance(dir: &Path) {
    let _ = fs::write(dir.join(EVENT).join("enable"), "0");
    let _ = fs::remove_dir(dir);
    if let Ok(mut open) = INSTANCES.lock() {
        open.retain(|d| d != dir);
    }
}

pub fn remove_registered_instance() {
    let dirs = INSTANCES
        .lock()
        .map(|open| open.clone())
        .unwrap_or_default();
    for dir in dirs {
        remove_instance(&dir);
    }
}

/// Instances left by a tcpscope that was killed (SIGKILL runs no cleanup):
/// `tcpscope-PID-N` whose PID no longer exists.
fn remove_stale_instances(root: &Path) {
    let Ok(entries) = fs::read_dir(root.join("instances")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("tcpscope-"))
            .and_then(|r| r.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            remove_instance(&entry.path());
        }
    }
}
