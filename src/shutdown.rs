//! Termination signals as a future, shared by the TUI and `watch`.

/// SIGTERM, SIGHUP, SIGINT and SIGQUIT (Ctrl-C itself arrives as a key in
/// raw mode; SIGINT comes from `kill -INT`). Registered before the first
/// draw, so a signal can never hit the default handler and leave the
/// terminal in raw mode or a tracing instance behind.
pub struct Termination {
    #[cfg(unix)]
    streams: Vec<tokio::signal::unix::Signal>,
    /// Fires when standard output's reader is gone, if that is watched.
    reader_gone: Option<tokio::sync::watch::Receiver<bool>>,
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
        Ok(Termination {
            streams,
            reader_gone: None,
        })
    }

    /// Also ends when nobody reads standard output any more (the ssh
    /// session of `--remote` gone). Otherwise a recorder would notice
    /// only at its next write, perhaps never on a quiet port, keeping its
    /// tracing instance as root.
    #[cfg(unix)]
    pub fn or_when_stdout_closes(mut self) -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let watcher = std::thread::Builder::new()
            .name("tcpscope-reader".into())
            .spawn(move || {
                if stdout_reader_gone() {
                    let _ = tx.send(true);
                }
            });
        if watcher.is_ok() {
            self.reader_gone = Some(rx);
        }
        self
    }

    #[cfg(not(unix))]
    pub fn or_when_stdout_closes(self) -> Self {
        self
    }

    #[cfg(not(unix))]
    pub fn register() -> anyhow::Result<Self> {
        Ok(Termination { reader_gone: None })
    }

    #[cfg(unix)]
    pub async fn wait(&mut self) {
        if self.streams.is_empty() {
            return std::future::pending().await;
        }
        let waits = self.streams.iter_mut().map(|s| Box::pin(s.recv()));
        let signal = futures_util::future::select_all(waits);
        let reader = &mut self.reader_gone;
        // Asked again after it fired, it answers at once.
        let gone = async {
            let fired = match reader {
                Some(rx) => rx.wait_for(|gone| *gone).await.is_ok(),
                None => false,
            };
            if !fired {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = signal => {}
            () = gone => {}
        }
    }

    #[cfg(not(unix))]
    pub async fn wait(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Blocks until standard output reports an error or a hang-up: a pipe
/// or socket whose reading end closed. For a file or a terminal that
/// never comes, and the watching thread just sleeps.
#[cfg(unix)]
fn stdout_reader_gone() -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
    loop {
        match poll(&mut fds, None) {
            Ok(_) => {
                let seen = fds[0].revents();
                return seen.intersects(PollFlags::ERR | PollFlags::HUP);
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}
