//! The source layer's error: what was being done, the OS's own words
//! without a bare error number, and what would help.

use super::sockdiag::netlink::NetlinkError;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An OS call failed.
    #[error("{doing}: {cause}")]
    Os { doing: String, cause: String },
    /// The kernel's sock_diag reply could not be used.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// Something this system or this process cannot give, and why.
    #[error("{0}")]
    Unavailable(String),
}

/// An OS error while `doing` something, worded for the user: too many open
/// files names the limit, a refusal says root would help.
pub fn os_error(doing: impl Into<String>, err: &io::Error) -> SourceError {
    SourceError::Os {
        doing: doing.into(),
        cause: explain_os(err),
    }
}

/// The OS's message without Rust's "(os error N)" suffix, plus the fix
/// where there is a usual one.
pub fn explain_os(err: &io::Error) -> String {
    match err.raw_os_error() {
        // EMFILE, ENFILE
        Some(24 | 23) => too_many_files(),
        // EPERM, EACCES
        Some(1 | 13) => format!("{} (run as root)", os_words(err)),
        _ => os_words(err),
    }
}

/// `too many open files (limit 64): raise it with ulimit -n`.
pub fn too_many_files() -> String {
    match super::files::open_files_limit() {
        Some(n) => format!("too many open files (limit {n}): raise it with ulimit -n"),
        None => "too many open files: raise the limit with ulimit -n".to_string(),
    }
}

/// The OS's own message, e.g. "Permission denied".
pub fn os_words(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
