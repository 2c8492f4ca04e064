//! Termination signals as a future, shared by the TUI and `watch`.

/// SIGTERM, SIGHUP, SIGINT and SIGQUIT (Ctrl-C itself arrives as a key in
/// raw mode; SIGINT comes from `kill -INT`). Registered before the first
/// draw, so a signal can never hit the default handler and leave the
/// terminal in raw mode or a tracing instance behind.
pub struct Termination {
    #[cfg(unix)]
    streams: Vec<tokio::signal::unix::Signal>,
}

impl Termination {
    /// Fails (instead of panicking inside tokio) when the signal pipe
    /// cannot be made, typically at a very low open-files limit.
    #[cfg(unix)]
    pub fn register() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let kinds = [
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::interrupt(),
            SignalKind::quit(),
        ];
        let mut streams = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let stream = signal(kind).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen for termination signals: {}",
                    crate::source::error::explain_os(&e)
                )
            })?;
            streams.push(stream);
        }
        Ok(Termination { streams })
    }

    #[cfg(not(unix))]
    pub fn register() -> anyhow::Result<Self> {
        Ok(Termination {})
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
