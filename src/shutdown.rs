//! Termination signals as a future, shared by the TUI and `watch`.

/// SIGTERM, SIGHUP and SIGINT (Ctrl-C itself arrives as a key in raw
/// mode; SIGINT comes from `kill -INT`). Registered before the first
/// draw, so a signal can never hit the default handler and leave the
/// terminal in raw mode.
pub struct Termination {
    #[cfg(unix)]
    streams: Vec<tokio::signal::unix::Signal>,
}

impl Termination {
    #[cfg(unix)]
    pub fn register() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::interrupt(),
        ];
        Termination {
            streams: kinds.into_iter().filter_map(|k| signal(k).ok()).collect(),
        }
    }

    #[cfg(not(unix))]
    pub fn register() -> Self {
        Termination {}
    }

    #[cfg(unix)]
    pub async fn wait(&mut self) {
        if self.streams.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.streams.iter_mut().map(|s| Box::pin(s.recv()));
        futures_util::future::select_all(waits).await;
    }

    #[cfg(not(unix))]
    pub async fn wait(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
