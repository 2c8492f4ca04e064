//! Confinement on Linux: the capability sets through `caps`, the file
//! system through `landlock`, no_new_privs through prctl(2).

use super::{Confinement, Needs};
use caps::{CapSet, Capability, CapsHashSet};
use landlock::{
    ABI, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use std::path::PathBuf;

/// The newest rules asked for; an older kernel enforces what it has.
const LANDLOCK: ABI = ABI::V5;

pub fn apply(needs: &Needs) -> Confinement {
    let mut done = privileges(needs);
    match files(needs) {
        Ok(confined) => done.files = confined,
        Err(why) => done.missing.push(why),
    }
    done
}

/// Capabilities and no_new_privs only, without Landlock.
pub fn privileges(needs: &Needs) -> Confinement {
    let mut done = Confinement::default();
    match drop_others(&wanted(needs)) {
        Ok(kept) => done.kept = names(&kept),
        Err(why) => done.missing.push(why),
    }
    match rustix::thread::set_no_new_privs(true) {
        Ok(()) => done.no_new_privs = true,
        Err(e) => done.missing.push(format!("no_new_privs: {e}")),
    }
    done
}

/// For a thread that works only on descriptors it was given (the
/// capture reader, the link's forwarder): nothing at all is kept.
pub fn drop_all_here() {
    let _ = drop_others(&CapsHashSet::new());
    let _ = rustix::thread::set_no_new_privs(true);
}

fn wanted(needs: &Needs) -> CapsHashSet {
    use Capability::*;
    let mut keep = CapsHashSet::new();
    if needs.owners || needs.namespaces {
        keep.extend([CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH]);
    }
    if needs.namespaces || needs.unmount {
        keep.insert(CAP_SYS_ADMIN);
    }
    if needs.destroy {
        keep.insert(CAP_NET_ADMIN);
    }
    if needs.capture {
        keep.insert(CAP_NET_RAW);
    }
    if needs.low_port {
        keep.insert(CAP_NET_BIND_SERVICE);
    }
    // tracefs belongs to root: a user given capabilities by setcap
    // changes the instance's filter and removes it at exit only with
    // CAP_DAC_OVERRIDE (root owns the files and needs none).
    if needs.tracefs.is_some() && !rustix::process::geteuid().is_root() {
        keep.insert(CAP_DAC_OVERRIDE);
    }
    keep
}

/// Keeps `keep` ∩ permitted. The bounding set goes first, while
/// CAP_SETPCAP is still held: as uid 0 a program run later (ssh) would
/// otherwise get every capability back.
fn drop_others(keep: &CapsHashSet) -> Result<CapsHashSet, String> {
    let permitted =
        caps::read(None, CapSet::Permitted).map_err(|e| format!("capabilities: {e}"))?;
    let keep: CapsHashSet = keep.intersection(&permitted).copied().collect();
    if permitted.contains(&Capability::CAP_SETPCAP) {
        for cap in caps::all().difference(&keep) {
            let _ = caps::drop(None, CapSet::Bounding, *cap);
        }
    }
    let _ = caps::clear(None, CapSet::Ambient);
    let set = |set, value: &CapsHashSet| {
        caps::set(None, set, value).map_err(|e| format!("capabilities: {e}"))
    };
    set(CapSet::Inheritable, &CapsHashSet::new())?;
    set(CapSet::Effective, &keep)?;
    set(CapSet::Permitted, &keep)?;
    Ok(keep)
}

fn names(caps: &CapsHashSet) -> Vec<String> {
    let mut names: Vec<String> = caps.iter().map(ToString::to_string).collect();
    names.sort();
    names
}

/// Landlock: no writing outside what the mode writes, no programs run.
/// Ok(false) where the mode must keep the file system as it is.
fn files(needs: &Needs) -> Result<bool, String> {
    // ssh's own configuration says where it writes; namespace files of
    // other processes open only with ptrace access, which Landlock
    // refuses outside the sandbox (the owner scanner, which needs it
    // too, is left out of the rules: see `follow_for_owners`).
    if needs.runs_ssh || needs.namespaces {
        return Ok(false);
    }
    if needs.unmount {
        // Landlock refuses every unmount, and tracefs must go at exit.
        return Err("files: tcpscope mounted tracefs and unmounts it at exit".into());
    }
    let handled = AccessFs::from_write(LANDLOCK) | AccessFs::Execute;
    let writable = AccessFs::from_write(LANDLOCK);
    let fail = |e: landlock::RulesetError| format!("files: {e}");
    let mut ruleset = Ruleset::default()
        .handle_access(handled)
        .map_err(fail)?
        .create()
        .map_err(fail)?;
    for dir in writable_dirs(needs) {
        // A directory that is not there has nothing to allow.
        let Ok(fd) = PathFd::new(&dir) else { continue };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, writable))
            .map_err(fail)?;
    }
    let status = ruleset.restrict_self().map_err(fail)?;
    match status.ruleset {
        RulesetStatus::NotEnforced => {
            Err("files: this kernel has no Landlock (Linux 5.13+, lsm=landlock)".into())
        }
        _ => Ok(true),
    }
}

/// The terminal and /dev/null, the tracing instances (filters changed,
/// ours removed at exit), and what the mode names.
fn writable_dirs(needs: &Needs) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/dev")];
    dirs.extend(needs.tracefs.iter().cloned());
    dirs.extend(needs.writes.iter().cloned());
    dirs
}

/// SIGINT, SIGTERM, SIGHUP blocked on this thread until dropped.
pub struct Held {
    before: SigSet,
}

impl Held {
    pub fn hold() -> Option<Held> {
        let mut set = SigSet::empty();
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(signal);
        }
        let mut before = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut before)).ok()?;
        Some(Held { before })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.before), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Landlock, capabilities and no_new_privs belong to a thread: a
    /// thread of its own is confined, and the test process is not.
    #[test]
    fn a_confined_thread_writes_only_where_its_mode_writes() {
        let allowed = tempfile::tempdir().expect("a directory");
        let other = tempfile::tempdir().expect("another directory");
        let needs = Needs {
            writes: vec![allowed.path().to_path_buf()],
            ..Needs::default()
        };
        let (a, b) = (allowed.path().join("kept"), other.path().join("refused"));
        let outcome = std::thread::spawn(move || {
            let done = apply(&needs);
            if !done.files {
                return Err(done.missing.join("; "));
            }
            let ran = std::process::Command::new("/bin/true").status();
            Ok((std::fs::write(&a, "x"), std::fs::write(&b, "x"), ran, done))
        })
        .join()
        .expect("the thread ran");
        let (kept, refused, ran, done) = match outcome {
            Ok(o) => o,
            Err(why) => return eprintln!("skipped: no Landlock here ({why})"),
        };
        assert!(kept.is_ok(), "{kept:?}");
        let refused = refused.expect_err("writing elsewhere is refused");
        assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(ran.is_err(), "running a program is refused: {ran:?}");
        assert!(done.no_new_privs && done.kept.is_empty(), "{done:?}");
        assert!(!other.path().join("refused").exists());
    }
}
