//! `--once`: the grouped table as text, one heading per state with its
//! count, like `netstat -tan` split by state. Two passes over the rows
//! (widths, then lines) so nothing but one line is held in memory.

use crate::socket::{SocketRow, StateCounts, addr, printable};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Instant;

const COLUMNS: usize = 8;
const HEADERS: [&str; COLUMNS] = [
    "Local Address",
    "Remote Address",
    "State",
    "Recv-Q",
    "Send-Q",
    "Timer",
    "User",
    "PID/Program",
];

/// Writes rows already in printer order (see [`super::sorted`]).
pub fn write(rows: &[&SocketRow], out: &mut impl Write) -> io::Result<()> {
    if rows.is_empty() {
        return out.write_all(b"no TCP sockets match\n");
    }
    let now = Instant::now();
    let widths = column_widths(rows, now);
    let counts: StateCounts = rows.iter().map(|r| &r.state).collect();
    let mut line = String::with_capacity(256);
    push_line(&mut line, |i, buf| buf.push_str(HEADERS[i]), &widths);
    out.write_all(line.as_bytes())?;
    let mut current = None;
    for row in rows {
        if current != Some(row.state) {
            current = Some(row.state);
            writeln!(out, "{} ({})", row.state, counts.get(row.state))?;
        }
        line.clear();
        push_line(&mut line, |i, buf| cell(row, i, now, buf), &widths);
        out.write_all(line.as_bytes())?;
    }
    let plural = if rows.len() == 1 { "" } else { "s" };
    writeln!(out, "{} socket{plural}", rows.len())
}

/// Appends column `i` of `row` to `buf`.
fn cell(row: &SocketRow, i: usize, now: Instant, buf: &mut String) {
    let queue = |q: Option<u32>, buf: &mut String| match q {
        Some(n) => buf.push_str(itoa::Buffer::new().format(n)),
        None => buf.push('-'),
    };
    match i {
        0 => addr::push_display(&row.key.local, buf),
        1 => addr::push_display(&row.key.remote, buf),
        2 => buf.push_str(row.state.name()),
        3 => queue(row.recv_q, buf),
        4 => queue(row.send_q, buf),
        5 => match &row.timer {
            Some(t) => buf.push_str(&t.label(now)),
            None => buf.push('-'),
        },
        6 => match (&row.user, row.uid) {
            (Some(u), _) if !u.chars().any(char::is_control) => buf.push_str(u),
            (Some(u), _) => buf.push_str(&printable(u)),
            (None, Some(uid)) => {
                let _ = write!(buf, "{uid}");
            }
            (None, None) => buf.push('-'),
        },
        _ => {
            // Another namespace's socket says whose (`--all-netns`).
            if let Some(ns) = row.netns {
                let _ = write!(buf, "[{}] ", printable(ns));
            }
            if let Some(owner) = &row.owner {
                buf.push_str(&owner.label());
            }
        }
    }
}

fn column_widths(rows: &[&SocketRow], now: Instant) -> [usize; COLUMNS] {
    let mut widths = HEADERS.map(str::len);
    let mut buf = String::with_capacity(64);
    for row in rows {
        for (i, w) in widths.iter_mut().enumerate() {
            buf.clear();
            cell(row, i, now, &mut buf);
            *w = (*w).max(width(&buf));
        }
    }
    widths
}

/// One line: indented, columns padded, the last one not, no trailing blanks.
fn push_line(
    line: &mut String,
    mut cell: impl FnMut(usize, &mut String),
    widths: &[usize; COLUMNS],
) {
    line.push_str("  ");
    for (i, w) in widths.iter().enumerate() {
        let start = line.len();
        cell(i, line);
        if i + 1 < COLUMNS {
            let used = width(&line[start..]);
            pad(line, w.saturating_sub(used) + 2);
        }
    }
    let trimmed = line.trim_end_matches(' ').len();
    line.truncate(trimmed);
    line.push('\n');
}

/// Characters in `s` (a column's width): counting is most of a big
/// table's printing time, and nearly every cell is ASCII.
fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

fn pad(line: &mut String, n: usize) {
    const SPACES: &str = "                                ";
    let mut left = n;
    while left > 0 {
        let now = left.min(SPACES.len());
        line.push_str(&SPACES[..now]);
        left -= now;
    }
}
