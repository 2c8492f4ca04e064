//! `--json`: one object per socket with the fields DESIGN.md names.

use crate::socket::SocketRow;
use serde::Serialize;

#[derive(Serialize)]
pub struct JsonSocket<'a> {
    proto: &'static str,
    family: &'static str,
    local: String,
    remote: String,
    state: &'static str,
    recv_q: Option<u32>,
    send_q: Option<u32>,
    timer: Option<&'static str>,
    timer_ms: Option<u64>,
    uid: Option<u32>,
    inode: Option<u64>,
    pids: &'a [u32],
    process: Option<&'a str>,
}

impl<'a> From<&'a SocketRow> for JsonSocket<'a> {
    fn from(row: &'a SocketRow) -> Self {
        JsonSocket {
            proto: "tcp",
            family: row.key.family.name(),
            // Plain `ip:port` / `[ip]:port`, so scripts can parse them.
            local: row.key.local.to_string(),
            remote: row.key.remote.to_string(),
            state: row.state.name(),
            recv_q: row.recv_q,
            send_q: row.send_q,
            timer: row.timer.as_ref().map(|t| t.kind),
            timer_ms: row.timer.as_ref().map(|t| t.remaining_ms),
            uid: row.uid,
            inode: row.inode,
            pids: &row.pids,
            process: row.process.as_deref(),
        }
    }
}

/// A pretty-printed JSON array, in the printers' common order.
pub fn render(rows: &[SocketRow]) -> String {
    let objects: Vec<JsonSocket> = rows.iter().map(JsonSocket::from).collect();
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_string_pretty(&objects).unwrap_or_else(|_| "[]".to_string())
}
