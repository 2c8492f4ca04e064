use super::*;
use crate::socket::{Family, SocketKey, SocketRow, TcpState};
use crate::source::Snapshot;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use TcpState::*;

struct Script {
    base: Instant,
    tracker: Tracker,
}

impl Script {
    fn new() -> Self {
        Script {
            base: Instant::now(),
            tracker: Tracker::new(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    /// Applies a reading taken `ms` after the start with the given rows.
    fn read(&mut self, ms: u64, rows: &[SocketRow]) -> Vec<Event> {
        let snap = Snapshot {
            rows: rows.to_vec(),
            taken_at: self.at(ms),
            wall: SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
            warning: None,
        };
        self.tracker.apply(snap)
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

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn first_reading_is_a_baseline_without_events() {
    let mut s = Script::new();
    let events = s.read(0, &[row(8080, 0, Listen), row(40000, 8080, Established)]);
    assert!(events.is_empty());
    let conn = s.tracker.get(&key(8080, 0)).expect("tracked");
    assert_eq!(conn.appeared_at, None);
    assert!(!conn.current_phase().entry_seen);
    assert_eq!(s.tracker.counts().get(Listen), 1);
    assert_eq!(s.tracker.counts().total(), 2);
}

#[test]
fn appear_is_a_new_event_with_a_fresh_timeline() {
    let mut s = Script::new();
    s.read(0, &[row(8080, 0, Listen)]);
    let events = s.read(100, &[row(8080, 0, Listen), row(40000, 8080, Established)]);
    assert_eq!(kinds(&events), vec![EventKind::New]);
    assert_eq!(events[0].key, key(40000, 8080));
    assert_eq!(events[0].states(), (None, Some(Established)));
    let conn = s.tracker.get(&key(40000, 8080)).expect("tracked");
    assert_eq!(conn.appeared_at, Some(s.at(100)));
    assert!(conn.current_phase().entry_seen);
}

#[test]
fn state_change_extends_the_timeline_in_order() {
    let mut s = Script::new();
    s.read(0, &[row(40000, 8080, Established)]);
    s.read(100, &[row(40000, 8080, Established)]);
    let e1 = s.read(200, &[row(40000, 8080, FinWait2)]);
    let e2 = s.read(300, &[row(40000, 8080, TimeWait)]);
    assert_eq!(
        kinds(&e1),
        vec![EventKind::State {
            from: Established,
            to: FinWait2
        }]
    );
    assert_eq!(
        kinds(&e2),
        vec![EventKind::State {
            from: FinWait2,
            to: TimeWait
        }]
    );
    let conn = s.tracker.get(&key(40000, 8080)).expect("tracked");
    let states: Vec<_> = conn.timeline.iter().map(|p| p.state).collect();
    assert_eq!(states, vec![Established, FinWait2, TimeWait]);
    assert_eq!(conn.current_phase().entered, s.at(300));
    assert_eq!(conn.last_change(), Some((FinWait2, s.at(300))));
    assert_eq!(conn.time_in_state(s.at(1300)), Duration::from_secs(1));
}

#[test]
fn vanish_lingers_then_is_removed() {
    let mut s = Script::new();
    s.read(0, &[row(40000, 8080, TimeWait)]);
    let events = s.read(100, &[]);
    assert_eq!(kinds(&events), vec![EventKind::Gone]);
    assert_eq!(events[0].states(), (Some(TimeWait), None));
    let conn = s.tracker.get(&key(40000, 8080)).expect("still lingering");
    assert_eq!(conn.gone_at, Some(s.at(100)));
    assert_eq!(
        s.tracker.counts().total(),
        0,
        "lingering rows are not counted"
    );
    // No second Gone event while it lingers.
    assert!(s.read(1000, &[]).is_empty());
    s.read(100 + GONE_LINGER.as_millis() as u64, &[]);
    assert!(s.tracker.get(&key(40000, 8080)).is_none());
}

#[test]
fn tuple_reused_after_vanishing_starts_a_new_timeline() {
    let mut s = Script::new();
    s.read(0, &[row(40000, 8080, TimeWait)]);
    s.read(100, &[]);
    let old_id = s.tracker.get(&key(40000, 8080)).expect("lingering").id;
    let events = s.read(200, &[row(40000, 8080, Established)]);
    assert_eq!(kinds(&events), vec![EventKind::New]);
    let conn = s.tracker.get(&key(40000, 8080)).expect("tracked");
    assert_ne!(conn.id, old_id);
    assert_eq!(conn.timeline.len(), 1);
    assert_eq!(conn.gone_at, None);
}

#[test]
fn tuple_reused_between_readings_is_gone_plus_new() {
    let mut s = Script::new();
    s.read(0, &[row(40000, 8080, TimeWait)]);
    let old_id = s.tracker.get(&key(40000, 8080)).expect("tracked").id;
    let events = s.read(100, &[row(40000, 8080, SynSent)]);
    assert_eq!(kinds(&events), vec![EventKind::Gone, EventKind::New]);
    assert_eq!(events[0].id, old_id);
    let conn = s.tracker.get(&key(40000, 8080)).expect("tracked");
    assert_ne!(conn.id, old_id);
    assert_eq!(conn.timeline.len(), 1);
}

#[test]
fn changed_inode_means_a_different_connection() {
    let mut s = Script::new();
    let mut a = row(40000, 8080, Established);
    a.inode = Some(11);
    s.read(0, std::slice::from_ref(&a));
    a.inode = Some(12);
    let events = s.read(100, &[a]);
    assert_eq!(kinds(&events), vec![EventKind::Gone, EventKind::New]);
}

#[test]
fn queue_changes_update_the_row_without_events() {
    let mut s = Script::new();
    let mut a = row(40000, 8080, Established);
    s.read(0, std::slice::from_ref(&a));
    a.recv_q = Some(5);
    assert!(s.read(100, std::slice::from_ref(&a)).is_empty());
    assert_eq!(s.tracker.get(&a.key).expect("tracked").row.recv_q, Some(5));
}

#[test]
fn a_held_view_is_not_changed_by_later_readings() {
    // What a paused UI holds: the tracker keeps working underneath.
    let mut s = Script::new();
    s.read(0, &[row(40000, 8080, Established)]);
    let frozen = s.tracker.view();
    s.read(100, &[row(40000, 8080, FinWait2)]);
    s.read(200, &[row(40000, 8080, TimeWait)]);
    assert_eq!(frozen[0].state(), Established);
    let now = s.tracker.get(&key(40000, 8080)).expect("tracked");
    let states: Vec<_> = now.timeline.iter().map(|p| p.state).collect();
    assert_eq!(
        states,
        vec![Established, FinWait2, TimeWait],
        "nothing missed while paused"
    );
}

#[test]
fn timeline_is_bounded() {
    let mut s = Script::new();
    for i in 0..(MAX_PHASES as u64 + 10) {
        let state = if i % 2 == 0 { Established } else { CloseWait };
        s.read(i, &[row(1, 2, state)]);
    }
    let conn = s.tracker.get(&key(1, 2)).expect("tracked");
    assert_eq!(conn.timeline.len(), MAX_PHASES);
}

#[test]
fn a_timer_counting_down_is_not_a_change_but_a_rearmed_one_is() {
    use crate::socket::{SocketTimer, TimerKind};
    let mut s = Script::new();
    let timer = |at: Instant, ms: u32| SocketTimer {
        kind: TimerKind::TimeWait,
        remaining_ms: ms,
        expires_at: at + Duration::from_millis(u64::from(ms)),
        retransmits: 0,
    };
    let mut r = row(40000, 8080, TimeWait);
    r.timer = Some(timer(s.at(0), 60_000));
    s.read(0, std::slice::from_ref(&r));
    let before = s.tracker.view();
    // A second later the kernel reports 59 s left: the same expiry.
    r.timer = Some(timer(s.at(1000), 59_003));
    s.read(1000, std::slice::from_ref(&r));
    let after = s.tracker.view();
    assert!(
        Arc::ptr_eq(&before[0], &after[0]),
        "the shared row was not copied"
    );
    assert_eq!(
        after[0].row.timer.as_ref().map(|t| t.remaining_ms),
        Some(60_000)
    );
    // A timer re-armed to a later expiry is a change.
    r.timer = Some(timer(s.at(2000), 60_000));
    s.read(2000, std::slice::from_ref(&r));
    let rearmed = s.tracker.view();
    assert!(!Arc::ptr_eq(&after[0], &rearmed[0]));
}
