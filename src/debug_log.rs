//! `--log FILE`: what happened during a run, for a bug report. One line
//! per event (time, level, thread, what): the options and mode, the
//! sources and what they cannot see, the privileges kept, each key and
//! what it asked for, every status message, and how the run ended.
//! Written through `tracing`; each line reaches the file as it happens,
//! so a run that is killed still leaves its log.

use std::path::Path;
use std::sync::Mutex;

/// Opens the log (as recordings are: never through a symbolic link, nor
/// over another user's file) and sends every event there from now on.
pub fn start(path: &Path) -> Result<(), String> {
    let file = crate::source::files::create_for_user(path).map_err(|e| {
        format!(
            "cannot write the log {}: {}; give --log a file in a directory you can write",
            path.display(),
            crate::source::error::explain_os(&e)
        )
    })?;
    let subscriber = tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_thread_names(true)
        .with_target(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| format!("cannot start the log: {e}"))?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        args = ?std::env::args().skip(1).collect::<Vec<_>>(),
        "tcpscope started"
    );
    Ok(())
}
