//! Headless printers: the same rows and names as the TUI, as text, JSON
//! or the NDJSON event stream.

pub mod doctor;
pub mod json;
pub mod manual;
pub mod record_file;
pub mod recording;
pub mod serve;
pub mod text;
pub mod watch;

use crate::socket::addr::{OrderKey, order_key};
use crate::socket::{Filter, SocketRow};
use std::io::{self, Write};

/// One reading as `--once` prints it: the rows `filter` admits, sorted,
/// as JSON or as the grouped text table.
pub fn table(
    rows: &[SocketRow],
    filter: &Filter,
    json: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let rows = sorted(rows.iter().filter(|r| filter.matches(r)));
    if json {
        json::write(&rows, out)
    } else {
        text::write(&rows, out)
    }
}

/// Lifecycle order of states, then local and remote address: the order
/// every printer uses. Sorts on compact byte keys (comparing `SocketAddr`s
/// made up most of the sort's time), and moves references, not rows.
pub fn sorted<'a>(rows: impl IntoIterator<Item = &'a SocketRow>) -> Vec<&'a SocketRow> {
    let mut keyed: Vec<(RowOrder, &SocketRow)> =
        rows.into_iter().map(|r| (row_order(r), r)).collect();
    keyed.sort_unstable_by_key(|k| k.0);
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// State, then each address's key as a number pair: integer compares,
/// where byte arrays went through `memcmp`.
type RowOrder = (u8, u128, u32, u128, u32);

fn row_order(r: &SocketRow) -> RowOrder {
    let (la, lb) = split(order_key(&r.key.local));
    let (ra, rb) = split(order_key(&r.key.remote));
    (r.state.index() as u8, la, lb, ra, rb)
}

/// A key's first 16 bytes and last 3, both big-endian: they order as the
/// bytes do.
fn split(key: OrderKey) -> (u128, u32) {
    let mut head = [0u8; 16];
    head.copy_from_slice(&key[..16]);
    let tail = u32::from_be_bytes([0, key[16], key[17], key[18]]);
    (u128::from_be_bytes(head), tail)
}
