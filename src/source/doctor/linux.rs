//! The checks on Linux: each opens, and then closes, what the feature
//! uses.

use super::{Check, privilege_fix};
use crate::source::{Cadence, Scope, capture, sockdiag, trace};
use caps::{CapSet, Capability};

pub fn run() -> Vec<Check> {
    let fix = privilege_fix();
    vec![
        Check::new("the socket table", table(), "use --source netstat2"),
        Check::new("exact transitions", transitions(), &tracefs_fix(&fix)),
        Check::new("every process's owner", owners(), &fix),
        Check::new("destroying a socket (K)", destroy(), &fix),
        Check::new("segments (--segments, the pane)", segments(), &fix),
        Check::new("other namespaces (--netns)", namespaces(), &fix),
        Check::new("the lab's link (lab --wire)", link(), &fix),
        Check::new(
            "confinement after setup",
            confinement(),
            "Linux 5.13+ with lsm=landlock",
        ),
    ]
}

fn table() -> Result<String, String> {
    let mut table = sockdiag::open(Cadence::Once).map_err(|e| e.to_string())?;
    table
        .dump(&Scope::on_port(Some(1)))
        .map_err(|e| e.to_string())?;
    Ok("sock_diag: states, queues, timers, tcp_info".into())
}

fn transitions() -> Result<String, String> {
    // Made and removed again: the instance lives while it is held.
    let changes = trace::open(&Scope::on_port(Some(1))).map_err(|e| e.to_string())?;
    drop(changes);
    Ok("the sock:inet_sock_set_state tracepoint, from a tracing instance of its own".into())
}

/// tracefs belongs to root: a user with capabilities needs DAC override
/// for its files, which the setcap line gives.
fn tracefs_fix(fix: &str) -> String {
    format!(
        "{fix} (tracefs's files belong to root: cap_dac_override lets the binary make its tracing instance; a kernel in lockdown refuses tracing to everyone)"
    )
}

fn owners() -> Result<String, String> {
    // init's descriptors: another user's for anyone but root.
    match std::fs::read_dir("/proc/1/fd") {
        Ok(_) => Ok("every process's /proc/PID/fd".into()),
        Err(e) => Err(format!(
            "only your own processes are named (/proc/1/fd: {}; needs CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)",
            crate::source::error::explain_os(&e)
        )),
    }
}

fn destroy() -> Result<String, String> {
    let held = caps::has_cap(None, CapSet::Effective, Capability::CAP_NET_ADMIN).unwrap_or(false);
    if held {
        Ok("sock_diag SOCK_DESTROY (with CAP_NET_ADMIN; the kernel needs CONFIG_INET_DIAG_DESTROY)".into())
    } else {
        Err("sock_diag SOCK_DESTROY needs CAP_NET_ADMIN".into())
    }
}

fn segments() -> Result<String, String> {
    let capture = capture::start(1).map_err(|e| e.to_string())?;
    drop(capture);
    Ok("a packet socket with the port's filter".into())
}

/// setns(2) into this very namespace: the same check as entering another.
/// `--all-netns` also opens every process's namespace, init's first.
fn namespaces() -> Result<String, String> {
    in_thread(|| {
        let ns = std::fs::File::open("/proc/thread-self/ns/net")
            .map_err(|e| format!("/proc/thread-self/ns/net: {e}"))?;
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("setns(2): {e} (needs CAP_SYS_ADMIN)"))?;
        let all = match std::fs::File::open("/proc/1/ns/net") {
            Ok(_) => String::new(),
            Err(e) if rustix::process::geteuid().is_root() => format!(
                "; --all-netns cannot open other processes' namespaces: /proc/1/ns/net: {e}, refused even to root here (a container, user namespace or security module)"
            ),
            Err(e) => {
                format!("; --all-netns sees only your processes' namespaces (/proc/1/ns/net: {e})")
            }
        };
        Ok(format!(
            "setns(2) into each namespace at every reading{all}"
        ))
    })
}

/// A namespace made (and gone with the thread) and the TUN device node.
fn link() -> Result<String, String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(|e| format!("/dev/net/tun: {}", crate::source::error::explain_os(&e)))?;
    in_thread(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("unshare(2) of a network namespace: {e} (needs CAP_SYS_ADMIN)"))?;
        Ok("two network namespaces joined by TUN devices".into())
    })
}

/// A thread of its own, so the process stays in its namespace.
fn in_thread(
    check: impl FnOnce() -> Result<String, String> + Send + 'static,
) -> Result<String, String> {
    std::thread::spawn(check)
        .join()
        .unwrap_or_else(|_| Err("the check's thread panicked".into()))
}

/// Landlock tried on a thread of its own, which it then confines alone.
fn confinement() -> Result<String, String> {
    use landlock::{AccessFs, Ruleset, RulesetAttr, RulesetStatus};
    in_thread(|| {
        let status = Ruleset::default()
            .handle_access(AccessFs::MakeFifo)
            .and_then(|r| r.create())
            .and_then(|r| r.restrict_self())
            .map_err(|e| {
                format!("capabilities are dropped and no_new_privs set, but Landlock failed: {e}")
            })?;
        match status.ruleset {
            RulesetStatus::NotEnforced => Err(
                "capabilities are dropped and no_new_privs set, but this kernel has no Landlock"
                    .into(),
            ),
            _ => Ok("capabilities dropped, no_new_privs, Landlock on what each mode writes".into()),
        }
    })
}
