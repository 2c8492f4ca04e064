//! `--json`: one object per socket with the fields DESIGN.md names, plus
//! `user`, serialised from one type (the event stream uses the same
//! approach), streamed so memory stays flat however many sockets there are.

use crate::socket::{Family, SocketRow, TcpState};
use serde::Serialize;
use std::io::{self, Write};
use std::net::SocketAddr;

/// One socket: `local` and `remote` are plain `ip:port` / `[ip]:port` so
/// scripts can parse them; unknown values are `null`.
#[derive(Debug, Serialize)]
pub struct SocketObject<'a> {
    pub proto: &'static str,
    pub family: Family,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: TcpState,
    pub recv_q: Option<u32>,
    pub send_q: Option<u32>,
    pub timer: Option<&'static str>,
    pub timer_ms: Option<u32>,
    pub uid: Option<u32>,
    pub user: Option<&'a str>,
    pub inode: Option<u64>,
    pub pids: Vec<u32>,
    pub process: Option<&'a str>,
}

impl<'a> From<&'a SocketRow> for SocketObject<'a> {
    fn from(row: &'a SocketRow) -> Self {
        SocketObject {
            proto: "tcp",
            family: row.key.family,
            local: row.key.local,
            remote: row.key.remote,
            state: row.state,
            recv_q: row.recv_q,
            send_q: row.send_q,
            timer: row.timer.as_ref().map(|t| t.kind.name()),
            timer_ms: row.timer.as_ref().map(|t| t.remaining_ms),
            uid: row.uid,
            user: row.user.as_deref(),
            inode: row.inode,
            pids: row.owner.iter().flat_map(|o| o.pids()).collect(),
            process: row.owner.as_deref().and_then(|o| o.name()),
        }
    }
}

/// A JSON array with one socket object per line: valid JSON for `jq`,
/// and still readable and greppable as text.
pub fn write(rows: &[&SocketRow], out: &mut impl Write) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, row) in rows.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, &SocketObject::from(*row))?;
    }
    out.write_all(b"\n]\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Owner, Process, SocketKey};
    use std::sync::Arc;

    #[test]
    fn objects_are_valid_json_with_every_field() {
        let key = SocketKey::new(
            Family::Inet6,
            "[::1]:80".parse().expect("addr"),
            "[::]:0".parse().expect("addr"),
        );
        let mut row = SocketRow::new(key, TcpState::Listen);
        row.recv_q = Some(1);
        let name = |n: &str| Some(Arc::from(n));
        row.owner = Some(Arc::new(Owner {
            procs: vec![
                Process {
                    pid: 7,
                    name: name("we\"ird\\name\u{1}"),
                },
                Process {
                    pid: 8,
                    name: name("child"),
                },
            ],
        }));
        let mut buf = Vec::new();
        write(&[&row], &mut buf).expect("write");
        let v: serde_json::Value = serde_json::from_slice(&buf).expect("valid JSON");
        let o = &v[0];
        assert_eq!(o["local"], "[::1]:80");
        assert_eq!(o["remote"], "[::]:0");
        assert_eq!(o["family"], "inet6");
        assert_eq!(o["state"], "LISTEN");
        assert_eq!(o["recv_q"], 1);
        assert!(o["send_q"].is_null() && o["timer"].is_null() && o["timer_ms"].is_null());
        assert_eq!(o["pids"], serde_json::json!([7, 8]));
        assert_eq!(o["process"], "we\"ird\\name\u{1}");
        let fields = [
            "proto", "family", "local", "remote", "state", "recv_q", "send_q", "timer", "timer_ms",
            "uid", "user", "inode", "pids", "process",
        ];
        assert_eq!(o.as_object().map(|m| m.len()), Some(fields.len()));
    }
}
