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
    push_line(&mut line, &cols, &widths, |col, _, buf| {
        buf.push_str(col.title())
    });
    out.write_all(line.as_bytes())?;
    let mut current = None;
    for row in rows {
        if current != Some(row.state) {
            current = Some(row.state);
            writeln!(out, "{} ({})", row.state, counts.get(row.state))?;
        }
        line.clear();
        push_line(&mut line, &cols, &widths, |col, last, buf| {
            cell(row, col, last, now, buf);
        });
        out.write_all(line.as_bytes())?;
    }
    let plural = if rows.len() == 1 { "" } else { "s" };
    writeln!(out, "{} socket{plural}", rows.len())
}

/// Appends `col` of `row` to `buf`: what the source cannot tell is `-`,
/// so every line has every column (for `awk`), except a blank last one.
#[inline(always)]
fn cell(row: &SocketRow, col: Column, last: bool, now: Instant, buf: &mut String) {
    let start = buf.len();
    col.push_text(row, now, buf);
    if buf.len() == start && !last {
        buf.push('-');
    }
}

fn column_widths(rows: &[&SocketRow], cols: &[Column], now: Instant) -> Vec<usize> {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.title().len()).collect();
    let mut buf = String::with_capacity(64);
    for row in rows {
        for (w, col) in widths.iter_mut().zip(cols) {
            buf.clear();
            // The last column's width is never used: its blank can stay blank.
            cell(row, *col, true, now, &mut buf);
            *w = (*w).max(width(&buf));
        }
    }
    widths
}

/// One line: indented, columns padded, the last one not, no trailing blanks.
fn push_line(
    line: &mut String,
    cols: &[Column],
    widths: &[usize],
    mut cell: impl FnMut(Column, bool, &mut String),
) {
    line.push_str("  ");
    let last = cols.len().saturating_sub(1);
    for (i, (col, w)) in cols.iter().zip(widths).enumerate() {
        let start = line.len();
        cell(*col, i == last, line);
        if i != last {
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
