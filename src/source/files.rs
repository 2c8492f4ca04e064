//! The open-files limit: every socket, pipe and tracing file is one, and a
//! low `ulimit -n` must be a clear message, never a crash.

/// Descriptors tcpscope needs for itself (runtime, signals, netlink, a
/// tracing file per CPU, the terminal) before the lab opens any socket.
pub const NEEDED: u64 = 64;

/// The current soft limit.
#[cfg(unix)]
pub fn open_files_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
pub fn open_files_limit() -> Option<u64> {
    None
}

/// Raises the soft limit towards the hard one (allowed without privilege)
/// so the lab can hold its connections; an error when even the hard limit
/// is below what tcpscope needs to start.
#[cfg(unix)]
pub fn raise_open_files_limit(wanted: u64) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return Ok(()); // unlimited
    };
    let target = limit.maximum.map_or(wanted, |max| wanted.min(max));
    if target > current {
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        let _ = setrlimit(Resource::Nofile, raised);
    }
    let now = open_files_limit().unwrap_or(current);
    if now < NEEDED {
        return Err(format!(
            "too many open files: the limit is {now} (ulimit -n) and tcpscope needs at least {NEEDED}; raise it with ulimit -n {NEEDED}"
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn raise_open_files_limit(_wanted: u64) -> Result<(), String> {
    Ok(())
}
