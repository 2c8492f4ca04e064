//! The text of each table cell, shared by the table and the details pane.

use crate::socket::{SocketRow, TcpState};
use crate::ui::theme::Theme;
use ratatui::style::Style;
use ratatui::text::Span;
use std::time::Instant;

/// Width of the accept-queue gauge on LISTEN rows.
const GAUGE: usize = 6;

/// A queue size, or `-` when the source cannot tell.
pub fn queue(q: Option<u32>) -> String {
    q.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// On a LISTEN row Recv-Q is the accept queue and Send-Q the backlog.
/// Linux counts the queue as full once it holds more than the backlog.
pub fn accept_queue_full(row: &SocketRow) -> bool {
    row.state == TcpState::Listen && matches!((row.recv_q, row.send_q), (Some(q), Some(b)) if q > b)
}

/// Recv-Q: plain, or `queued/backlog` on a LISTEN row.
pub fn recv_q(row: &SocketRow, theme: &Theme) -> Span<'static> {
    match (row.state, row.recv_q, row.send_q) {
        (TcpState::Listen, Some(q), Some(b)) => {
            let style = if accept_queue_full(row) {
                theme.error()
            } else {
                Style::default()
            };
            Span::styled(format!("{q}/{b}"), style)
        }
        (_, q, _) => Span::raw(queue(q)),
    }
}

/// Send-Q: plain, or a small gauge of the accept queue on a LISTEN row.
pub fn send_q(row: &SocketRow, theme: &Theme) -> Span<'static> {
    match (row.state, row.recv_q, row.send_q) {
        (TcpState::Listen, Some(q), Some(b)) if b > 0 => {
            let filled = ((q as usize * GAUGE).div_ceil(b as usize)).min(GAUGE);
            let bar = format!("{}{}", "█".repeat(filled), "░".repeat(GAUGE - filled));
            let style = if accept_queue_full(row) {
                theme.error()
            } else {
                theme.dim()
            };
            Span::styled(bar, style)
        }
        (_, _, q) => Span::raw(queue(q)),
    }
}

/// `timewait 42s`, `on 200ms (2)`, `keepalive 1m59s`: counted down from
/// the kernel's expiry as of `now`, between readings too.
pub fn timer(row: &SocketRow, now: Instant) -> String {
    row.timer.as_ref().map(|t| t.label(now)).unwrap_or_default()
}
