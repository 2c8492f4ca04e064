//! The connection-event stream: one versioned NDJSON format, defined here
//! once as Rust types, for `watch --json`, recordings (`record`) and
//! whatever reads them back. A recording starts with a [`Header`] line,
//! then a [`Record`] per line: a snapshot of the table, then connection
//! events (new / state / gone), segments, queue and timer updates, and
//! notices (events dropped, readings failed). Every record has `ts`
//! (RFC 3339, UTC, microseconds) and `event`; `watch --json` prints the
//! records alone, with the fields it always had.

use crate::socket::cause::{Call, Timer};
use crate::socket::printable;
use crate::socket::summary::Summary;
use crate::socket::{
    Cause, Conn, Event, EventKind, Flags, Owner, Process, Segment, SocketRow, TcpState,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read as _};
use std::sync::Arc;
use std::time::SystemTime;

pub const FORMAT: &str = "tcpscope-events";
pub const VERSION: u32 = 1;
/// Additions within a version: readers of an older minor skip the new
/// fields. 1: `cause` on connection events, `summary` on `gone`.
pub const MINOR: u32 = 1;

/// The first line of a recording: what it is and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub minor: u32,
    pub host: String,
    /// `uname -r`.
    pub kernel: String,
    pub start: String,
    /// The socket source (`sockdiag+trace`, `netstat2`…).
    pub source: String,
    /// The filter expression, as typed (empty: everything).
    pub filter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A connection's event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnKind {
    New,
    State,
    Gone,
}

/// `{"ts","event":"new|state|gone","key","from","to","id",…}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRecord {
    pub ts: String,
    pub event: ConnKind,
    /// `local -> remote`.
    pub key: String,
    pub from: Option<TcpState>,
    pub to: Option<TcpState>,
    /// The connection's identity for its whole life (TIME_WAIT included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// Why it happened (minor 1); absent in older recordings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<CauseRecord>,
    /// On `gone` (minor 1): the connection's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummaryRecord>,
}

/// `{"duration_us":61003120,"whole":true,"states":[{"state":"SYN_SENT",
/// "us":52},…],"bytes_sent":517,"bytes_received":1203,"retransmissions":0}`;
/// the byte counts only where tcp_info was read (`watch --summary`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRecord {
    pub duration_us: u64,
    /// False when the life began before it was seen: a lower bound.
    pub whole: bool,
    pub states: Vec<StateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_received: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retransmissions: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateTime {
    pub state: TcpState,
    pub us: u64,
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl SummaryRecord {
    pub fn of(s: &Summary) -> Self {
        let states = s.states.iter();
        SummaryRecord {
            duration_us: micros(s.duration),
            whole: s.whole,
            states: states
                .map(|&(state, d)| StateTime {
                    state,
                    us: micros(d),
                })
                .collect(),
            bytes_sent: s.totals.map(|t| t.bytes_sent),
            bytes_received: s.totals.map(|t| t.bytes_received),
            retransmissions: s.totals.map(|t| t.total_retrans),
        }
    }
}

/// `{"kind":"call","call":"close","pid":4242,"process":"python3"}`,
/// `{"kind":"segment","flags":["FIN","ACK"]}`,
/// `{"kind":"timer","timer":"time_wait"}`, `{"kind":"unknown"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CauseRecord {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<String>,
}

impl CauseRecord {
    pub fn of(cause: &Cause) -> Self {
        let mut r = CauseRecord {
            kind: cause.kind().name().to_string(),
            call: None,
            pid: None,
            process: None,
            flags: None,
            timer: None,
        };
        match cause {
            Cause::Call { call, by } => {
                r.call = call.map(|c| c.name().to_string());
                let first = by.as_deref().and_then(|o| o.procs.first());
                r.pid = first.map(|p| p.pid);
                r.process = first.and_then(|p| p.name.as_deref().map(String::from));
            }
            Cause::Segment(flags) => {
                r.flags = Some(flags.names().into_iter().map(String::from).collect());
            }
            Cause::Timer(t) => r.timer = Some(t.name().to_string()),
            Cause::Unknown => {}
        }
        r
    }

    /// The cause it records; words this version does not know read as
    /// unknown, never as a guess.
    pub fn cause(&self) -> Cause {
        match self.kind.as_str() {
            "call" => {
                let by = self.pid.map(|pid| {
                    Arc::new(Owner {
                        procs: vec![Process {
                            pid,
                            name: self.process.as_deref().map(Arc::from),
                        }],
                    })
                });
                let call = self.call.as_deref().and_then(Call::from_name);
                Cause::Call { call, by }
            }
            "segment" => {
                let names = self.flags.iter().flatten().map(String::as_str);
                Flags::from_names(names).map_or(Cause::Unknown, Cause::Segment)
            }
            "timer" => self
                .timer
                .as_deref()
                .and_then(Timer::from_name)
                .map_or(Cause::Unknown, Cause::Timer),
            _ => Cause::Unknown,
        }
    }
}

macro_rules! tag {
    ($name:ident, $word:literal) => {
        #[doc = concat!("The `event` word `", $word, "`.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            #[serde(rename = $word)]
            Tag,
        }
    };
}

tag!(SegmentTag, "segment");
tag!(SnapshotTag, "snapshot");
tag!(UpdateTag, "update");
tag!(NoticeTag, "notice");

/// One TCP segment; `key` is oriented from the sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRecord {
    pub ts: String,
    pub event: SegmentTag,
    pub key: String,
    pub flags: Vec<String>,
    pub seq: u32,
    pub ack: u32,
    pub len: u32,
    pub win: u16,
    pub retransmission: bool,
}

/// A kernel timer on a socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerRecord {
    pub kind: String,
    pub remaining_ms: u32,
}

/// One socket as a reading saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketRecord {
    pub id: u64,
    pub key: String,
    pub state: TcpState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv_q: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_q: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<TimerRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
}

/// The whole (filtered) table: the first record after the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub ts: String,
    pub event: SnapshotTag,
    pub sockets: Vec<SocketRecord>,
}

/// A connection's queues or timer moved without a state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRecord {
    pub ts: String,
    pub event: UpdateTag,
    #[serde(flatten)]
    pub socket: SocketRecord,
}

/// Something the reader should know: events dropped, a reading failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeRecord {
    pub ts: String,
    pub event: NoticeTag,
    pub text: String,
    /// Events lost, when that is the news.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}

/// Any line after the header; told apart by its `event` word.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    Conn(ConnRecord),
    Segment(SegmentRecord),
    Snapshot(SnapshotRecord),
    Update(UpdateRecord),
    Notice(NoticeRecord),
}

/// RFC 3339, UTC, microseconds: `2026-12-01T03:59:34.885623Z`.
pub fn timestamp(wall: SystemTime) -> String {
    let ts: DateTime<Utc> = wall.into();
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl ConnRecord {
    pub fn of(e: &Event) -> Self {
        let (from, to) = e.states();
        let event = match e.kind {
            EventKind::New => ConnKind::New,
            EventKind::State { .. } => ConnKind::State,
            EventKind::Gone => ConnKind::Gone,
        };
        let first = e.owner.as_ref().and_then(|o| o.procs.first());
        ConnRecord {
            ts: timestamp(e.wall),
            event,
            key: e.key.label(),
            from,
            to,
            id: Some(e.id),
            pid: first.map(|p| p.pid),
            process: first.and_then(|p| p.name.as_deref().map(String::from)),
            cause: Some(CauseRecord::of(&e.cause)),
            summary: e.summary.as_deref().map(SummaryRecord::of),
        }
    }

    /// The event's cause: as recorded, or (a recording older than causes)
    /// what the two states alone tell.
    pub fn cause(&self) -> Cause {
        match (&self.cause, self.from, self.to) {
            (Some(c), _, _) => c.cause(),
            (None, Some(from), Some(to)) => Cause::of_edge(from, to),
            (None, Some(TcpState::TimeWait), None) => Cause::Timer(Timer::TimeWait),
            _ => Cause::Unknown,
        }
    }
}

impl SegmentRecord {
    pub fn of(s: &Segment) -> Self {
        SegmentRecord {
            ts: timestamp(s.wall),
            event: SegmentTag::Tag,
            key: s.key.label(),
            flags: s.flags.names().into_iter().map(String::from).collect(),
            seq: s.seq,
            ack: s.ack,
            len: s.len,
            win: s.win,
            retransmission: s.retransmission,
        }
    }
}

impl SocketRecord {
    pub fn of(conn: &Conn) -> Self {
        let row: &SocketRow = &conn.row;
        let first = row.owner.as_ref().and_then(|o| o.procs.first());
        SocketRecord {
            id: conn.id,
            key: row.key.label(),
            state: row.state,
            recv_q: row.recv_q,
            send_q: row.send_q,
            timer: row.timer.as_ref().map(|t| TimerRecord {
                kind: t.kind.name().to_string(),
                remaining_ms: t.remaining_ms,
            }),
            pid: first.map(|p| p.pid),
            process: first.and_then(|p| p.name.as_deref().map(String::from)),
            netns: row.netns.map(String::from),
        }
    }
}

/// The record as one NDJSON line (with its newline).
pub fn line(record: &impl Serialize) -> String {
    // Plain data with string keys: serialising it cannot fail.
    let mut text = serde_json::to_string(record).unwrap_or_default();
    text.push('\n');
    text
}

/// Where a stream stops making sense, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// 1-based line number.
    pub line: usize,
    pub why: String,
}

/// A recording read back: its header, every record up to the first
/// damaged line, and that line (a cut-off or corrupt file replays up to
/// the damage).
#[derive(Clone, Debug, Default)]
pub struct Read {
    pub header: Option<Header>,
    pub records: Vec<Record>,
    pub damage: Option<Damage>,
}

pub fn read(text: &str) -> Read {
    read_from(text.as_bytes())
}

/// The longest line a stream may hold. A record is a few hundred bytes;
/// the limit keeps a hostile or broken stream (one endless line,
/// `/dev/zero`) from filling memory.
pub const MAX_LINE: usize = 64 * 1024;

/// The most records a recording is read with: about 1.5 GB in memory.
pub const MAX_RECORDS: usize = 5_000_000;

/// One line of a stream, as [`next_line`] found it.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(String),
    /// Longer than [`MAX_LINE`]; its first part read, the rest left
    /// ([`skip_line`] passes over it).
    TooLong,
    /// Not UTF-8.
    NotText,
}

/// The next line, without its newline; `None` at the end. Of a line over
/// [`MAX_LINE`] no more than that is read.
pub fn next_line(from: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<Line>> {
    buf.clear();
    let cap = MAX_LINE as u64 + 1;
    let n = from.by_ref().take(cap).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > MAX_LINE {
        return Ok(Some(Line::TooLong));
    }
    Ok(Some(match std::str::from_utf8(buf) {
        Ok(text) => Line::Text(text.trim_end_matches('\r').to_string()),
        Err(_) => Line::NotText,
    }))
}

/// Consumes up to and including the next newline, in pieces.
pub fn skip_line(from: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let chunk = from.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(at) => {
                from.consume(at + 1);
                return Ok(());
            }
            None => {
                let all = chunk.len();
                from.consume(all);
            }
        }
    }
}

/// A header this program reads, or why not.
pub fn check_header(line: &str) -> Result<Header, String> {
    match serde_json::from_str::<Header>(line) {
        Ok(h) if h.format == FORMAT && h.version <= VERSION => Ok(h),
        Ok(h) if h.format == FORMAT => Err(format!(
            "{FORMAT} version {} is newer than this tcpscope reads (up to {VERSION}): update tcpscope",
            h.version
        )),
        Ok(h) => Err(format!("a {} stream, not {FORMAT}", printable(&h.format))),
        Err(e) => Err(format!("not a {FORMAT} header: {e}")),
    }
}

/// A recording read line by line, up to its first damaged line.
pub fn read_from(mut from: impl BufRead) -> Read {
    let mut out = Read::default();
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        number += 1;
        let damage = |why: String| Some(Damage { line: number, why });
        let line = match next_line(&mut from, &mut buf) {
            Ok(None) => return out,
            Ok(Some(Line::Text(line))) => line,
            Ok(Some(Line::TooLong)) => {
                out.damage = damage(format!("a line longer than {} KiB", MAX_LINE / 1024));
                return out;
            }
            Ok(Some(Line::NotText)) => {
                out.damage = damage("not text (UTF-8)".into());
                return out;
            }
            Err(e) => {
                out.damage = damage(format!("cannot be read: {e}"));
                return out;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if out.header.is_none() {
            match check_header(&line) {
                Ok(h) => out.header = Some(h),
                Err(why) => {
                    out.damage = damage(why);
                    return out;
                }
            }
            continue;
        }
        if out.records.len() >= MAX_RECORDS {
            out.damage = damage(format!("more than {MAX_RECORDS} records"));
            return out;
        }
        match serde_json::from_str::<Record>(&line) {
            Ok(r) => out.records.push(r),
            Err(_) => {
                out.damage = damage("not a record (cut off or corrupt)".into());
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn_line() -> &'static str {
        r#"{"ts":"2026-12-01T03:59:34.886955Z","event":"state","key":"127.0.0.1:1 -> 127.0.0.1:2","from":"SYN_SENT","to":"ESTABLISHED","id":7}"#
    }

    #[test]
    fn records_read_back_as_they_were_written() {
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            minor: MINOR,
            host: "h".into(),
            kernel: "6.18".into(),
            start: "2026-12-01T03:59:34Z".into(),
            source: "sockdiag+trace".into(),
            filter: String::new(),
            port: Some(8080),
        };
        let notice = Record::Notice(NoticeRecord {
            ts: "2026-12-01T03:59:35.000000Z".into(),
            event: NoticeTag::Tag,
            text: "3 events dropped".into(),
            dropped: Some(3),
        });
        let text = format!("{}{}\n{}", line(&header), conn_line(), line(&notice));
        let back = read(&text);
        assert_eq!(back.header, Some(header));
        assert_eq!(back.records.len(), 2);
        assert!(
            matches!(&back.records[0], Record::Conn(c) if c.to == Some(TcpState::Established) && c.id == Some(7))
        );
        assert_eq!(back.records[1], notice);
        assert_eq!(
            line(&back.records[0]).trim_end(),
            conn_line(),
            "same bytes out"
        );
    }

    #[test]
    fn a_cut_off_stream_reads_up_to_the_damage_and_says_where() {
        let header = r#"{"format":"tcpscope-events","version":1,"host":"h","kernel":"k","start":"s","source":"x","filter":""}"#;
        let cut = &conn_line()[..40];
        let text = format!("{header}\n{}\n{cut}\n", conn_line());
        let back = read(&text);
        assert_eq!(back.records.len(), 1);
        assert_eq!(
            back.damage,
            Some(Damage {
                line: 3,
                why: "not a record (cut off or corrupt)".into()
            })
        );
        let future = read(
            r#"{"format":"tcpscope-events","version":9,"host":"h","kernel":"k","start":"s","source":"x","filter":""}"#,
        );
        assert!(future.damage.is_some_and(|d| d.why.contains("version 9")));
    }
}
