//! Files: the open-files limit (every socket, pipe and tracing file is
//! one, and a low `ulimit -n` must be a clear message, never a crash),
//! and files written for the user, which as root must not be a trap.

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

/// Opens `path` for writing a file of the user's (a recording, a capture):
/// never through a symbolic link (as root, a link someone else put in
/// /tmp would otherwise overwrite whatever it points at), never over a
/// file of another user, and under sudo owned by the user who ran sudo.
#[cfg(unix)]
pub fn create_for_user(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(i32::try_from(nofollow).unwrap_or(0))
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == rustix::io::Errno::LOOP.raw_os_error() => std::io::Error::other(
                "it is a symbolic link, which is never followed: name the file itself",
            ),
            _ => e,
        })?;
    let meta = file.metadata()?;
    let me = rustix::process::geteuid().as_raw();
    let user = sudo_user();
    let owner = meta.uid();
    if meta.is_file() && owner != me && Some(owner) != user.map(|(uid, _)| uid) {
        return Err(std::io::Error::other(format!(
            "it belongs to uid {owner}: remove it or choose another name"
        )));
    }
    if meta.is_file() {
        file.set_len(0)?;
        if let (Some((uid, gid)), true) = (user, owner == me && me == 0) {
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        }
    }
    Ok(file)
}

#[cfg(not(unix))]
pub fn create_for_user(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// The user who ran `sudo`, from what sudo sets.
#[cfg(unix)]
fn sudo_user() -> Option<(u32, u32)> {
    let id = |name| std::env::var(name).ok()?.parse::<u32>().ok();
    Some((id("SUDO_UID")?, id("SUDO_GID")?))
}
