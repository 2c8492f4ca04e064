//! Headless printers: the same rows and names as the TUI, as text, JSON
//! or the NDJSON event stream.

pub mod json;
pub mod text;
pub mod watch;

use crate::socket::SocketRow;

/// Lifecycle order of states, then local and remote address: the order
/// every printer uses. Sorts references, so big rows are not moved.
pub fn sorted<'a>(rows: impl IntoIterator<Item = &'a SocketRow>) -> Vec<&'a SocketRow> {
    let mut refs: Vec<&SocketRow> = rows.into_iter().collect();
    refs.sort_unstable_by(|a, b| {
        (a.state, a.key.local, a.key.remote).cmp(&(b.state, b.key.local, b.key.remote))
    });
    refs
}
