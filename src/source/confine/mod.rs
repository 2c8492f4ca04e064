//! Least privilege after setup: once a mode has opened what needs
//! privilege (tracing instance, packet socket, netlink sockets), it keeps
//! only the capabilities its later work still uses, sets no_new_privs
//! and, where the kernel has Landlock, confines the file system to what
//! the mode writes. Reading stays open (process names, /etc/passwd, demo
//! files read again): what is taken away is writing, running programs
//! and the privileges no later step uses.
//!
//! Capabilities, no_new_privs and Landlock all belong to a thread and are
//! inherited by the threads it starts, so `confine` runs on the main
//! thread after setup and before any other thread exists; the runtime and
//! every worker are started after it.

#[cfg(target_os = "linux")]
mod linux;

use super::{Degradation, Limit};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What a mode still does after its setup, and so must keep.
#[derive(Clone, Debug, Default)]
pub struct Needs {
    /// Finding the process of every socket: /proc/PID/fd of other users'
    /// processes (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH).
    pub owners: bool,
    /// `K`: destroying a socket through sock_diag (CAP_NET_ADMIN).
    pub destroy: bool,
    /// A capture started later, by the segments pane (CAP_NET_RAW).
    pub capture: bool,
    /// Entering namespaces at each reading, `--netns`/`--all-netns`
    /// (CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH).
    pub namespaces: bool,
    /// The tracing instance: its filter is changed and it is removed at
    /// exit (files under tracefs).
    pub tracefs: Option<PathBuf>,
    /// tracefs was mounted by this process and is unmounted at exit; an
    /// unmount is something Landlock always refuses, and needs
    /// CAP_SYS_ADMIN.
    pub unmount: bool,
    /// Binds a port below 1024 later (the lab's server, `serve`'s
    /// metrics address): CAP_NET_BIND_SERVICE.
    pub low_port: bool,
    /// Runs programs later (ssh for `--remote`): ssh's own configuration
    /// says where it writes (known_hosts, control sockets), so the file
    /// system is left as it is.
    pub runs_ssh: bool,
    /// Directories written after setup (the pcap file the live view
    /// opens when it starts).
    pub writes: Vec<PathBuf>,
}

/// What confinement did: `missing` becomes the header's note; the rest
/// says what was applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Confinement {
    /// The capabilities still held (names as in capabilities(7)).
    pub kept: Vec<String>,
    pub no_new_privs: bool,
    /// The file system is confined by Landlock.
    pub files: bool,
    /// Why some part was not applied, if any.
    pub missing: Vec<String>,
}

impl Needs {
    /// Adds the tracing instances this process holds, if any.
    pub fn with_tracing(mut self) -> Self {
        if let Some((instances, mounted_here)) = super::trace::in_use() {
            self.tracefs = Some(instances);
            self.unmount = mounted_here;
        }
        self
    }

    /// Adds the directory a file will be created in.
    pub fn writing(mut self, file: Option<&Path>) -> Self {
        if let Some(file) = file {
            let dir = match file.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            self.writes.push(dir);
        }
        self
    }
}

impl Confinement {
    /// For the header, when something could not be applied.
    pub fn degradation(&self) -> Option<Degradation> {
        if self.missing.is_empty() {
            return None;
        }
        let why = format!("not confined: {}", self.missing.join("; "));
        Some(Degradation::new(Limit::Confinement, why))
    }
}

/// Drops what `needs` does not use; with `sandbox` false (`--no-sandbox`)
/// changes nothing and says so. Never fails: what cannot be applied is
/// reported in the result, and the mode runs on.
pub fn confine(needs: &Needs, sandbox: bool) -> Confinement {
    if !sandbox {
        let _ = APPLIED.set(None);
        return Confinement {
            missing: vec!["--no-sandbox was given".into()],
            ..Confinement::default()
        };
    }
    let _ = APPLIED.set(Some(needs.clone()));
    let done = apply(needs);
    tracing::info!(
        kept = ?done.kept,
        no_new_privs = done.no_new_privs,
        landlock = done.files,
        missing = ?done.missing,
        "confined after setup"
    );
    done
}

/// What the main thread was confined to, for threads started before;
/// `None` once `--no-sandbox` said to keep everything.
static APPLIED: OnceLock<Option<Needs>> = OnceLock::new();

thread_local! {
    static FOLLOWED: Cell<bool> = const { Cell::new(false) };
}

/// For the owner scanner, started during setup: takes on the main
/// thread's capabilities and no_new_privs, once, at its next step. Not
/// its Landlock rules: they refuse ptrace access to processes outside
/// the sandbox, and reading another process's /proc/PID/fd needs it.
/// True once there is nothing left to follow (done, or `--no-sandbox`).
pub fn follow_for_owners() -> bool {
    match APPLIED.get() {
        None => false,
        Some(None) => true,
        Some(Some(needs)) => {
            if !FOLLOWED.replace(true) {
                privileges(needs);
            }
            true
        }
    }
}

#[cfg(target_os = "linux")]
fn apply(needs: &Needs) -> Confinement {
    linux::apply(needs)
}

#[cfg(target_os = "linux")]
fn privileges(needs: &Needs) {
    linux::privileges(needs);
}

#[cfg(not(target_os = "linux"))]
fn privileges(_needs: &Needs) {}

#[cfg(not(target_os = "linux"))]
fn apply(_needs: &Needs) -> Confinement {
    Confinement {
        missing: vec!["confinement is implemented for Linux only".into()],
        ..Confinement::default()
    }
}

/// For a thread that works only on descriptors it was handed (a capture
/// reader, the link's forwarder): every capability dropped, no_new_privs.
pub fn drop_all_here() {
    #[cfg(target_os = "linux")]
    linux::drop_all_here();
}

/// Termination signals held (blocked) on this thread while a mode sets
/// up, before their handlers exist: one that arrives meanwhile waits and
/// is delivered when released, after the handlers are registered, so it
/// still ends in the cleanup. Threads started meanwhile inherit the mask
/// and leave the signal to the main thread.
pub struct HeldSignals {
    #[cfg(target_os = "linux")]
    _held: Option<linux::Held>,
}

impl HeldSignals {
    pub fn hold() -> HeldSignals {
        HeldSignals {
            #[cfg(target_os = "linux")]
            _held: linux::Held::hold(),
        }
    }

    /// Delivers what arrived while held.
    pub fn release(self) {}
}
