//! Headless printers: the same rows and names as the TUI, as text or JSON.

pub mod human;
pub mod json;
pub mod text;
pub mod watch;

use crate::socket::SocketRow;

/// Lifecycle order of states, then local and remote address: the order
/// every printer uses. Sorts references, so big rows are not moved.
pub fn sorted(rows: &[SocketRow]) -> Vec<&SocketRow> {
    let mut refs: Vec<&SocketRow> = rows.iter().collect();
    refs.sort_unstable_by(|a, b| {
        (a.state, a.key.local, a.key.remote).cmp(&(b.state, b.key.local, b.key.remote))
    });
    refs
}
