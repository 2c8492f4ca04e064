//! `--json`: one object per socket with the fields DESIGN.md names, plus
//! `user`. Written by hand rather than through serde: the fields are fixed
//! and this is the hot loop of `--once --json` over tens of thousands of
//! sockets (serde's generic path measured about twice as slow here).

use crate::socket::SocketRow;
use std::io::{self, Write};

/// A JSON array with one socket object per line: valid JSON for `jq`,
/// and still readable and greppable as text. Streamed, so memory stays
/// flat however many sockets there are.
pub fn write(rows: &[&SocketRow], out: &mut impl Write) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, row) in rows.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        object(row, out)?;
    }
    out.write_all(b"\n]\n")
}

/// One socket: `local` and `remote` are plain `ip:port` / `[ip]:port` so
/// scripts can parse them; unknown values are `null`.
pub fn object(row: &SocketRow, out: &mut impl Write) -> io::Result<()> {
    write!(
        out,
        r#"{{"proto":"tcp","family":"{}","local":"{}","remote":"{}","state":"{}","recv_q":"#,
        row.key.family.name(),
        row.key.local,
        row.key.remote,
        row.state.name()
    )?;
    number(out, row.recv_q)?;
    out.write_all(br#","send_q":"#)?;
    number(out, row.send_q)?;
    out.write_all(br#","timer":"#)?;
    match &row.timer {
        Some(t) => write!(out, r#""{}","timer_ms":{}"#, t.kind.name(), t.remaining_ms)?,
        None => out.write_all(br#"null,"timer_ms":null"#)?,
    }
    out.write_all(br#","uid":"#)?;
    number(out, row.uid)?;
    out.write_all(br#","user":"#)?;
    string(out, row.user.as_deref())?;
    out.write_all(br#","inode":"#)?;
    number(out, row.inode)?;
    out.write_all(br#","pids":["#)?;
    for (i, pid) in row.pids.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        write!(out, "{sep}{pid}")?;
    }
    out.write_all(br#"],"process":"#)?;
    string(out, row.process.as_deref())?;
    out.write_all(b"}")
}

fn number<N: std::fmt::Display>(out: &mut impl Write, n: Option<N>) -> io::Result<()> {
    match n {
        Some(n) => write!(out, "{n}"),
        None => out.write_all(b"null"),
    }
}

/// A JSON string (process and user names can hold any character).
fn string(out: &mut impl Write, s: Option<&str>) -> io::Result<()> {
    let Some(s) = s else {
        return out.write_all(b"null");
    };
    out.write_all(b"\"")?;
    for c in s.chars() {
        match c {
            '"' => out.write_all(b"\\\"")?,
            '\\' => out.write_all(b"\\\\")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => write!(out, "{c}")?,
        }
    }
    out.write_all(b"\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Family, SocketKey, TcpState};
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
        row.pids = vec![7, 8];
        row.process = Some(Arc::from("we\"ird\\name\u{1}"));
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
