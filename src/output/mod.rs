//! Headless printers: the same rows and names as the TUI, as text or JSON.

pub mod json;
pub mod text;

use crate::socket::SocketRow;

/// Lifecycle order of states, then local and remote address: the order
/// every printer uses.
pub fn sort_rows(rows: &mut [SocketRow]) {
    rows.sort_by(|a, b| {
        (a.state, a.key.local, a.key.remote).cmp(&(b.state, b.key.local, b.key.remote))
    });
}
