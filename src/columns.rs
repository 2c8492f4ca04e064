//! The one column model: every field of a socket row that tcpscope shows,
//! with its title and its text, and which columns each view shows. The
//! table (`ui/widgets/table.rs`), `--once` text (`output/text.rs`) and
//! `--json` (`output/json.rs`, which writes each column's JSON) all go
//! through [`Column`]; a new column from row data is a variant here, its
//! JSON there, and its place in a layout below.

use crate::socket::{SocketRow, addr, printable};
use crate::source::names;
use std::fmt::Write as _;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Proto,
    Family,
    Local,
    Remote,
    State,
    RecvQ,
    SendQ,
    Timer,
    /// How long the connection has been in its state: the table knows,
    /// from the connection's history; a row alone does not.
    InState,
    Uid,
    User,
    Inode,
    Process,
    /// Which network namespace (`--all-netns`, the lab's link); blank for
    /// this one's own sockets.
    Netns,
}

use Column::*;

/// `--once` as text: `netstat -tan` with the user and the owner.
pub const ONCE_TEXT: &[Column] = &[Local, Remote, State, RecvQ, SendQ, Timer, User, Process];

/// Hands the `--json` columns, in the documented object's order (a
/// contract), to macro `$then`: the writer is unrolled from this one list,
/// so each field's code is picked at compile time.
macro_rules! json_columns {
    ($then:ident) => {
        $then!(
            Proto, Family, Local, Remote, State, RecvQ, SendQ, Timer, Uid, User, Inode, Process,
            Netns
        )
    };
}
pub(crate) use json_columns;

/// `--json`: the documented object's columns, in its order.
pub const JSON: &[Column] = {
    macro_rules! list {
        ($($col:ident),*) => {
            &[$(Column::$col),*]
        };
    }
    json_columns!(list)
};

/// Which columns fit a table this wide, most telling first. A class
/// keeps the queues (a full accept queue, unread data holding a FIN) and
/// the process (whose socket it is); the user goes first.
pub fn table(width: u16, classroom: bool) -> &'static [Column] {
    if classroom {
        return match width {
            0..64 => &[Local, Remote, State],
            64..110 => &[Local, Remote, State, RecvQ, SendQ, Process],
            _ => &[Local, Remote, State, RecvQ, SendQ, Timer, InState, Process],
        };
    }
    match width {
        0..64 => &[Local, Remote, State],
        64..100 => &[Local, Remote, State, InState, Process],
        100..150 => &[Local, Remote, State, RecvQ, SendQ, Timer, InState, Process],
        _ => &[
            Local, Remote, State, RecvQ, SendQ, Timer, InState, Process, User,
        ],
    }
}

/// Where a Netns column goes when rows of other namespaces are shown
/// (after the state), in the table and in `--once` text alike.
pub fn with_netns(columns: &[Column]) -> Vec<Column> {
    let mut all = columns.to_vec();
    let at = all.iter().position(|c| *c == State).map_or(0, |i| i + 1);
    all.insert(at, Netns);
    all
}

impl Column {
    pub fn title(self) -> &'static str {
        match self {
            Proto => "Proto",
            Family => "Family",
            Local => "Local Address",
            Remote => "Remote Address",
            State => "State",
            RecvQ => "Recv-Q",
            SendQ => "Send-Q",
            Timer => "Timer",
            InState => "In state",
            Uid => "UID",
            User => "User",
            Inode => "Inode",
            Process => "PID/Process",
            Netns => "Netns",
        }
    }

    /// The column's text for one row, appended to `buf`; nothing when the
    /// source cannot tell (each view marks a blank its own way). Names
    /// from the system are printed with control characters as `?`.
    #[inline]
    pub fn push_text(self, row: &SocketRow, now: Instant, buf: &mut String) {
        match self {
            Proto => buf.push_str("tcp"),
            Family => buf.push_str(row.key.family.name()),
            Local => push_addr(&row.key.local, buf),
            Remote => push_addr(&row.key.remote, buf),
            State => buf.push_str(row.state.name()),
            RecvQ => number(row.recv_q, buf),
            SendQ => number(row.send_q, buf),
            Timer => {
                if let Some(t) = &row.timer {
                    buf.push_str(&t.label(now));
                }
            }
            InState => {}
            Uid => number(row.uid, buf),
            User => match (&row.user, row.uid) {
                (Some(u), _) if !u.chars().any(char::is_control) => buf.push_str(u),
                (Some(u), _) => buf.push_str(&printable(u)),
                (None, Some(uid)) => {
                    let _ = write!(buf, "{uid}");
                }
                (None, None) => {}
            },
            Inode => number(row.inode, buf),
            Process => {
                if let Some(owner) = &row.owner {
                    buf.push_str(&owner.label());
                }
            }
            Netns => {
                if let Some(ns) = row.netns {
                    buf.push_str(&printable(ns));
                }
            }
        }
    }

    /// The column's text as a new string.
    pub fn text(self, row: &SocketRow, now: Instant) -> String {
        match (self, &row.timer) {
            // Already a string of its own: no copy.
            (Timer, Some(t)) => t.label(now),
            _ => {
                // Room for an IPv4 address and port, the usual longest.
                let mut buf = String::with_capacity(24);
                self.push_text(row, now, &mut buf);
                buf
            }
        }
    }

    /// The fields of the event stream's socket records that carry this
    /// column (none: recordings do not keep it). The records are a
    /// versioned format read back by `replay`, so they keep their own
    /// type; a test holds that type to this list.
    pub fn stream_keys(self) -> &'static [&'static str] {
        match self {
            Local | Remote => &["key"],
            State => &["state"],
            RecvQ => &["recv_q"],
            SendQ => &["send_q"],
            Timer => &["timer"],
            Process => &["pid", "process"],
            Netns => &["netns"],
            Proto | Family | InState | Uid | User | Inode => &[],
        }
    }
}

/// `ip:port`, or with names shown `host:service` where each is known
/// (`localhost:https`); a number stays until its name has come.
fn push_addr(a: &std::net::SocketAddr, buf: &mut String) {
    if !names::shown() {
        return addr::push_display(a, buf);
    }
    match names::host(a.ip()) {
        Some(host) => buf.push_str(&host),
        None => addr::push_ip(a.ip(), buf),
    }
    buf.push(':');
    match (a.port(), names::service(a.port())) {
        (0, _) => buf.push('*'),
        (_, Some(service)) => buf.push_str(&service),
        (p, None) => buf.push_str(itoa::Buffer::new().format(p)),
    }
}

fn number<N: itoa::Integer>(n: Option<N>, buf: &mut String) {
    if let Some(n) = n {
        buf.push_str(itoa::Buffer::new().format(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{SocketRecord, TimerRecord};

    const EVERY: [Column; 14] = [
        Proto, Family, Local, Remote, State, RecvQ, SendQ, Timer, InState, Uid, User, Inode,
        Process, Netns,
    ];

    /// The stream's socket record carries exactly the columns that say
    /// they are recorded (and the connection's id): a column recorded
    /// without a field, or a field no column names, fails here.
    #[test]
    fn the_stream_records_the_columns_that_say_so() {
        let record = SocketRecord {
            id: 1,
            key: "127.0.0.1:1 127.0.0.1:2".into(),
            state: crate::socket::TcpState::Established,
            recv_q: Some(0),
            send_q: Some(0),
            timer: Some(TimerRecord {
                kind: "on".into(),
                remaining_ms: 1,
            }),
            pid: Some(1),
            process: Some("p".into()),
            netns: Some("n".into()),
        };
        let value = serde_json::to_value(&record).expect("serialize");
        let fields: std::collections::BTreeSet<&str> = value
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut named: std::collections::BTreeSet<&str> = EVERY
            .iter()
            .flat_map(|c| c.stream_keys())
            .copied()
            .collect();
        named.insert("id");
        assert_eq!(fields, named);
    }

    #[test]
    fn every_view_has_titles_and_netns_follows_the_state() {
        for col in EVERY {
            assert!(!col.title().is_empty());
        }
        let with = with_netns(ONCE_TEXT);
        assert_eq!(with[3], Netns, "{with:?}");
        assert!(JSON.contains(&Netns) && !JSON.contains(&InState));
    }
}
