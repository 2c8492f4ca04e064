//! The pipeline on scripted observations: dumps and kernel changes in the
//! orders a busy machine produces them.

use super::*;
use crate::socket::{Entry, Family, SocketKey, SocketRow, SocketTimer, TcpState, TimerKind};
use crate::source::{Change, Dump};
use std::time::{Duration, SystemTime};

use TcpState::*;

struct Script {
    base: Instant,
    p: Pipeline,
    /// Every event so far, in emission order.
    log: Vec<Event>,
    /// Connections of the first dump.
    baseline: Vec<ConnId>,
    /// A consumer's copy, kept by deltas alone.
    mirror: Mirror,
}

impl Script {
    fn new() -> Self {
        Script {
            base: Instant::now(),
            p: Pipeline::new(),
            log: Vec::new(),
            baseline: Vec::new(),
            mirror: Mirror::default(),
        }
    }

    fn at(&self, us: u64) -> Instant {
        self.base + Duration::from_micros(us)
    }

    fn wall(us: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(us)
    }

    fn dump_rows(&self, from_us: u64, to_us: u64, rows: &[SocketRow]) -> Dump {
        Dump {
            rows: rows.to_vec(),
            started: self.at(from_us),
            finished: self.at(to_us),
            wall: Self::wall(from_us),
            warning: None,
        }
    }

    /// A dump taken over [from_us, to_us], with no changes.
    fn dump(&mut self, from_us: u64, to_us: u64, rows: &[SocketRow]) -> Vec<Event> {
        self.reading(from_us, to_us, rows, &[])
    }

    /// A dump plus the changes read after it, as the runner applies them.
    fn reading(
        &mut self,
        from_us: u64,
        to_us: u64,
        rows: &[SocketRow],
        changes: &[Change],
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let dump = self.dump_rows(from_us, to_us, rows);
        self.p.reading(dump, changes, &mut out);
        if self.p.dumps() == 1 {
            self.baseline = self.p.conns().map(|c| c.id).collect();
        }
        self.log.extend(out.clone());
        self.sync();
        out
    }

    fn changes(&mut self, changes: &[Change]) -> Vec<Event> {
        let mut out = Vec::new();
        self.p.changes(changes, &mut out);
        self.log.extend(out.clone());
        self.sync();
        out
    }

    /// Brings the mirror up to date by the pipeline's delta, and checks it
    /// holds exactly the pipeline's connections, each in its current
    /// version (the same shared object: any change the delta missed would
    /// show as a stale copy).
    fn sync(&mut self) {
        let delta = self.p.take_delta();
        self.mirror.apply(&delta, |_, _| {});
        assert_eq!(self.mirror.len(), self.p.len(), "the same connections");
        for conn in self.p.conns() {
            let copy = self.mirror.get(conn.id).expect("in the mirror");
            assert!(
                Arc::ptr_eq(conn, copy),
                "stale copy of {}: {copy:?}",
                conn.id
            );
        }
    }

    fn change(&self, us: u64, k: SocketKey, from: TcpState, to: TcpState, sk: u64) -> Change {
        Change {
            key: k,
            from,
            to,
            at: self.at(us),
            wall: Self::wall(us),
            sk: Some(sk),
            owner: None,
            cause: crate::socket::Cause::Unknown,
        }
    }

    fn states(&self, k: SocketKey) -> Vec<TcpState> {
        let conn = self.p.find(&k).expect("tracked");
        conn.timeline.iter().map(|p| p.state).collect()
    }

    /// Each connection's events: one chain, no gaps, times never back.
    fn assert_chains(&self) {
        let mut last: FxHashMap<ConnId, (Instant, Option<TcpState>, bool)> = FxHashMap::default();
        for e in &self.log {
            let (from, to) = e.states();
            match last.get(&e.id) {
                // Connections of the first dump were there before: no "new".
                None if self.baseline.contains(&e.id) => {}
                None => assert_eq!(e.kind, EventKind::New, "first event of {}: {e:?}", e.id),
                Some((t, state, gone)) => {
                    assert!(!gone, "event after gone: {e:?}");
                    assert!(*t <= e.at, "time went back: {e:?}");
                    assert_eq!(*state, from, "gap before {e:?}");
                }
            }
            last.insert(e.id, (e.at, to, e.kind == EventKind::Gone));
        }
    }
}

fn key(local: u16, remote: u16) -> SocketKey {
    SocketKey::new(
        Family::Inet,
        format!("127.0.0.1:{local}").parse().expect("addr"),
        format!("127.0.0.1:{remote}").parse().expect("addr"),
    )
}

fn row(local: u16, remote: u16, state: TcpState) -> SocketRow {
    SocketRow::new(key(local, remote), state)
}

fn with_cookie(mut r: SocketRow, cookie: u64) -> SocketRow {
    r.cookie = Some(cookie);
    r
}

/// A loopback pair whose server end closed first (an orphan handed to a
/// timewait socket at 1.01 ms) and whose client closed at `client_us`.
fn server_closed_first(client_us: u64) -> (Script, SocketKey, SocketKey) {
    let mut s = Script::new();
    let (srv, cli) = (key(8080, 40000), key(40000, 8080));
    s.dump(
        0,
        10,
        &[
            with_cookie(row(8080, 40000, Established), 8),
            with_cookie(row(40000, 8080, Established), 7),
        ],
    );
    s.changes(&[
        s.change(1_000, srv, Established, FinWait1, 4),
        s.change(1_004, cli, Established, CloseWait, 3),
        s.change(1_008, srv, FinWait1, FinWait2, 4),
        s.change(1_010, srv, FinWait2, Closed, 4),
        s.change(client_us, cli, CloseWait, LastAck, 3),
    ]);
    (s, srv, cli)
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

fn moved(from: TcpState, to: TcpState) -> EventKind {
    EventKind::State { from, to }
}

// Polling alone (no root): dumps drive everything.

#[test]
fn first_reading_is_a_baseline_without_events() {
    let mut s = Script::new();
    let events = s.dump(
        0,
        10,
        &[row(8080, 0, Listen), row(40000, 8080, Established)],
    );
    assert!(events.is_empty());
    let conn = s.p.find(&key(8080, 0)).expect("tracked");
    assert_eq!(conn.appeared_at, None);
    assert_eq!(conn.current_phase().entry, Entry::Before);
    assert_eq!(s.p.counts().get(Listen), 1);
    assert_eq!(s.p.counts().total(), 2);
}

#[test]
fn polling_sees_appear_change_and_vanish() {
    let mut s = Script::new();
    s.dump(0, 10, &[row(8080, 0, Listen)]);
    let new = s.dump(
        100_000,
        100_010,
        &[row(8080, 0, Listen), row(40000, 8080, Established)],
    );
    assert_eq!(kinds(&new), [EventKind::New]);
    let conn = s.p.find(&key(40000, 8080)).expect("tracked");
    assert_eq!(conn.appeared_at, Some(s.at(100_000)));
    assert_eq!(conn.current_phase().entry, Entry::Seen);
    let change = s.dump(
        200_000,
        200_010,
        &[row(8080, 0, Listen), row(40000, 8080, FinWait2)],
    );
    assert_eq!(kinds(&change), [moved(Established, FinWait2)]);
    // The listener is missing: one dump may miss a socket, so it is not
    // gone yet; the next dump without it confirms, as of the first miss.
    let stop = s.dump(300_000, 300_010, &[row(40000, 8080, TimeWait)]);
    assert_eq!(kinds(&stop), [moved(FinWait2, TimeWait)]);
    assert_eq!(
        s.states(key(40000, 8080)),
        [Established, FinWait2, TimeWait]
    );
    let gone = s.dump(400_000, 400_010, &[]);
    assert_eq!(kinds(&gone), [EventKind::Gone]);
    assert_eq!(gone[0].at, s.at(300_000), "when first missed");
    let gone = s.dump(500_000, 500_010, &[]);
    assert_eq!(kinds(&gone), [EventKind::Gone]);
    let conn = s.p.find(&key(40000, 8080)).expect("lingering");
    assert_eq!(conn.gone_at, Some(s.at(400_000)));
    assert_eq!(s.p.counts().total(), 0, "lingering rows are not counted");
    assert!(
        s.dump(1_000_000, 1_000_010, &[]).is_empty(),
        "one gone only"
    );
    s.dump(3_500_000, 3_500_010, &[]);
    assert!(
        s.p.find(&key(40000, 8080)).is_none(),
        "dropped after lingering"
    );
    s.assert_chains();
}

#[test]
fn a_reused_tuple_is_a_new_connection_by_cookie_state_or_inode() {
    let mut s = Script::new();
    s.dump(0, 10, &[with_cookie(row(1, 2, Established), 7)]);
    let old = s.p.find(&key(1, 2)).expect("tracked").id;
    // Same state, another socket: only the cookie tells.
    let ev = s.dump(100_000, 100_010, &[with_cookie(row(1, 2, Established), 9)]);
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::New]);
    assert_eq!(ev[0].id, old);
    assert_ne!(s.p.find(&key(1, 2)).expect("tracked").id, old);
    // Without cookies (netstat2): going "backwards" means a new socket.
    let mut s = Script::new();
    s.dump(200_000, 200_010, &[row(3, 4, TimeWait)]);
    let ev = s.dump(300_000, 300_010, &[row(3, 4, SynSent)]);
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::New]);
    let mut s = Script::new();
    let mut a = row(5, 6, Established);
    a.inode = Some(11);
    s.dump(400_000, 400_010, std::slice::from_ref(&a));
    a.inode = Some(12);
    let ev = s.dump(500_000, 500_010, &[a]);
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::New]);
    s.assert_chains();
}

#[test]
fn the_same_cookie_keeps_one_connection_into_time_wait() {
    let mut s = Script::new();
    s.dump(0, 10, &[with_cookie(row(1, 2, Established), 7)]);
    let id = s.p.find(&key(1, 2)).expect("tracked").id;
    let ev = s.dump(100_000, 100_010, &[with_cookie(row(1, 2, TimeWait), 7)]);
    assert_eq!(kinds(&ev), [moved(Established, TimeWait)]);
    assert_eq!(s.p.find(&key(1, 2)).expect("tracked").id, id);
}

#[test]
fn queue_changes_update_the_row_without_events_and_views_stay_frozen() {
    let mut s = Script::new();
    let mut a = row(40000, 8080, Established);
    s.dump(0, 10, std::slice::from_ref(&a));
    let frozen = s.p.view();
    a.recv_q = Some(5);
    assert!(
        s.dump(100_000, 100_010, std::slice::from_ref(&a))
            .is_empty()
    );
    assert_eq!(s.p.find(&a.key).expect("tracked").row.recv_q, Some(5));
    assert_eq!(frozen[0].row.recv_q, None, "a held view is not changed");
}

#[test]
fn timeline_is_bounded() {
    let mut s = Script::new();
    for i in 0..(crate::socket::MAX_PHASES as u64 + 10) {
        let state = if i % 2 == 0 { Established } else { CloseWait };
        s.dump(i * 1000, i * 1000 + 10, &[row(1, 2, state)]);
    }
    let conn = s.p.find(&key(1, 2)).expect("tracked");
    assert_eq!(conn.timeline.len(), crate::socket::MAX_PHASES);
}

#[test]
fn a_timer_counting_down_is_not_a_change_but_a_rearmed_one_is() {
    let mut s = Script::new();
    let timer = |at: Instant, ms: u32| SocketTimer {
        kind: TimerKind::TimeWait,
        remaining_ms: ms,
        expires_at: at + Duration::from_millis(u64::from(ms)),
        retransmits: 0,
    };
    let mut r = row(40000, 8080, TimeWait);
    r.timer = Some(timer(s.at(0), 60_000));
    s.dump(0, 10, std::slice::from_ref(&r));
    let before = s.p.view();
    // A second later the kernel reports 59 s left: the same expiry.
    r.timer = Some(timer(s.at(1_000_000), 59_003));
    s.dump(1_000_000, 1_000_010, std::slice::from_ref(&r));
    let after = s.p.view();
    assert!(
        Arc::ptr_eq(&before[0], &after[0]),
        "the shared row was not copied"
    );
    // A timer re-armed to a later expiry is a change.
    r.timer = Some(timer(s.at(2_000_000), 60_000));
    s.dump(2_000_000, 2_000_010, std::slice::from_ref(&r));
    assert!(!Arc::ptr_eq(&after[0], &s.p.view()[0]));
}

#[test]
fn a_time_wait_that_runs_out_between_readings_ends_at_its_expiry() {
    let mut s = Script::new();
    let mut r = row(40000, 8080, TimeWait);
    r.timer = Some(SocketTimer {
        kind: TimerKind::TimeWait,
        remaining_ms: 300,
        expires_at: s.at(300_000),
        retransmits: 0,
    });
    s.dump(0, 10, &[r.clone()]);
    s.dump(250_000, 250_010, &[r]);
    assert!(
        s.dump(500_000, 500_010, &[]).is_empty(),
        "one miss is not enough"
    );
    let ev = s.dump(750_000, 750_010, &[]);
    assert_eq!(kinds(&ev), [EventKind::Gone]);
    assert_eq!(
        ev[0].at,
        s.at(300_000),
        "when the timer fired, not when it was noticed"
    );
}

// With the tracepoint: changes and dumps merged by time.

#[test]
fn a_connect_is_backfilled_from_its_portless_syn() {
    let mut s = Script::new();
    s.dump(0, 10, &[]);
    let c = key(40000, 8080);
    let portless = SocketKey::new(
        Family::Inet,
        "127.0.0.1:0".parse().expect("a"),
        "127.0.0.1:8080".parse().expect("b"),
    );
    let ev = s.changes(&[
        s.change(100, portless, Closed, SynSent, 0xa),
        s.change(150, c, SynSent, Established, 0xa),
    ]);
    assert_eq!(kinds(&ev), [EventKind::New, moved(SynSent, Established)]);
    assert_eq!(ev[0].state, SynSent);
    assert_eq!(ev[0].at, s.at(100), "SYN_SENT began with the SYN");
    assert_eq!(s.states(c), [SynSent, Established]);
    s.assert_chains();
}

/// An owner as the change records name it.
fn caller(pid: u32, name: &str) -> Arc<Owner> {
    Arc::new(Owner {
        procs: vec![crate::socket::Process {
            pid,
            name: Some(Arc::from(name)),
        }],
    })
}

#[test]
fn the_caller_of_connect_owns_the_connection_without_a_walk() {
    let mut s = Script::new();
    s.dump(0, 10, &[]);
    let c = key(40000, 8080);
    let portless = SocketKey::new(
        Family::Inet,
        "127.0.0.1:0".parse().expect("a"),
        "127.0.0.1:8080".parse().expect("b"),
    );
    let mut connect = s.change(100, portless, Closed, SynSent, 0xa);
    connect.owner = Some(caller(4242, "curl"));
    // The SYN+ACK came in softirq: no caller in its record.
    let ev = s.changes(&[connect, s.change(150, c, SynSent, Established, 0xa)]);
    let owners: Vec<Option<u32>> = ev
        .iter()
        .map(|e| e.owner.as_ref().and_then(|o| o.pids().next()))
        .collect();
    assert_eq!(owners, [Some(4242), Some(4242)]);
    let conn = s.p.find(&c).expect("the connection");
    assert_eq!(conn.row.owner.as_ref().and_then(|o| o.name()), Some("curl"));
    // A reading whose walk has not named it yet keeps the caller; one that
    // has, wins.
    let mut read = with_cookie(row(40000, 8080, Established), 7);
    read.inode = Some(99);
    s.dump(10_000, 10_010, &[read.clone()]);
    let conn = s.p.find(&c).expect("the connection");
    assert_eq!(conn.row.owner.as_ref().and_then(|o| o.name()), Some("curl"));
    read.owner = Some(caller(4243, "curl-child"));
    s.dump(20_000, 20_010, &[read]);
    let conn = s.p.find(&c).expect("the connection");
    assert_eq!(
        conn.row.owner.as_ref().and_then(|o| o.name()),
        Some("curl-child")
    );
}

#[test]
fn a_close_names_its_caller_on_the_event_but_leaves_the_row_unowned() {
    let mut s = Script::new();
    s.dump(0, 10, &[]);
    let c = key(40001, 8080);
    s.changes(&[s.change(100, c, SynSent, Established, 0xb)]);
    let mut close = s.change(200, c, Established, FinWait1, 0xb);
    close.owner = Some(caller(77, "python3"));
    let ev = s.changes(&[close]);
    assert_eq!(
        ev.last()
            .and_then(|e| e.owner.as_ref())
            .and_then(|o| o.name()),
        Some("python3")
    );
    let conn = s.p.find(&c).expect("the connection");
    assert!(conn.row.owner.is_none(), "after close() no one holds it");
}

#[test]
fn a_dump_read_before_its_changes_arrive_never_splits_a_connection() {
    // The reported fault: the server end is in the dump as ESTABLISHED,
    // the changes that made it so are read after the dump.
    let mut s = Script::new();
    s.dump(0, 10, &[row(8080, 0, Listen)]);
    let server = key(8080, 40000);
    let changes = [
        s.change(100_000, server, Listen, SynRecv, 0xb),
        s.change(100_002, server, SynRecv, Established, 0xb),
    ];
    let dump_rows = [
        row(8080, 0, Listen),
        with_cookie(row(8080, 40000, Established), 5),
    ];
    let ev = s.reading(100_500, 101_000, &dump_rows, &changes);
    assert_eq!(kinds(&ev), [EventKind::New, moved(SynRecv, Established)]);
    let conn = s.p.find(&server).expect("tracked");
    assert_eq!(
        conn.timeline.len(),
        3,
        "LISTEN (cloned), SYN_RECV, ESTABLISHED"
    );
    // Later readings agree, and the dump's cookie now belongs to it.
    assert!(s.dump(200_000, 200_010, &dump_rows).is_empty());
    s.assert_chains();
}

#[test]
fn a_row_the_changes_made_stale_is_ignored() {
    let mut s = Script::new();
    let k = key(8080, 40000);
    s.dump(0, 10, &[with_cookie(row(8080, 40000, CloseWait), 3)]);
    // close(): LAST_ACK, then gone, while the next dump was running; it
    // read the socket before it went.
    let changes = [
        s.change(100_100, k, CloseWait, LastAck, 0xc),
        s.change(100_200, k, LastAck, Closed, 0xc),
    ];
    let ev = s.reading(
        100_000,
        100_500,
        &[with_cookie(row(8080, 40000, LastAck), 3)],
        &changes,
    );
    assert_eq!(kinds(&ev), [moved(CloseWait, LastAck), EventKind::Gone]);
    assert_eq!(ev[1].at, s.at(100_200), "gone at the kernel's time");
    // A dump that still shows the old socket does not bring it back.
    let ev = s.dump(
        100_600,
        100_700,
        &[with_cookie(row(8080, 40000, LastAck), 3)],
    );
    assert!(ev.is_empty(), "{ev:?}");
    s.assert_chains();
}

#[test]
fn an_active_close_reads_fin_wait_1_fin_wait_2_time_wait_at_the_kernels_times() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    s.dump(0, 10, &[with_cookie(row(40000, 8080, Established), 1)]);
    let ev = s.changes(&[
        s.change(1_000, k, Established, FinWait1, 0xd),
        s.change(1_050, k, FinWait1, FinWait2, 0xd),
        s.change(1_060, k, FinWait2, Closed, 0xd), // the timewait socket takes over
    ]);
    assert_eq!(
        kinds(&ev),
        [moved(Established, FinWait1), moved(FinWait1, FinWait2)]
    );
    // The next dump finds the timewait socket: TIME_WAIT since it closed.
    let ev = s.dump(
        100_000,
        100_010,
        &[with_cookie(row(40000, 8080, TimeWait), 1)],
    );
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(1_060));
    assert_eq!(s.states(k), [Established, FinWait1, FinWait2, TimeWait]);
    let tl = &s.p.find(&k).expect("tracked").timeline;
    assert_eq!(tl[2].entered - tl[1].entered, Duration::from_micros(50));
    assert!(tl.iter().skip(1).all(|p| p.entry == Entry::Exact));
    s.assert_chains();
}

#[test]
fn a_close_without_a_timewait_socket_ends_when_it_closed() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    s.dump(0, 10, &[row(40000, 8080, FinWait1)]);
    s.changes(&[s.change(1_000, k, FinWait1, Closed, 0xe)]); // a RST
    assert!(s.dump(100_000, 100_010, &[]).is_empty());
    let ev = s.dump(200_000, 200_010, &[]);
    assert_eq!(kinds(&ev), [EventKind::Gone]);
    assert_eq!(ev[0].at, s.at(1_000));
}

#[test]
fn a_socket_one_dump_missed_is_not_gone() {
    // Under churn the kernel can skip a socket in one dump.
    let mut s = Script::new();
    let a = with_cookie(row(40000, 8080, Established), 3);
    s.dump(0, 10, std::slice::from_ref(&a));
    assert!(!s.p.awaits_next_dump());
    assert!(s.dump(100_000, 100_010, &[]).is_empty());
    assert!(s.p.awaits_next_dump(), "a poller must not skip the next");
    assert!(
        s.dump(200_000, 200_010, std::slice::from_ref(&a))
            .is_empty()
    );
    assert!(!s.p.awaits_next_dump());
    assert!(
        s.dump(300_000, 300_010, &[]).is_empty(),
        "the count starts over"
    );
    let conn = s.p.find(&a.key).expect("tracked");
    assert!(!conn.is_gone());
}

#[test]
fn a_new_connect_on_a_time_wait_tuple_ends_the_old_connection() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    s.dump(0, 10, &[with_cookie(row(40000, 8080, TimeWait), 1)]);
    let old = s.p.find(&k).expect("tracked").id;
    let ev = s.changes(&[
        s.change(5_000, k, Closed, SynSent, 0xf),
        s.change(5_009, k, SynSent, Established, 0xf),
    ]);
    assert_eq!(
        kinds(&ev),
        [EventKind::Gone, EventKind::New, moved(SynSent, Established)]
    );
    assert_eq!(ev[0].id, old);
    assert_eq!(s.states(k), [SynSent, Established]);
    // The next dump shows the new socket (a new cookie): no more events.
    let ev = s.dump(
        10_000,
        10_010,
        &[with_cookie(row(40000, 8080, Established), 2)],
    );
    assert!(ev.is_empty(), "{ev:?}");
    s.assert_chains();
}

#[test]
fn another_socket_address_on_a_tuple_is_another_connection() {
    let mut s = Script::new();
    let k = key(8080, 40000);
    s.dump(0, 10, &[]);
    s.changes(&[
        s.change(100, k, Listen, SynRecv, 1),
        s.change(110, k, SynRecv, Established, 1),
    ]);
    // Its close was lost; the tuple now belongs to a socket at another address.
    let ev = s.changes(&[s.change(900, k, Established, CloseWait, 2)]);
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::New]);
    s.assert_chains();
}

#[test]
fn a_request_socket_in_a_dump_becomes_its_child() {
    let mut s = Script::new();
    let k = key(8080, 40000);
    s.dump(0, 10, &[]);
    let ev = s.dump(1_000, 1_010, &[with_cookie(row(8080, 40000, SynRecv), 4)]);
    assert_eq!(kinds(&ev), [EventKind::New]);
    let id = ev[0].id;
    let ev = s.changes(&[
        s.change(2_000, k, Listen, SynRecv, 9),
        s.change(2_001, k, SynRecv, Established, 9),
    ]);
    assert_eq!(kinds(&ev), [moved(SynRecv, Established)]);
    assert_eq!(ev[0].id, id);
    // SYN_RECV began when the request socket was seen, not at the child.
    let conn = s.p.find(&k).expect("the connection");
    assert_eq!(conn.timeline[0].state, SynRecv);
    assert_eq!(conn.timeline[0].entry, Entry::Seen);
    s.assert_chains();
}

#[test]
fn changes_during_the_baseline_correct_it_without_events() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    // The first dump read the socket just after it moved to FIN_WAIT_2.
    let changes = [s.change(10_050, k, FinWait1, FinWait2, 3)];
    let ev = s.reading(10_000, 10_100, &[row(40000, 8080, FinWait2)], &changes);
    assert!(ev.is_empty());
    let phase = s.p.find(&k).expect("tracked").current_phase().clone();
    assert_eq!((phase.entered, phase.entry), (s.at(10_050), Entry::Exact));
}

#[test]
fn changes_from_before_the_first_dump_are_part_of_it() {
    let mut s = Script::new();
    let changes = [s.change(1_000, key(1, 2), Closed, SynSent, 4)];
    let ev = s.reading(10_000, 10_100, &[row(1, 2, SynSent)], &changes);
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(
        s.p.find(&key(1, 2)).map(|c| c.current_phase().entry),
        Some(Entry::Before)
    );
}

#[test]
fn a_change_stamped_before_its_state_began_is_placed_after_it() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    s.dump(0, 10, &[]);
    s.dump(1_000, 1_010, &[row(40000, 8080, Established)]);
    // The kernel's clock puts the close a hair before the reading that
    // first saw the connection.
    let ev = s.changes(&[s.change(999, k, Established, FinWait1, 5)]);
    assert_eq!(kinds(&ev), [moved(Established, FinWait1)]);
    assert_eq!(ev[0].at, s.at(1_000));
    s.assert_chains();
}

#[test]
fn a_refused_connect_is_a_short_syn_sent() {
    let mut s = Script::new();
    s.dump(0, 10, &[]);
    let k = key(40000, 9);
    let portless = SocketKey::new(
        Family::Inet,
        "127.0.0.1:0".parse().expect("a"),
        "127.0.0.1:9".parse().expect("b"),
    );
    let ev = s.changes(&[
        s.change(100, portless, Closed, SynSent, 6),
        s.change(130, k, SynSent, Closed, 6),
    ]);
    assert_eq!(kinds(&ev), [EventKind::New, EventKind::Gone]);
    assert_eq!(ev[0].state, SynSent);
    s.assert_chains();
}

#[test]
fn a_same_state_report_is_not_a_change() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    s.dump(0, 10, &[row(40000, 8080, FinWait2)]);
    assert!(
        s.changes(&[s.change(500, k, FinWait2, FinWait2, 1)])
            .is_empty()
    );
    assert_eq!(s.states(k), [FinWait2]);
}

fn time_wait_row(s: &Script, local: u16, remote: u16, expires_us: u64) -> SocketRow {
    let mut r = row(local, remote, TimeWait);
    r.timer = Some(SocketTimer {
        kind: TimerKind::TimeWait,
        remaining_ms: 0,
        expires_at: s.at(expires_us),
        retransmits: 0,
    });
    r
}

#[test]
fn an_orphan_stays_in_fin_wait_2_until_the_peers_fin() {
    // close() after the FIN is acked: the kernel hands the connection to a
    // timewait socket at once, still in FIN_WAIT_2; TIME_WAIT starts when
    // the peer's FIN arrives, which no tracepoint reports for the client.
    let mut s = Script::new();
    let (c, p) = (key(40000, 8080), key(8080, 40000));
    s.dump(
        0,
        10,
        &[row(40000, 8080, Established), row(8080, 40000, Established)],
    );
    s.changes(&[
        s.change(1_000, c, Established, FinWait1, 1),
        s.change(1_004, p, Established, CloseWait, 2),
        s.change(1_008, c, FinWait1, FinWait2, 1),
        s.change(1_010, c, FinWait2, Closed, 1),
        s.change(31_000, p, CloseWait, LastAck, 2),
        s.change(31_050, p, LastAck, Closed, 2),
    ]);
    let tw = time_wait_row(&s, 40000, 8080, 60_031_000);
    let ev = s.dump(50_000, 50_010, &[tw]);
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(31_000), "when the peer's FIN left");
    let conn = s.p.find(&c).expect("tracked");
    assert_eq!(conn.current_phase().entry, Entry::Exact);
    s.assert_chains();
}

#[test]
fn a_time_wait_start_is_read_from_its_timer_when_the_peer_is_remote() {
    let mut s = Script::new();
    let c = key(40000, 8080);
    s.dump(0, 10, &[row(40000, 8080, FinWait2)]);
    s.changes(&[s.change(1_000, c, FinWait2, Closed, 1)]);
    // A dump catches the timewait socket still in FIN_WAIT_2: no change.
    let mut fw2 = row(40000, 8080, FinWait2);
    fw2.timer = Some(SocketTimer {
        kind: TimerKind::FinTimeout,
        remaining_ms: 59_900,
        expires_at: s.at(60_001_000),
        retransmits: 0,
    });
    assert!(s.dump(100_000, 100_010, &[fw2]).is_empty());
    // The next one finds TIME_WAIT, its 60 s timer started 0.5 s in.
    let ev = s.dump(
        900_000,
        900_010,
        &[time_wait_row(&s, 40000, 8080, 60_500_000)],
    );
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(500_000));
    // A close that is the FIN's arrival: TIME_WAIT from the close itself.
    let mut s = Script::new();
    s.dump(0, 10, &[row(40000, 8080, FinWait2)]);
    s.changes(&[s.change(2_000_000, c, FinWait2, Closed, 1)]);
    let tw = time_wait_row(&s, 40000, 8080, 62_000_004);
    let ev = s.dump(2_100_000, 2_100_010, &[tw]);
    assert_eq!(
        ev[0].at,
        s.at(2_000_000),
        "the kernel's own time, to the µs"
    );
}
// What a request socket, a slow connect or shared listeners look like.

#[test]
fn a_request_sockets_child_with_its_own_cookie_is_the_same_connection() {
    let mut s = Script::new();
    let k = key(8080, 40000);
    s.dump(0, 10, &[]);
    let ev = s.dump(1_000, 1_010, &[with_cookie(row(8080, 40000, SynRecv), 4)]);
    let id = ev[0].id;
    s.changes(&[
        s.change(2_000, k, Listen, SynRecv, 9),
        s.change(2_001, k, SynRecv, Established, 9),
    ]);
    let child = with_cookie(row(8080, 40000, Established), 5);
    let ev = s.dump(100_000, 100_010, std::slice::from_ref(&child));
    assert!(ev.is_empty(), "{:?}", kinds(&ev));
    let ev = s.dump(200_000, 200_010, &[child]);
    assert!(ev.is_empty(), "{:?}", kinds(&ev));
    assert_eq!(s.p.find(&k).map(|c| c.id), Some(id));
    s.assert_chains();
}

#[test]
fn polling_follows_a_request_socket_into_its_child() {
    let mut s = Script::new();
    s.dump(0, 10, &[]);
    let ev = s.dump(1_000, 1_010, &[with_cookie(row(8080, 40000, SynRecv), 4)]);
    let id = ev[0].id;
    let child = with_cookie(row(8080, 40000, Established), 5);
    let ev = s.dump(100_000, 100_010, std::slice::from_ref(&child));
    assert_eq!(kinds(&ev), [moved(SynRecv, Established)]);
    let ev = s.dump(200_000, 200_010, &[child]);
    assert!(ev.is_empty(), "{:?}", kinds(&ev));
    assert_eq!(s.p.find(&key(8080, 40000)).map(|c| c.id), Some(id));
}

#[test]
fn a_connection_a_dump_missed_still_ends_after_its_last_state() {
    let mut s = Script::new();
    let k = key(8080, 40000);
    s.dump(0, 10, &[with_cookie(row(8080, 40000, CloseWait), 3)]);
    s.dump(100_000, 100_010, &[]); // missed under churn
    s.changes(&[
        s.change(150_000, k, CloseWait, LastAck, 7),
        s.change(150_100, k, LastAck, Closed, 7),
    ]);
    s.assert_chains();
    let c = s.p.find(&k).expect("lingering");
    assert_eq!(c.gone_at, Some(s.at(150_100)));
}

#[test]
fn a_slow_connect_a_dump_saw_waiting_is_one_connection() {
    let mut s = Script::new();
    s.dump(0, 10, &[]);
    let k = key(40000, 9);
    let portless = SocketKey::new(
        Family::Inet,
        "127.0.0.1:0".parse().expect("addr"),
        "127.0.0.1:9".parse().expect("addr"),
    );
    // The SYN leaves before the port is known; a dump sees SYN_SENT; the
    // SYN-ACK comes 119 ms after the SYN.
    s.changes(&[s.change(1_000, portless, Closed, SynSent, 0xa)]);
    let ev = s.dump(50_000, 50_010, &[with_cookie(row(40000, 9, SynSent), 3)]);
    assert_eq!(kinds(&ev), [EventKind::New]);
    let ev = s.changes(&[s.change(120_000, k, SynSent, Established, 0xa)]);
    assert_eq!(kinds(&ev), [moved(SynSent, Established)]);
    s.assert_chains();
    let c = s.p.find(&k).expect("tracked");
    let first = &c.timeline[0];
    assert_eq!((first.state, first.entry), (SynSent, Entry::Exact));
    assert_eq!(first.entered, s.at(1_000), "the SYN's own time");
}

#[test]
fn a_close_reported_before_the_first_dump_does_not_go_back() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    let changes = [s.change(9_000, k, FinWait2, Closed, 3)];
    s.reading(
        10_000,
        10_100,
        &[with_cookie(row(40000, 8080, FinWait2), 1)],
        &changes,
    );
    s.dump(
        100_000,
        100_010,
        &[with_cookie(row(40000, 8080, TimeWait), 1)],
    );
    let c = s.p.find(&k).expect("tracked");
    assert_eq!(c.state(), TimeWait);
    assert!(
        c.timeline.windows(2).all(|w| w[0].entered <= w[1].entered),
        "{:?}",
        c.timeline
    );
}

fn listener(port: u16, inode: u64) -> SocketRow {
    let mut r = with_cookie(row(port, 0, Listen), inode + 1000);
    r.inode = Some(inode);
    r
}

/// A dump's rows as the sources hand them over.
fn as_read(rows: &[SocketRow]) -> Vec<SocketRow> {
    let mut rows = rows.to_vec();
    crate::source::separate_shared_tuples(&mut rows);
    rows
}

fn live_ids(s: &Script) -> Vec<ConnId> {
    let mut ids: Vec<_> = s.p.conns().filter(|c| !c.is_gone()).map(|c| c.id).collect();
    ids.sort();
    ids
}

#[test]
fn reuseport_listeners_keep_their_ids_as_siblings_come_and_go() {
    let mut s = Script::new();
    let (a, b, c) = (
        listener(8080, 100),
        listener(8080, 200),
        listener(8080, 300),
    );
    s.dump(0, 10, &as_read(std::slice::from_ref(&a)));
    let a_id = live_ids(&s)[0];
    // b joins a: both move to keys of their own.
    let ev = s.dump(100_000, 100_010, &as_read(&[b.clone(), a.clone()]));
    assert_eq!(kinds(&ev), [EventKind::New]);
    let b_id = ev[0].id;
    // Listed in the other order: nothing changes.
    let ev = s.dump(200_000, 200_010, &as_read(&[a.clone(), b.clone()]));
    assert!(ev.is_empty(), "{:?}", kinds(&ev));
    // a closes: b lives on alone, on the tuple's plain key.
    for t in [300_000, 400_000] {
        s.dump(t, t + 10, &as_read(std::slice::from_ref(&b)));
    }
    assert_eq!(live_ids(&s), [b_id]);
    assert!(s.p.find(&key(8080, 0)).is_some_and(|l| l.id == b_id));
    // c joins b.
    let ev = s.dump(500_000, 500_010, &as_read(&[c.clone(), b.clone()]));
    assert_eq!(kinds(&ev), [EventKind::New]);
    assert_eq!(live_ids(&s).len(), 2);
    assert!(live_ids(&s).contains(&b_id) && !live_ids(&s).contains(&a_id));
    s.assert_chains();
}

#[test]
fn a_second_listen_on_a_shared_port_starts_a_sibling() {
    let mut s = Script::new();
    let k = key(8080, 0);
    let a = listener(8080, 100);
    s.dump(0, 10, &as_read(std::slice::from_ref(&a)));
    let a_id = live_ids(&s)[0];
    let ev = s.changes(&[s.change(50_000, k, Closed, Listen, 0xb)]);
    assert_eq!(kinds(&ev), [EventKind::New], "the first listener stays");
    let b_id = ev[0].id;
    assert_eq!(live_ids(&s), [a_id, b_id]);
    // The dumps key both apart; each keeps its id.
    let b = listener(8080, 200);
    for t in [100_000, 200_000] {
        let ev = s.dump(t, t + 10, &as_read(&[a.clone(), b.clone()]));
        assert!(ev.is_empty(), "{:?}", kinds(&ev));
    }
    assert_eq!(live_ids(&s), [a_id, b_id]);
    // b closes, by its socket; then a, whose socket was never reported.
    let ev = s.changes(&[s.change(250_000, k, Listen, Closed, 0xb)]);
    assert_eq!((kinds(&ev), ev[0].id), (vec![EventKind::Gone], b_id));
    let ev = s.changes(&[s.change(260_000, k, Listen, Closed, 0xa)]);
    assert_eq!((kinds(&ev), ev[0].id), (vec![EventKind::Gone], a_id));
    s.assert_chains();
}

// Exact readings of single sockets between dumps.

impl Script {
    fn looked_up(
        &mut self,
        at_us: u64,
        answers: Vec<(SocketKey, Option<SocketRow>)>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        self.p
            .looked_up(self.at(at_us), Self::wall(at_us), answers, &mut out);
        self.log.extend(out.clone());
        self.sync();
        out
    }
}

#[test]
fn a_close_from_fin_wait_asks_for_its_timewait_socket_which_carries_it_on() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    s.dump(0, 10, &[with_cookie(row(40000, 8080, Established), 7)]);
    s.changes(&[
        s.change(1_000, k, Established, FinWait1, 3),
        s.change(1_100, k, FinWait1, FinWait2, 3),
        s.change(1_200, k, FinWait2, Closed, 3),
    ]);
    let wanted = s.p.take_wanted();
    assert_eq!(wanted.len(), 1);
    assert_eq!((wanted[0].key, wanted[0].cookie), (k, Some(7)));
    assert!(s.p.take_wanted().is_empty(), "asked for once");
    // The kernel's answer: a timewait socket, counting down.
    let mut tw = time_wait_row(&s, 40000, 8080, 61_200);
    tw.cookie = Some(7);
    let ev = s.looked_up(3_000, vec![(k, Some(tw))]);
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(1_200), "from when it closed");
    assert_eq!(s.states(k), [Established, FinWait1, FinWait2, TimeWait]);
    s.assert_chains();
}

#[test]
fn no_timewait_socket_means_it_ended_when_it_closed() {
    let mut s = Script::new();
    let k = key(40000, 8080);
    s.dump(0, 10, &[with_cookie(row(40000, 8080, FinWait2), 7)]);
    s.changes(&[s.change(1_200, k, FinWait2, Closed, 3)]);
    // Read before the close was stamped: proves nothing.
    assert!(s.looked_up(1_100, vec![(k, None)]).is_empty());
    let ev = s.looked_up(3_000, vec![(k, None)]);
    assert_eq!(kinds(&ev), [EventKind::Gone]);
    assert_eq!(ev[0].at, s.at(1_200));
    s.assert_chains();
}

#[test]
fn the_peers_fin_asks_for_the_timewait_socket_still_in_fin_wait_2() {
    let mut s = Script::new();
    let (client, server) = (key(40000, 8080), key(8080, 40000));
    s.dump(
        0,
        10,
        &[
            with_cookie(row(40000, 8080, FinWait2), 7),
            with_cookie(row(8080, 40000, CloseWait), 8),
        ],
    );
    s.changes(&[s.change(1_000, client, FinWait2, Closed, 3)]);
    assert_eq!(s.p.take_wanted().len(), 1);
    let mut fin_wait = row(40000, 8080, FinWait2);
    fin_wait.cookie = Some(7);
    s.looked_up(2_000, vec![(client, Some(fin_wait))]);
    assert_eq!(
        s.states(client),
        [FinWait2],
        "an orphan waiting for the peer"
    );
    // The server closes: its FIN turns the client's timewait socket.
    s.changes(&[s.change(5_000, server, CloseWait, LastAck, 4)]);
    let wanted: Vec<SocketKey> = s.p.take_wanted().iter().map(|w| w.key).collect();
    assert_eq!(wanted, [client]);
    let mut tw = time_wait_row(&s, 40000, 8080, 65_000);
    tw.cookie = Some(7);
    let ev = s.looked_up(6_000, vec![(client, Some(tw))]);
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(5_000), "at the peer's FIN, to the µs");
    s.assert_chains();
}

// When TIME_WAIT began: the kernel's record of the close, unless the
// timewait socket waited in FIN_WAIT_2 for the peer's FIN.

/// A TIME_WAIT row whose 2·MSL timer says it started at `started_us`.
fn time_wait_since(s: &Script, local: u16, remote: u16, started_us: u64, cookie: u64) -> SocketRow {
    let mut r = time_wait_row(s, local, remote, started_us + 60_000_000);
    r.cookie = Some(cookie);
    r
}

/// A client that closes first and a server that answers with its FIN:
/// the client's socket closes when that FIN arrives, at 2_010, in
/// TIME_WAIT from then on.
fn closed_on_the_peers_fin(s: &mut Script) -> (SocketKey, SocketKey) {
    let (c, p) = (key(40000, 8080), key(8080, 40000));
    s.dump(
        0,
        10,
        &[
            with_cookie(row(40000, 8080, Established), 7),
            with_cookie(row(8080, 40000, Established), 8),
        ],
    );
    s.changes(&[
        s.change(1_000, c, Established, FinWait1, 3),
        s.change(1_004, p, Established, CloseWait, 4),
        s.change(1_008, c, FinWait1, FinWait2, 3),
        s.change(2_000, p, CloseWait, LastAck, 4),
        s.change(2_010, c, FinWait2, Closed, 3),
        s.change(2_020, p, LastAck, Closed, 4),
    ]);
    (c, p)
}

#[test]
fn a_time_wait_read_50ms_after_the_close_is_dated_by_the_close_record() {
    let mut s = Script::new();
    let (c, _) = closed_on_the_peers_fin(&mut s);
    // Read 50 ms later, on a loaded machine whose jiffies lag: the timer
    // puts the start 30 ms after the close. The kernel's record wins.
    let tw = time_wait_since(&s, 40000, 8080, 32_010, 7);
    let ev = s.looked_up(52_010, vec![(c, Some(tw))]);
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(2_010), "the close record's own time");
    assert_eq!(ev[0].wall, Script::wall(2_010));
    s.assert_chains();
    // The same through a dump instead of an exact reading.
    let mut s = Script::new();
    let (c, _) = closed_on_the_peers_fin(&mut s);
    let tw = time_wait_since(&s, 40000, 8080, 32_010, 7);
    let ev = s.dump(52_010, 52_100, &[tw]);
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(2_010));
    assert_eq!(
        s.p.find(&c).map(|c| c.current_phase().entry),
        Some(Entry::Exact)
    );
    s.assert_chains();
}

#[test]
fn a_time_wait_from_closing_is_dated_by_its_close_record() {
    // A simultaneous close: both ends in CLOSING, each handed to a
    // timewait socket in TIME_WAIT when its FIN is acked.
    let mut s = Script::new();
    let (a, b) = (key(40000, 8080), key(8080, 40000));
    s.dump(
        0,
        10,
        &[
            with_cookie(row(40000, 8080, Established), 7),
            with_cookie(row(8080, 40000, Established), 8),
        ],
    );
    s.changes(&[
        s.change(1_000, a, Established, FinWait1, 3),
        s.change(1_001, b, Established, FinWait1, 4),
        s.change(1_010, a, FinWait1, Closing, 3),
        s.change(1_011, b, FinWait1, Closing, 4),
        s.change(1_020, a, Closing, Closed, 3),
        s.change(1_021, b, Closing, Closed, 4),
    ]);
    let ev = s.looked_up(
        51_000,
        vec![
            (a, Some(time_wait_since(&s, 40000, 8080, 31_000, 7))),
            (b, Some(time_wait_since(&s, 8080, 40000, 31_000, 8))),
        ],
    );
    assert_eq!(
        kinds(&ev),
        [moved(Closing, TimeWait), moved(Closing, TimeWait)]
    );
    let times: Vec<Instant> = ev.iter().map(|e| e.at).collect();
    assert_eq!(times, [s.at(1_020), s.at(1_021)]);
    s.assert_chains();
}

#[test]
fn an_orphan_is_in_time_wait_from_the_peers_fin_however_soon_it_came() {
    // The server closes first; its socket, orphaned in FIN_WAIT_2, is
    // handed to a timewait socket still in FIN_WAIT_2 (`ss` shows
    // FIN-WAIT-2); the client's FIN 10 ms later turns it TIME_WAIT.
    let (mut s, srv, _cli) = server_closed_first(11_010);
    let tw = time_wait_since(&s, 8080, 40000, 11_000, 8);
    let ev = s.looked_up(30_000, vec![(srv, Some(tw))]);
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(11_010), "when the peer's FIN left");
    s.assert_chains();
}

// A new connection on a TIME_WAIT's 4-tuple: Linux lets a SYN with a
// higher sequence number or timestamp take the tuple over.

#[test]
fn a_syn_that_took_over_a_time_wait_a_dump_found_starts_a_new_connection() {
    let mut s = Script::new();
    let k = key(8080, 40000);
    s.dump(0, 10, &[]);
    // A slow dump reads the timewait socket; just after it ended, the
    // client's new SYN takes the tuple over and the child is made.
    let ev = s.dump(
        100_000,
        150_000,
        &[with_cookie(row(8080, 40000, TimeWait), 5)],
    );
    assert_eq!(kinds(&ev), [EventKind::New]);
    let old = ev[0].id;
    let ev = s.changes(&[
        s.change(151_000, k, Listen, SynRecv, 9),
        s.change(151_004, k, SynRecv, Established, 9),
    ]);
    assert_eq!(
        kinds(&ev),
        [EventKind::Gone, EventKind::New, moved(SynRecv, Established)]
    );
    assert_eq!((ev[0].id, ev[0].state), (old, TimeWait));
    assert_eq!(
        ev[0].cause,
        crate::socket::Cause::segment(crate::socket::Flags::SYN),
        "ended by the SYN, not TIME_WAIT's timer"
    );
    assert_ne!(ev[1].id, old);
    s.assert_chains();
    // The same in the first reading: the takeover happened while it ran.
    let mut s = Script::new();
    let changes = [
        s.change(40_000, k, Listen, SynRecv, 9),
        s.change(40_004, k, SynRecv, Established, 9),
    ];
    let ev = s.reading(
        0,
        50_000,
        &[with_cookie(row(8080, 40000, TimeWait), 5)],
        &changes,
    );
    assert_eq!(
        kinds(&ev),
        [EventKind::Gone, EventKind::New, moved(SynRecv, Established)]
    );
    assert_eq!(s.states(k), [Listen, SynRecv, Established]);
    s.assert_chains();
}

#[test]
fn any_report_on_a_time_wait_tuple_is_another_socket() {
    // The child's first record was lost: the next one is still not the
    // timewait socket's, which reports nothing.
    let mut s = Script::new();
    let (c, _) = closed_on_the_peers_fin(&mut s);
    s.looked_up(
        3_000,
        vec![(c, Some(time_wait_since(&s, 40000, 8080, 2_010, 7)))],
    );
    let old = s.p.find(&c).expect("tracked").id;
    let ev = s.changes(&[s.change(9_000, c, SynRecv, Established, 12)]);
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::New]);
    assert_eq!((ev[0].id, ev[0].state), (old, TimeWait));
    assert_eq!(s.states(c), [SynRecv, Established]);
    s.assert_chains();
}

#[test]
fn a_row_of_a_new_socket_on_a_time_wait_tuple_starts_a_new_connection() {
    // Known by its cookie: a request socket on the tuple now.
    let mut s = Script::new();
    s.dump(0, 10, &[with_cookie(row(8080, 40000, TimeWait), 5)]);
    let ev = s.dump(
        100_000,
        100_010,
        &[with_cookie(row(8080, 40000, SynRecv), 11)],
    );
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::New]);
    assert_eq!(ev[0].state, TimeWait);
    // Without a cookie to compare: a TIME_WAIT never becomes anything but
    // gone, so a row in another state is another socket.
    let mut s = Script::new();
    s.dump(0, 10, &[row(8080, 40000, TimeWait)]);
    let ev = s.dump(
        100_000,
        100_010,
        &[with_cookie(row(8080, 40000, Established), 12)],
    );
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::New]);
    assert_eq!(s.states(key(8080, 40000)), [Established]);
    s.assert_chains();
}

#[test]
fn an_exact_reading_that_finds_a_new_socket_after_a_close_ends_the_old_connection() {
    // Closed in FIN_WAIT_2 (known only from changes: no cookie to ask
    // with); by the time it is read, a new SYN has taken its timewait
    // socket's tuple over, and the reading finds the request socket.
    let mut s = Script::new();
    let k = key(8080, 40000);
    s.dump(0, 10, &[]);
    s.changes(&[
        s.change(1_000, k, Listen, SynRecv, 3),
        s.change(1_004, k, SynRecv, Established, 3),
        s.change(2_000, k, Established, FinWait1, 3),
        s.change(2_008, k, FinWait1, FinWait2, 3),
        s.change(2_010, k, FinWait2, Closed, 3),
    ]);
    let wanted = s.p.take_wanted();
    assert_eq!((wanted[0].key, wanted[0].cookie), (k, None));
    let old = s.p.find(&k).expect("tracked").id;
    let request = with_cookie(row(8080, 40000, SynRecv), 11);
    let ev = s.looked_up(60_000, vec![(k, Some(request))]);
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::New]);
    assert_eq!(
        (ev[0].id, ev[0].state, ev[0].at),
        (old, FinWait2, s.at(2_010))
    );
    // The child is the new connection's.
    let ev = s.changes(&[
        s.change(61_000, k, Listen, SynRecv, 9),
        s.change(61_004, k, SynRecv, Established, 9),
    ]);
    assert_eq!(kinds(&ev), [moved(SynRecv, Established)]);
    s.assert_chains();
}

#[test]
fn a_close_reported_after_its_time_wait_was_read_does_not_end_it() {
    // The record of the close came late (its CPU was held up); a dump
    // had already found the timewait socket.
    let mut s = Script::new();
    let c = key(40000, 8080);
    s.dump(0, 10, &[with_cookie(row(40000, 8080, Established), 7)]);
    s.changes(&[
        s.change(1_000, c, Established, FinWait1, 3),
        s.change(1_008, c, FinWait1, FinWait2, 3),
    ]);
    let tw = time_wait_since(&s, 40000, 8080, 50_000, 7);
    let ev = s.dump(100_000, 100_100, &[tw]);
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    let ev = s.changes(&[s.change(50_000, c, FinWait2, Closed, 3)]);
    assert!(ev.is_empty(), "{ev:?}");
    let conn = s.p.find(&c).expect("tracked");
    assert_eq!((conn.state(), conn.is_gone()), (TimeWait, false));
    s.assert_chains();
}

// What is still open when the consumer exits.

#[test]
fn the_peers_close_asks_again_for_a_timewait_socket_read_while_its_fin_was_on_its_way() {
    let (mut s, srv, cli) = server_closed_first(5_000);
    assert_eq!(s.p.take_wanted().len(), 1);
    // Read after the client's FIN left but before it arrived.
    let mut fin_wait = with_cookie(row(8080, 40000, FinWait2), 8);
    fin_wait.timer = None;
    assert!(s.looked_up(5_100, vec![(srv, Some(fin_wait))]).is_empty());
    assert!(!s.p.wants());
    // At exit it is among those awaiting an answer.
    let awaiting: Vec<SocketKey> = s.p.take_awaiting().iter().map(|w| w.key).collect();
    assert_eq!(awaiting, [srv]);
    // The client's close means the server's end acked that FIN: read again.
    s.changes(&[s.change(5_200, cli, LastAck, Closed, 3)]);
    let wanted: Vec<SocketKey> = s.p.take_wanted().iter().map(|w| w.key).collect();
    assert_eq!(wanted, [srv]);
    let ev = s.looked_up(
        5_300,
        vec![(srv, Some(time_wait_since(&s, 8080, 40000, 5_000, 8)))],
    );
    assert_eq!(kinds(&ev), [moved(FinWait2, TimeWait)]);
    assert_eq!(ev[0].at, s.at(5_000));
    assert!(s.p.take_awaiting().is_empty(), "nothing left open");
    s.assert_chains();
}

#[test]
fn closes_and_misses_await_an_answer_at_exit() {
    let mut s = Script::new();
    let (closed, missed, quiet) = (key(40000, 8080), key(40001, 8080), key(40002, 8080));
    s.dump(
        0,
        10,
        &[
            with_cookie(row(40000, 8080, FinWait2), 1),
            with_cookie(row(40001, 8080, Established), 2),
            with_cookie(row(40002, 8080, Established), 3),
        ],
    );
    s.changes(&[s.change(1_000, closed, FinWait2, Closed, 5)]);
    s.dump(
        100_000,
        100_010,
        &[with_cookie(row(40002, 8080, Established), 3)],
    );
    let mut awaiting: Vec<(SocketKey, Option<u64>)> =
        s.p.take_awaiting()
            .iter()
            .map(|w| (w.key, w.cookie))
            .collect();
    awaiting.sort_by_key(|(k, _)| k.local.port());
    assert_eq!(awaiting, [(closed, Some(1)), (missed, Some(2))]);
    assert!(!s.p.wants(), "the wanted ones were taken too");
    // The answers settle both: no timewait socket, and the missed one is
    // gone for good; the other stays as it was.
    let ev = s.looked_up(200_000, vec![(closed, None), (missed, None)]);
    assert_eq!(kinds(&ev), [EventKind::Gone, EventKind::Gone]);
    assert!(s.p.find(&quiet).is_some_and(|c| !c.is_gone()));
    s.assert_chains();
}
