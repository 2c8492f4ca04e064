//! A recording played back as if it were the kernel: its connection
//! events come out as changes (with their recorded times, at the pace
//! of a clock that can run slow, fast, stop and step), and the table is
//! what those events have made of the snapshot so far. The pipeline and
//! the view downstream are the live ones, unchanged.

use super::{Change, ChangeSource, Dump, Scope, SocketSource, SourceError, Waker};
use crate::socket::segment::{Flags, Header};
use crate::socket::{Family, SocketKey, SocketRow, TcpState};
use crate::stream::{ConnKind, Record, SocketRecord};
use rustc_hash::FxHashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// One connection event of the recording.
#[derive(Clone, Debug)]
struct Step {
    wall: SystemTime,
    key: SocketKey,
    id: u64,
    from: Option<TcpState>,
    to: Option<TcpState>,
    cause: crate::socket::Cause,
}

/// The playback clock: recorded time runs at `speed` from `anchor`.
#[derive(Clone, Copy, Debug)]
struct Clock {
    /// Recorded time at `real`.
    at: SystemTime,
    real: Instant,
    speed: f64,
    paused: bool,
}

impl Clock {
    fn now(&self) -> SystemTime {
        if self.paused {
            return self.at;
        }
        let real = self.real.elapsed().as_secs_f64() * self.speed;
        self.at + Duration::from_secs_f64(real.min(1e9))
    }

    /// When (real time) the recorded moment `wall` comes (or came), at
    /// this pace: moments keep their spacing, before the anchor too.
    fn real_of(&self, wall: SystemTime) -> Instant {
        let scale = |d: Duration| {
            Duration::from_secs_f64((d.as_secs_f64() / self.speed.max(1e-9)).min(1e9))
        };
        match wall.duration_since(self.at) {
            Ok(ahead) => self.real + scale(ahead),
            Err(behind) => {
                let back = scale(behind.duration());
                self.real.checked_sub(back).unwrap_or(self.real)
            }
        }
    }
}

struct State {
    steps: Vec<Step>,
    /// Steps handed out so far.
    next: usize,
    clock: Clock,
    /// The table when the recording began.
    origin: FxHashMap<u64, SocketRow>,
    table: FxHashMap<u64, SocketRow>,
    start: SystemTime,
    end: SystemTime,
    last_at: Instant,
    /// Recorded time onto this process's clock, fixed for the playback:
    /// events and segments keep their spacing however the clock is
    /// paused, stepped or sped up (the ladder lines them up by it).
    map: Clock,
    /// Fed as it happens (`--remote`): events go out as they arrive.
    live: bool,
    /// What the feed says of itself (a dropped link, a reconnect).
    status: Option<String>,
    /// Recorded segments, by time, and how many were handed out.
    segments: Vec<(SystemTime, Header)>,
    next_segment: usize,
    /// Of a live feed: records refused by its bounds.
    refused: u64,
}

/// A live feed's bounds: the connections it may keep, and the records
/// that may wait for the view. A host with more is shown in part, and
/// says so; a hostile stream cannot fill memory.
pub const LIVE_CONNECTIONS: usize = 100_000;
const LIVE_PENDING: usize = 100_000;

/// What the view steers: pause, step, speed; shared with the sources.
#[derive(Clone)]
pub struct Playback {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Playback({:?})", self.position())
    }
}

/// Where the playback is, for the header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    pub elapsed: Duration,
    pub length: Duration,
    pub speed: f64,
    pub paused: bool,
    pub done: bool,
}

impl Playback {
    /// A playback of `records` (a snapshot first, then events), paused or
    /// running at `speed` from the recording's start.
    pub fn new(records: &[Record], speed: f64) -> Playback {
        let (start, table) = snapshot(records);
        let mut segments: Vec<(SystemTime, Header)> = records.iter().filter_map(segment).collect();
        segments.sort_by_key(|s| s.0);
        let mut steps: Vec<Step> = records.iter().filter_map(step).collect();
        // A fact learned at a later reading is written after events that
        // happened after it: play in the order things happened.
        steps.sort_by_key(|s| s.wall);
        let end = steps.last().map_or(start, |s| s.wall.max(start));
        let clock = Clock {
            at: start,
            real: Instant::now(),
            speed,
            paused: false,
        };
        let state = State {
            steps,
            next: 0,
            clock,
            origin: table.clone(),
            table,
            start,
            end,
            last_at: Instant::now(),
            map: clock,
            live: false,
            status: None,
            segments,
            next_segment: 0,
            refused: 0,
        };
        Playback {
            state: Arc::new((Mutex::new(state), Condvar::new())),
        }
    }

    /// The recorded segments the clock has reached since the last call,
    /// each with its moment on this process's clock (as the events get).
    pub fn take_segments(&self) -> Vec<(Instant, SystemTime, Header)> {
        let mut s = self.lock();
        let now = s.clock.now();
        let mut out = Vec::new();
        while let Some((wall, h)) = s.segments.get(s.next_segment).copied() {
            if wall > now && !s.live {
                break;
            }
            s.next_segment += 1;
            let at = if s.live {
                Instant::now()
            } else {
                s.map.real_of(wall)
            };
            out.push((at, wall, h));
        }
        if s.live {
            // Handed out: a live feed keeps no history of its own.
            let n = s.next_segment;
            s.segments.drain(..n);
            s.next_segment = 0;
        }
        out
    }

    /// An empty playback fed as records arrive (a remote host's stream):
    /// no clock, each event goes out as soon as it is pushed.
    pub fn live() -> Playback {
        let p = Playback::new(&[], 1.0);
        p.lock().live = true;
        p
    }

    /// One more record of a live feed. A snapshot (the start of a new
    /// connection to the host) replaces the table.
    pub fn push(&self, record: &Record) {
        let mut s = self.lock();
        match record {
            Record::Snapshot(snap) => {
                s.table = snap
                    .sockets
                    .iter()
                    .filter_map(|r| Some((r.id, row(r)?)))
                    .collect();
            }
            Record::Conn(_) => {
                if let Some(st) = step(record) {
                    if s.steps.len() - s.next >= LIVE_PENDING {
                        s.refused += 1;
                    } else {
                        s.end = s.end.max(st.wall);
                        s.steps.push(st);
                    }
                }
            }
            Record::Update(u) => {
                if let Some(r) = s.table.get_mut(&u.socket.id) {
                    (r.recv_q, r.send_q) = (u.socket.recv_q, u.socket.send_q);
                }
            }
            Record::Segment(_) => {
                if let Some(seg) = segment(record) {
                    if s.segments.len() - s.next_segment >= LIVE_PENDING {
                        s.refused += 1;
                    } else {
                        s.segments.push(seg);
                    }
                }
            }
            Record::Notice(_) => {}
        }
        drop(s);
        self.changed();
    }

    /// What the feed says of itself, shown with the source's limits.
    pub fn set_status(&self, status: Option<String>) {
        self.lock().status = status;
        self.changed();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain data, whole between calls: a panic elsewhere leaves it usable.
        self.state.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        self.state.1.notify_all();
    }

    /// Pauses, or resumes from where it stands.
    pub fn toggle_pause(&self) -> bool {
        let mut s = self.lock();
        let now = s.clock.now();
        s.clock = Clock {
            at: now,
            real: Instant::now(),
            paused: !s.clock.paused,
            ..s.clock
        };
        let paused = s.clock.paused;
        drop(s);
        self.changed();
        paused
    }

    /// Pauses just after the next event (→): one event at a time.
    pub fn step(&self) -> bool {
        let mut s = self.lock();
        let now = s.clock.now();
        // The first event the clock has not reached (handed out or not).
        let upcoming = s.steps[s.next..].iter().find(|st| st.wall > now);
        let Some(next) = upcoming.map(|st| st.wall) else {
            return false;
        };
        s.clock = Clock {
            at: next.max(s.clock.now()),
            real: Instant::now(),
            paused: true,
            ..s.clock
        };
        drop(s);
        self.changed();
        true
    }

    /// A fresh playback of the same recording, paused at `at` (clamped to
    /// the recording): its table is the snapshot with every event up to
    /// `at` applied, so a new pipeline starts from there. Going back in
    /// time needs a new pipeline: a pipeline's times never go back.
    pub fn seek(&self, at: SystemTime) -> Playback {
        let s = self.lock();
        let at = at.clamp(s.start, s.end);
        let mut table = s.origin.clone();
        let next = s.steps.partition_point(|st| st.wall <= at);
        for st in &s.steps[..next] {
            apply(&mut table, st);
        }
        let state = State {
            steps: s.steps.clone(),
            next,
            clock: Clock {
                at,
                real: Instant::now(),
                paused: true,
                ..s.clock
            },
            origin: s.origin.clone(),
            table,
            start: s.start,
            end: s.end,
            last_at: Instant::now(),
            map: Clock {
                at,
                real: Instant::now(),
                paused: false,
                ..s.clock
            },
            live: false,
            status: s.status.clone(),
            next_segment: s.segments.partition_point(|(w, _)| *w <= at),
            segments: s.segments.clone(),
            refused: 0,
        };
        Playback {
            state: Arc::new((Mutex::new(state), Condvar::new())),
        }
    }

    /// Where ← goes: just after the event before the last one shown, so
    /// that one event fewer is shown (or the start).
    pub fn previous_event(&self) -> SystemTime {
        let s = self.lock();
        let now = s.clock.now();
        let shown = s.steps.partition_point(|st| st.wall <= now);
        let before = shown.checked_sub(2).and_then(|i| s.steps.get(i));
        before.map_or(s.start, |st| st.wall)
    }

    /// The recording's moment `seconds` after its start.
    pub fn moment(&self, seconds: f64) -> SystemTime {
        let s = self.lock();
        s.start + Duration::from_secs_f64(seconds.clamp(0.0, 1e9))
    }

    /// Multiplies the speed (`+` doubles, `-` halves), within 1/100000
    /// and 1000 times real time; returns the new speed.
    pub fn scale_speed(&self, by: f64) -> f64 {
        let mut s = self.lock();
        let now = s.clock.now();
        let speed = (s.clock.speed * by).clamp(1e-5, 1e3);
        s.clock = Clock {
            at: now,
            real: Instant::now(),
            speed,
            ..s.clock
        };
        drop(s);
        self.changed();
        speed
    }

    pub fn position(&self) -> Position {
        let s = self.lock();
        let now = s.clock.now().min(s.end);
        Position {
            elapsed: now.duration_since(s.start).unwrap_or_default(),
            length: s.end.duration_since(s.start).unwrap_or_default(),
            speed: s.clock.speed,
            paused: s.clock.paused,
            done: s.next >= s.steps.len(),
        }
    }

    /// The table source and the change source of this playback.
    pub fn sources(&self) -> super::Sources {
        let live = self.lock().live;
        super::Sources {
            table: Box::new(Table(self.clone(), if live { "remote" } else { "replay" })),
            changes: Some(Box::new(Events(
                self.clone(),
                if live { "ssh" } else { "recording" },
            ))),
            notes: Vec::new(),
        }
    }
}

/// The recording's start and its table then, by connection id.
fn snapshot(records: &[Record]) -> (SystemTime, FxHashMap<u64, SocketRow>) {
    let Some(Record::Snapshot(s)) = records.first() else {
        let start = records.iter().find_map(|r| match r {
            Record::Conn(c) => wall(&c.ts),
            _ => None,
        });
        return (start.unwrap_or_else(SystemTime::now), FxHashMap::default());
    };
    let table = s
        .sockets
        .iter()
        .filter_map(|r| Some((r.id, row(r)?)))
        .collect();
    (wall(&s.ts).unwrap_or_else(SystemTime::now), table)
}

fn row(r: &SocketRecord) -> Option<SocketRow> {
    let mut row = SocketRow::new(key(&r.key)?, r.state);
    row.recv_q = r.recv_q;
    row.send_q = r.send_q;
    Some(row)
}

fn step(r: &Record) -> Option<Step> {
    let Record::Conn(c) = r else { return None };
    Some(Step {
        wall: wall(&c.ts)?,
        key: key(&c.key)?,
        id: c.id?,
        from: c.from,
        to: match c.event {
            ConnKind::Gone => None,
            _ => c.to,
        },
        cause: c.cause(),
    })
}

/// A recorded segment as a header (its numbers already relative: they
/// number the same again).
fn segment(r: &Record) -> Option<(SystemTime, Header)> {
    let Record::Segment(s) = r else { return None };
    let k = key(&s.key)?;
    let flags = Flags::from_names(s.flags.iter().map(String::as_str)).ok()?;
    let h = Header {
        from: k.local,
        to: k.remote,
        flags,
        seq: s.seq,
        ack: s.ack,
        len: s.len,
        win: s.win,
    };
    Some((wall(&s.ts)?, h))
}

fn wall(ts: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(SystemTime::from(t.with_timezone(&chrono::Utc)))
}

/// `127.0.0.1:5 -> 0.0.0.0:*` (an unconnected end's port is `*`).
pub fn key(text: &str) -> Option<SocketKey> {
    let (l, r) = text.split_once(" -> ")?;
    let parse = |s: &str| -> Option<SocketAddr> {
        match s.strip_suffix(":*") {
            Some(host) => format!("{host}:0").parse().ok(),
            None => s.parse().ok(),
        }
    };
    let (local, remote) = (parse(l)?, parse(r)?);
    Some(SocketKey::new(Family::of(&local), local, remote))
}

struct Table(Playback, &'static str);

impl SocketSource for Table {
    fn name(&self) -> &'static str {
        self.1
    }

    /// The table as the events handed out so far have made it.
    fn dump(&mut self, scope: &Scope) -> Result<Dump, SourceError> {
        let s = self.0.lock();
        let rows: Vec<SocketRow> = s
            .table
            .values()
            .filter(|r| scope.admits(r))
            .cloned()
            .collect();
        let wall = if s.live {
            SystemTime::now()
        } else {
            s.clock.now().min(s.end.max(s.start))
        };
        Ok(Dump::at(rows, Instant::now(), wall))
    }

    fn degradations(&self) -> Vec<super::Degradation> {
        let s = self.0.lock();
        let limit = if s.live {
            super::Limit::Remote
        } else {
            super::Limit::Recording
        };
        let mut notes: Vec<_> = s
            .status
            .iter()
            .map(|why| super::Degradation::new(limit, why.clone()))
            .collect();
        if s.refused > 0 {
            let why = format!(
                "{} records not shown: the stream passed its bounds ({LIVE_CONNECTIONS} connections, {LIVE_PENDING} waiting)",
                s.refused
            );
            notes.push(super::Degradation::new(limit, why));
        }
        notes
    }
}

struct Events(Playback, &'static str);

impl ChangeSource for Events {
    fn name(&self) -> &'static str {
        self.1
    }

    /// Sleeps until the next event is due (or the clock is steered).
    fn wait(&mut self, timeout: Duration) {
        let (lock, cv) = &*self.0.state;
        let s = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if s.live && s.next < s.steps.len() {
            return;
        }
        let due = s
            .steps
            .get(s.next)
            .filter(|_| !s.clock.paused && !s.live)
            .map(|st| {
                s.clock
                    .real_of(st.wall)
                    .saturating_duration_since(Instant::now())
            });
        let sleep = due.map_or(timeout, |d| d.min(timeout));
        let _ = cv.wait_timeout(s, sleep);
    }

    fn drain(&mut self, out: &mut Vec<Change>) -> Result<(), SourceError> {
        let mut s = self.0.lock();
        let now = s.clock.now();
        while let Some(st) = s.steps.get(s.next).cloned() {
            if st.wall > now && !s.live {
                break;
            }
            s.next += 1;
            let at = if s.live {
                Instant::now()
            } else {
                s.map.real_of(st.wall)
            };
            let at = at.max(s.last_at);
            s.last_at = at;
            let new = st.to.is_some() && !s.table.contains_key(&st.id);
            if s.live && new && s.table.len() >= LIVE_CONNECTIONS {
                s.refused += 1;
                continue;
            }
            apply(&mut s.table, &st);
            out.push(Change {
                key: st.key,
                from: st.from.unwrap_or(TcpState::Closed),
                to: st.to.unwrap_or(TcpState::Closed),
                at,
                wall: st.wall,
                sk: Some(st.id),
                owner: None,
                cause: st.cause.clone(),
            });
        }
        if s.live {
            let n = s.next;
            s.steps.drain(..n);
            s.next = 0;
        }
        Ok(())
    }

    fn waker(&self) -> Waker {
        let playback = self.0.clone();
        Arc::new(move || playback.changed())
    }
}

/// The table after one event.
fn apply(table: &mut FxHashMap<u64, SocketRow>, st: &Step) {
    match st.to {
        None => {
            table.remove(&st.id);
        }
        Some(state) => {
            let row = table
                .entry(st.id)
                .or_insert_with(|| SocketRow::new(st.key, state));
            row.state = state;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording() -> Vec<Record> {
        let text = r#"{"format":"tcpscope-events","version":1,"host":"h","kernel":"k","start":"s","source":"x","filter":""}
{"ts":"2026-12-01T00:00:00.000000Z","event":"snapshot","sockets":[{"id":1,"key":"127.0.0.1:80 -> 0.0.0.0:*","state":"LISTEN"}]}
{"ts":"2026-12-01T00:00:00.000100Z","event":"new","key":"127.0.0.1:4000 -> 127.0.0.1:80","from":null,"to":"SYN_SENT","id":2}
{"ts":"2026-12-01T00:00:00.000200Z","event":"state","key":"127.0.0.1:4000 -> 127.0.0.1:80","from":"SYN_SENT","to":"ESTABLISHED","id":2}
{"ts":"2026-12-01T00:00:01.000000Z","event":"gone","key":"127.0.0.1:4000 -> 127.0.0.1:80","from":"ESTABLISHED","to":null,"id":2}
"#;
        crate::stream::read(text).records
    }

    /// Paused at the recording's start from the first instant: a running
    /// clock would pass the first events before a pause could land.
    fn paused_at_start() -> Playback {
        let p = Playback::new(&recording(), 1.0);
        p.seek(p.moment(0.0))
    }

    #[test]
    fn events_come_out_one_step_at_a_time_when_paused() {
        let p = paused_at_start();
        let mut sources = p.sources();
        let (table, changes) = (
            &mut sources.table,
            sources.changes.as_mut().expect("changes"),
        );
        let mut out = Vec::new();
        changes.drain(&mut out).expect("drain");
        assert!(out.is_empty(), "paused at the start");
        assert_eq!(table.dump(&Scope::default()).expect("dump").rows.len(), 1);
        assert!(p.step());
        changes.drain(&mut out).expect("drain");
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].from, out[0].to),
            (TcpState::Closed, TcpState::SynSent)
        );
        assert!(p.step());
        changes.drain(&mut out).expect("drain");
        assert_eq!(out[1].to, TcpState::Established);
        let rows = table.dump(&Scope::default()).expect("dump").rows;
        assert!(rows.iter().any(|r| r.state == TcpState::Established));
        let pos = p.position();
        assert!(pos.paused && !pos.done && pos.length == Duration::from_secs(1));
    }

    #[test]
    fn slow_motion_stretches_microseconds_into_milliseconds() {
        let begun = Instant::now();
        let p = Playback::new(&recording(), 0.001);
        let mut sources = p.sources();
        let changes = sources.changes.as_mut().expect("changes");
        let mut out = Vec::new();
        // Lower bounds only: a loaded machine may hand events out late,
        // never early.
        while out.len() < 2 && begun.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
            changes.drain(&mut out).expect("drain");
        }
        assert_eq!(out.len(), 2, "{out:?}");
        // 200 µs of the recording at 1/1000 is 200 ms.
        assert!(begun.elapsed() >= Duration::from_millis(190));
        assert!(
            out[1].at >= out[0].at + Duration::from_millis(90),
            "100 µs became ~100 ms"
        );
    }

    #[test]
    fn seeking_back_starts_from_the_table_as_it_was_then() {
        let p = paused_at_start();
        assert!(p.step() && p.step());
        let back = p.seek(p.previous_event());
        let mut sources = back.sources();
        let rows = sources.table.dump(&Scope::default()).expect("dump").rows;
        // One event fewer: the client in SYN_SENT, not yet ESTABLISHED.
        assert!(
            rows.iter().any(|r| r.state == TcpState::SynSent),
            "{rows:?}"
        );
        assert!(back.position().paused);
        let start = back.seek(back.moment(0.0));
        assert_eq!(
            start
                .sources()
                .table
                .dump(&Scope::default())
                .expect("dump")
                .rows
                .len(),
            1
        );
    }

    #[test]
    fn keys_read_back_from_their_labels() {
        let k = key("[::1]:443 -> [::]:*").expect("a key");
        assert_eq!(k.remote.port(), 0);
        assert!(key("nonsense").is_none());
    }
}
