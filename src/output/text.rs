//! `--once`: the grouped table as text, one heading per state with its
//! count, like `netstat -tan` split by state.

use crate::socket::{SocketRow, StateCounts, addr};
use std::fmt::Write;

const HEADERS: [&str; 6] = [
    "Local Address",
    "Remote Address",
    "State",
    "Recv-Q",
    "Send-Q",
    "PID/Program",
];

/// Renders rows already in printer order (see [`super::sort_rows`]).
pub fn render(rows: &[SocketRow]) -> String {
    if rows.is_empty() {
        return "no TCP sockets match\n".to_string();
    }
    let cells: Vec<[String; 6]> = rows.iter().map(cells).collect();
    let widths = column_widths(&cells);
    let counts: StateCounts = rows.iter().map(|r| &r.state).collect();
    let mut out = String::new();
    push_line(&mut out, "  ", &HEADERS.map(String::from), &widths);
    let mut current = None;
    for (row, cells) in rows.iter().zip(&cells) {
        if current != Some(row.state) {
            current = Some(row.state);
            let _ = writeln!(out, "{} ({})", row.state, counts.get(row.state));
        }
        push_line(&mut out, "  ", cells, &widths);
    }
    let plural = if rows.len() == 1 { "" } else { "s" };
    let _ = writeln!(out, "{} socket{plural}", rows.len());
    out
}

fn cells(row: &SocketRow) -> [String; 6] {
    let queue = |q: Option<u32>| q.map_or_else(|| "-".to_string(), |n| n.to_string());
    [
        addr::display(&row.key.local),
        addr::display(&row.key.remote),
        row.state.name().to_string(),
        queue(row.recv_q),
        queue(row.send_q),
        row.pid_label(),
    ]
}

fn column_widths(cells: &[[String; 6]]) -> [usize; 6] {
    let mut widths = HEADERS.map(str::len);
    for row in cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths
}

fn push_line(out: &mut String, indent: &str, cells: &[String; 6], widths: &[usize; 6]) {
    out.push_str(indent);
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        if i + 1 == cells.len() {
            out.push_str(cell);
        } else {
            let _ = write!(out, "{cell:<w$}  ");
        }
    }
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    out.push('\n');
}
