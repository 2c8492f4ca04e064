//! Exact TCP state transitions from the kernel tracepoint
//! `sock:inet_sock_set_state`, read through tracefs in an instance of our
//! own. Polling sees where connections are; this sees every step, with the
//! kernel's timestamp, including states that last microseconds (SYN_SENT,
//! SYN_RECV, FIN_WAIT_1, LAST_ACK). Linux and root only; the parser is
//! plain text handling and is tested everywhere.

mod parse;

#[cfg(target_os = "linux")]
mod session;
#[cfg(target_os = "linux")]
mod traced;

pub use parse::{TraceLine, TracedChange, parse_line};
#[cfg(target_os = "linux")]
pub use session::TraceSession;
#[cfg(target_os = "linux")]
pub use traced::TracedSource;

use super::SocketSource;

/// Wraps `inner` with the tracepoint when this process may use it;
/// otherwise returns `inner` and why exact transitions are unavailable.
#[cfg(target_os = "linux")]
pub fn with_trace(inner: Box<dyn SocketSource>) -> (Box<dyn SocketSource>, Option<String>) {
    match TraceSession::open() {
        Ok(session) => (Box::new(TracedSource::new(inner, session)), None),
        Err(why) => (inner, Some(why.0)),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn with_trace(inner: Box<dyn SocketSource>) -> (Box<dyn SocketSource>, Option<String>) {
    (
        inner,
        Some("need Linux (the sock:inet_sock_set_state tracepoint)".into()),
    )
}

/// Removes this process's tracing instance; for the panic hook, where no
/// destructor will run. Does nothing if none was created.
pub fn cleanup_after_panic() {
    #[cfg(target_os = "linux")]
    session::remove_registered_instance();
}
