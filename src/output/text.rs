//! `--once`: the grouped table as text, one heading per state with its
//! count, like `netstat -tan` split by state. Two passes over the rows
//! (widths, then lines) so nothing but one line is held in memory.

use crate::columns::{self, Column};
use crate::socket::{SocketRow, StateCounts};
use std::io::{self, Write};
use std::time::Instant;

/// Writes rows already in printer order (see [`super::sorted`]).
pub fn write(rows: &[&SocketRow], out: &mut impl Write) -> io::Result<()> {
    if rows.is_empty() {
        return out.write_all(b"no TCP sockets match\n");
    }
    let now = Instant::now();
    // Rows of other namespaces: a column says whose, as in the table.
    let cols = match rows.iter().any(|r| r.netns.is_some()) {
        true => columns::with_netns(columns::ONCE_TEXT),
        false => columns::ONCE_TEXT.to_vec(),
    };
    let widths = column_widths(rows, &cols, now);
    let counts: StateCounts = rows.iter().map(|r| &r.state).collect();
    let mut line = String::with_capacity(256);
    push_line(&mut line, |i, buf| buf.push_str(cols[i].title()), &widths);
    out.write_all(line.as_bytes())?;
    let mut current = None;
    for row in rows {
        if current != Some(row.state) {
            current = Some(row.state);
            writeln!(out, "{} ({})", row.state, counts.get(row.state))?;
        }
        line.clear();
        push_line(&mut line, |i, buf| cell(row, &cols, i, now, buf), &widths);
        out.write_all(line.as_bytes())?;
    }
    let plural = if rows.len() == 1 { "" } else { "s" };
    writeln!(out, "{} socket{plural}", rows.len())
}

/// Appends column `i` of `row` to `buf`: what the source cannot tell is
/// `-`, so every line has every column (for `awk`), except a blank last
/// one.
fn cell(row: &SocketRow, cols: &[Column], i: usize, now: Instant, buf: &mut String) {
    let start = buf.len();
    cols[i].push_text(row, now, buf);
    if buf.len() == start && i + 1 < cols.len() {
        buf.push('-');
    }
}

fn column_widths(rows: &[&SocketRow], cols: &[Column], now: Instant) -> Vec<usize> {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.title().len()).collect();
    let mut buf = String::with_capacity(64);
    for row in rows {
        for (i, w) in widths.iter_mut().enumerate() {
            buf.clear();
            cell(row, cols, i, now, &mut buf);
            *w = (*w).max(width(&buf));
        }
    }
    widths
}

/// One line: indented, columns padded, the last one not, no trailing blanks.
fn push_line(line: &mut String, mut cell: impl FnMut(usize, &mut String), widths: &[usize]) {
    line.push_str("  ");
    for (i, w) in widths.iter().enumerate() {
        let start = line.len();
        cell(i, line);
        if i + 1 < widths.len() {
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
