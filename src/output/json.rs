//! `--json`: one object per socket with the fields the README lists (a
//! contract, see ARCHITECTURE.md), streamed so memory stays flat however
//! many sockets there are.
//!
//! Written by hand rather than through serde: a whole table is printed in
//! one go and this is most of `--once --json`'s own time (measured at 26k
//! sockets: 5.1 ms by hand, 14.6 ms through `serde_json` per row). The
//! tests hold it to what a serde-derived type writes, byte for byte.

use crate::columns::{self, Column};
use crate::socket::{Owner, SocketRow, addr};
use crate::source::names;
use rustc_hash::FxHashMap;
use std::io::{self, Write};

/// A JSON array with one socket object per line: valid JSON for `jq`,
/// and still readable and greppable as text.
pub fn write(rows: &[&SocketRow], out: &mut impl Write) -> io::Result<()> {
    let mut names = Escaped::default();
    let mut line = String::with_capacity(320);
    out.write_all(b"[")?;
    for (i, row) in rows.iter().enumerate() {
        line.clear();
        line.push_str(if i == 0 { "\n" } else { ",\n" });
        object(row, &mut names, &mut line);
        out.write_all(line.as_bytes())?;
    }
    out.write_all(b"\n]\n")
}

/// The documented object: the JSON columns of the column model in their
/// order (`proto`, `family`, `local`, `remote`, `state`, `recv_q`,
/// `send_q`, `timer`, `timer_ms`, `uid`, `user`, `inode`, `pids`,
/// `process`, and `netns` for another namespace's socket); unknown values
/// are `null`.
fn object(row: &SocketRow, names: &mut Escaped, out: &mut String) {
    // The object opens with its first field (`proto`), whose value never
    // varies; the rest are written one after the other, unrolled from the
    // column model's list (a loop over it cost a dispatch per field: 18%
    // more instructions per object, measured).
    out.push_str("{\"proto\":\"tcp");
    let mut w = Pairs { out, open: true };
    macro_rules! each {
        (Proto $(, $col:ident)*) => {
            $(pairs(Column::$col, row, names, &mut w);)*
        };
    }
    columns::json_columns!(each);
    w.close();
    out.push('}');
}

/// The pairs being written. A string value is left open, and the next
/// key's literal closes it (`","remote":"` in one copy, not two): most
/// of the object's time is these small copies.
struct Pairs<'a> {
    out: &'a mut String,
    open: bool,
}

impl Pairs<'_> {
    /// `key` is written `"\",\"name\":"` (with `\"` after the colon for a
    /// string): its first quote closes an open string, else is skipped.
    #[inline(always)]
    fn key(&mut self, key: &'static str) {
        // Two copies of known length (each inlined), not one of a length
        // known only at run time (a call to memmove).
        if self.open {
            self.out.push_str(key);
        } else {
            self.out.push_str(&key[1..]);
        }
        self.open = key.ends_with(":\"");
    }

    fn close(&mut self) {
        if self.open {
            self.out.push('"');
            self.open = false;
        }
    }

    #[inline(always)]
    fn number<N: itoa::Integer>(&mut self, key: &'static str, n: Option<N>) {
        self.key(key);
        match n {
            Some(n) => self.out.push_str(itoa::Buffer::new().format(n)),
            None => self.out.push_str("null"),
        }
    }
}

/// One column's pairs (Netns is left out for this namespace's sockets).
#[inline(always)]
fn pairs(col: Column, row: &SocketRow, names: &mut Escaped, w: &mut Pairs) {
    match col {
        Column::Proto => {
            w.key("\",\"proto\":\"");
            w.out.push_str("tcp");
        }
        Column::Family => {
            w.key("\",\"family\":\"");
            w.out.push_str(row.key.family.name());
        }
        Column::Local => {
            w.key("\",\"local\":\"");
            addr::push_plain(&row.key.local, w.out);
            if let Some(host) = names::host(row.key.local.ip()) {
                w.key("\",\"local_host\":");
                w.out.push_str(&string(&host));
            }
        }
        Column::Remote => {
            w.key("\",\"remote\":\"");
            addr::push_plain(&row.key.remote, w.out);
            if let Some(host) = names::host(row.key.remote.ip()) {
                w.key("\",\"remote_host\":");
                w.out.push_str(&string(&host));
            }
        }
        Column::State => {
            w.key("\",\"state\":\"");
            w.out.push_str(row.state.name());
        }
        Column::RecvQ => w.number("\",\"recv_q\":", row.recv_q),
        Column::SendQ => w.number("\",\"send_q\":", row.send_q),
        Column::Timer => match &row.timer {
            Some(t) => {
                w.key("\",\"timer\":\"");
                w.out.push_str(t.kind.name());
                w.number("\",\"timer_ms\":", Some(t.remaining_ms));
            }
            None => w.key("\",\"timer\":null,\"timer_ms\":null"),
        },
        Column::Uid => w.number("\",\"uid\":", row.uid),
        Column::User => {
            w.key("\",\"user\":");
            names.user(row.user.as_deref(), w.out);
        }
        Column::Inode => w.number("\",\"inode\":", row.inode),
        Column::Process => {
            w.key("\",");
            names.owner(row.owner.as_deref(), w.out);
        }
        Column::Netns => {
            if let Some(ns) = row.netns {
                // Names come from /run/netns or a process: escape as any text.
                w.key("\",\"netns\":");
                w.out.push_str(&string(ns));
            }
        }
        // Not a field of the object: it needs the connection's history.
        Column::InState => {}
    }
}

/// JSON text of names, escaped once: thousands of rows share a few users
/// and owners (the same `Arc`), so each is keyed by its address.
#[derive(Default)]
struct Escaped {
    users: FxHashMap<usize, String>,
    owners: FxHashMap<usize, String>,
}

impl Escaped {
    fn user(&mut self, user: Option<&str>, out: &mut String) {
        let Some(user) = user else {
            return out.push_str("null");
        };
        let text = self
            .users
            .entry(user.as_ptr() as usize)
            .or_insert_with(|| string(user));
        out.push_str(text);
    }

    /// `"pids":[…],"process":…` for one owner.
    fn owner(&mut self, owner: Option<&Owner>, out: &mut String) {
        let Some(owner) = owner else {
            return out.push_str("\"pids\":[],\"process\":null");
        };
        let text = self
            .owners
            .entry(owner as *const Owner as usize)
            .or_insert_with(|| {
                let mut text = String::from("\"pids\":[");
                for (i, pid) in owner.pids().enumerate() {
                    if i > 0 {
                        text.push(',');
                    }
                    text.push_str(itoa::Buffer::new().format(pid));
                }
                text.push_str("],\"process\":");
                match owner.name() {
                    Some(name) => text.push_str(&string(name)),
                    None => text.push_str("null"),
                }
                text
            });
        out.push_str(text);
    }
}

/// A JSON string literal, escaped the way `serde_json` escapes.
fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "null".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Family, Owner, Process, SocketKey, SocketTimer, TcpState, TimerKind};
    use serde::Serialize;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Instant;

    /// The documented object as a serde type: what the hand-written
    /// writer must match byte for byte.
    #[derive(Serialize)]
    struct SocketObject<'a> {
        proto: &'static str,
        family: Family,
        local: SocketAddr,
        remote: SocketAddr,
        state: TcpState,
        recv_q: Option<u32>,
        send_q: Option<u32>,
        timer: Option<&'static str>,
        timer_ms: Option<u32>,
        uid: Option<u32>,
        user: Option<&'a str>,
        inode: Option<u64>,
        pids: Vec<u32>,
        process: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        netns: Option<&'a str>,
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
                netns: row.netns,
            }
        }
    }

    fn row(local: &str, remote: &str, state: TcpState) -> SocketRow {
        let (l, r): (SocketAddr, SocketAddr) =
            (local.parse().expect("addr"), remote.parse().expect("addr"));
        SocketRow::new(SocketKey::new(Family::of(&l), l, r), state)
    }

    #[test]
    fn written_by_hand_exactly_as_serde_writes_it() {
        let owner = Arc::new(Owner {
            procs: vec![
                Process {
                    pid: 7,
                    name: Some(Arc::from("a, \"b\"\\\u{7f}\u{1}é")),
                },
                Process { pid: 8, name: None },
            ],
        });
        let user: Arc<str> = Arc::from("root");
        let mut rows = [
            row("127.0.0.1:80", "0.0.0.0:0", TcpState::Listen),
            row("[::1]:443", "[fe80::1:2]:65535", TcpState::Established),
            row("10.0.0.255:1", "10.1.2.3:2", TcpState::TimeWait),
            row("[::]:22", "[::]:0", TcpState::Listen),
        ];
        rows[1].recv_q = Some(0);
        rows[1].send_q = Some(u32::MAX);
        rows[1].uid = Some(0);
        rows[1].user = Some(user.clone());
        rows[1].inode = Some(u64::MAX);
        rows[1].owner = Some(owner.clone());
        rows[2].timer = Some(SocketTimer {
            kind: TimerKind::TimeWait,
            remaining_ms: 59_999,
            expires_at: Instant::now(),
            retransmits: 0,
        });
        rows[3].owner = Some(owner);
        rows[3].user = Some(user);
        rows[3].netns = Some("web \"blue\"");
        let refs: Vec<&SocketRow> = rows.iter().collect();
        let mut ours = Vec::new();
        write(&refs, &mut ours).expect("write");
        let mut theirs = b"[".to_vec();
        for (i, r) in rows.iter().enumerate() {
            theirs.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
            serde_json::to_writer(&mut theirs, &SocketObject::from(r)).expect("serde");
        }
        theirs.extend_from_slice(b"\n]\n");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }

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
