//! Exact TCP state changes from the kernel tracepoint
//! `sock:inet_sock_set_state`, read from a tracefs instance of our own as
//! binary records. Polling sees where connections are; this sees every
//! step with the kernel's timestamp, including states that last
//! microseconds (SYN_SENT, SYN_RECV, FIN_WAIT_1, LAST_ACK), and the
//! socket's kernel address, which tells two sockets on one 4-tuple apart.
//! Linux and root only; the record parser is plain byte handling and is
//! tested everywhere.

mod causes;
pub mod ring;

#[cfg(target_os = "linux")]
mod reader;
#[cfg(target_os = "linux")]
mod session;

#[cfg(target_os = "linux")]
pub use reader::TraceReader;
#[cfg(target_os = "linux")]
pub use session::{TraceSession, clean_up_after_killed_runs, in_use};

use super::{ChangeSource, Scope, SourceError};

/// The kernel-side event filter: TCP only, and only the watched port.
pub fn filter(scope: &Scope) -> String {
    match scope.port {
        Some(p) => format!("protocol == 6 && (sport == {p} || dport == {p})"),
        None => "protocol == 6".to_string(),
    }
}

/// The filter of a hint event that has the ports (nothing to filter on
/// for the others): `None` clears it.
pub fn hint_filter(scope: &Scope) -> Option<String> {
    scope.port.map(|p| format!("sport == {p} || dport == {p}"))
}

/// The tracepoint's changes, when this process may read them.
#[cfg(target_os = "linux")]
pub fn open(scope: &Scope) -> Result<Box<dyn ChangeSource>, SourceError> {
    let session = TraceSession::open(&filter(scope), hint_filter(scope).as_deref())?;
    Ok(Box::new(TraceReader::new(session)?))
}

#[cfg(not(target_os = "linux"))]
pub fn open(_scope: &Scope) -> Result<Box<dyn ChangeSource>, SourceError> {
    Err(SourceError::Unavailable(
        "need Linux (the sock:inet_sock_set_state tracepoint)".into(),
    ))
}

/// Removes tracing instances of runs that were killed (nothing to do
/// where there is no tracefs).
#[cfg(not(target_os = "linux"))]
pub fn clean_up_after_killed_runs() {}

/// No tracefs outside Linux.
#[cfg(not(target_os = "linux"))]
pub fn in_use() -> Option<(std::path::PathBuf, bool)> {
    None
}
