//! Other network namespaces: one named (`ip netns`), given by path, or a
//! process's (a container's, by the PID of a process in it), or every one
//! on the host. Each is read by a sock_diag socket opened inside it (on a
//! thread that enters it with setns(2), which needs root); rows say which
//! namespace they came from, and rows of different namespaces never share
//! a key, even on the same addresses.

use super::namespaced::{Member, Namespaced};
use super::{Cadence, SourceError};

/// How a namespace was asked for on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// `--netns NAME|PATH|PID`.
    One(String),
    /// `--all-netns`: this one and every other.
    All,
}

/// The table of the namespaces asked for, and what it could not open.
#[cfg(target_os = "linux")]
pub fn open(wanted: &Wanted, cadence: Cadence) -> Result<super::Sources, SourceError> {
    let (found, missed) = match wanted {
        Wanted::One(spec) => (vec![linux::one(spec)?], 0),
        Wanted::All => linux::all()?,
    };
    let mut members = Vec::new();
    if *wanted == Wanted::All {
        members.push(Member {
            netns: None,
            source: super::sockdiag::open(cadence)?,
        });
    }
    for ns in found {
        let source = super::link::netns::run(&ns.fd, || super::sockdiag::open(cadence))
            .map_err(|e| linux::refused(ns.name, &e))??;
        members.push(Member {
            netns: Some(ns.name),
            source,
        });
    }
    let mut sources = super::Sources::table_only(Box::new(Namespaced::new(members).kept_apart()));
    if missed > 0 {
        let why = format!(
            "{missed} namespace files (of other users' processes) could not be opened: {}",
            linux::needs("reading every namespace")
        );
        sources
            .notes
            .push(super::Degradation::new(super::Limit::Namespaces, why));
    }
    Ok(sources)
}

#[cfg(not(target_os = "linux"))]
pub fn open(_wanted: &Wanted, _cadence: Cadence) -> Result<super::Sources, SourceError> {
    Err(SourceError::Unavailable(
        "other network namespaces are a Linux feature".into(),
    ))
}

#[cfg(target_os = "linux")]
mod linux {
    use super::SourceError;
    use std::collections::HashSet;
    use std::fs::File;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    /// An open namespace and the name rows will carry.
    pub struct Found {
        /// Kept for the life of the process: a handful per run, and rows
        /// carry names as `&'static str`.
        pub name: &'static str,
        pub fd: OwnedFd,
    }

    fn leak(name: String) -> &'static str {
        Box::leak(name.into_boxed_str())
    }

    /// `NAME` (under /run/netns), a path, or a PID.
    pub fn one(spec: &str) -> Result<Found, SourceError> {
        let (path, name) = if spec.chars().all(|c| c.is_ascii_digit()) && !spec.is_empty() {
            (
                PathBuf::from(format!("/proc/{spec}/ns/net")),
                process_name(spec),
            )
        } else if spec.contains('/') {
            (PathBuf::from(spec), spec.to_string())
        } else {
            (Path::new("/run/netns").join(spec), spec.to_string())
        };
        let fd = File::open(&path).map_err(|e| not_opened(spec, &path, &e))?;
        Ok(Found {
            name: leak(name),
            fd: fd.into(),
        })
    }

    /// Every namespace but this process's: named ones first, then those
    /// of processes (named after the first process found in each); and
    /// how many could not be opened (other users' processes, without root).
    pub fn all() -> Result<(Vec<Found>, usize), SourceError> {
        let own = std::fs::metadata("/proc/self/ns/net")
            .map(|m| m.ino())
            .map_err(|e| {
                SourceError::Unavailable(format!(
                    "cannot read this process's network namespace: {e}"
                ))
            })?;
        let mut seen = HashSet::from([own]);
        let mut out = Vec::new();
        let mut missed = 0;
        for path in named().chain(of_processes()) {
            let file = match File::open(&path.0) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    missed += 1;
                    continue;
                }
                // A process that ended meanwhile.
                Err(_) => continue,
            };
            let Ok(meta) = file.metadata() else { continue };
            if seen.insert(meta.ino()) {
                out.push(Found {
                    name: leak(path.1),
                    fd: file.into(),
                });
            }
        }
        Ok((out, missed))
    }

    fn named() -> impl Iterator<Item = (PathBuf, String)> {
        let dir = std::fs::read_dir("/run/netns")
            .into_iter()
            .flatten()
            .flatten();
        dir.map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
    }

    fn of_processes() -> impl Iterator<Item = (PathBuf, String)> {
        let dir = std::fs::read_dir("/proc").into_iter().flatten().flatten();
        dir.filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            pid.chars()
                .all(|c| c.is_ascii_digit())
                .then(|| (e.path().join("ns/net"), process_name(&pid)))
        })
    }

    /// `pid 1234 (nginx)`: a container's namespace, named by a process in it.
    fn process_name(pid: &str) -> String {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        match comm.trim() {
            "" => format!("pid {pid}"),
            name => format!("pid {pid} ({name})"),
        }
    }

    fn not_opened(spec: &str, path: &Path, e: &std::io::Error) -> SourceError {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "no network namespace '{spec}' ({} does not exist): give a name from `ip netns list`, a path, or the PID of a process in it",
                path.display()
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "cannot open the network namespace '{spec}' ({}): {}",
                path.display(),
                needs("reading another namespace")
            ),
            _ => format!("cannot open the network namespace '{spec}': {e}"),
        };
        SourceError::Unavailable(why)
    }

    /// Why `what` was refused: root is needed, or, as root, something
    /// above root (a container, a user namespace, a security module)
    /// refuses it, which running as root again cannot fix.
    pub fn needs(what: &str) -> String {
        if rustix::process::geteuid().is_root() {
            format!(
                "{what} is refused even to root here: a container, user namespace or security module limits this process"
            )
        } else {
            format!("{what} needs root: run tcpscope as root")
        }
    }

    pub fn refused(name: &str, e: &std::io::Error) -> SourceError {
        let why = match e.raw_os_error() {
            Some(1) => format!(
                "cannot enter the network namespace '{name}': {}",
                needs("entering it (CAP_SYS_ADMIN)")
            ),
            _ => format!("cannot enter the network namespace '{name}': {e}"),
        };
        SourceError::Unavailable(why)
    }
}
