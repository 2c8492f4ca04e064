//! The app's behaviour between input and screen: selection follows the
//! connection, pause holds the view, bad filters keep the old one.

use std::time::{Duration, Instant, SystemTime};
use tcpscope::socket::{Family, Filter, SocketKey, SocketRow, TcpState};
use tcpscope::source::Snapshot;
use tcpscope::track::Tracker;
use tcpscope::track::sampler::{Feed, Update};
use tcpscope::ui::theme::Theme;
use tcpscope::ui::{Action, App, PromptKey, Settings};

struct Rig {
    t0: Instant,
    tracker: Tracker,
    app: App,
    ms: u64,
}

impl Rig {
    fn new() -> Self {
        let settings = Settings {
            port: None,
            filter: Filter::default(),
            interval: Duration::from_millis(250),
            source: "replay",
            theme: Theme { color: false },
        };
        let t0 = Instant::now();
        Rig {
            t0,
            tracker: Tracker::new(),
            app: App::new(settings, t0),
            ms: 0,
        }
    }

    fn feed(&mut self, rows: &[SocketRow]) {
        self.ms += 100;
        let at = self.t0 + Duration::from_millis(self.ms);
        let snap = Snapshot {
            rows: rows.to_vec(),
            taken_at: at,
            wall: SystemTime::UNIX_EPOCH,
            warning: None,
        };
        let events = self.tracker.apply(snap);
        let update = Update::from_tracker(&self.tracker, events, at);
        self.app.now = at;
        self.app.apply_feed(Feed::Update(Box::new(update)));
    }

    fn selected_key(&self) -> Option<SocketKey> {
        self.app.selected_conn().map(|c| c.row.key)
    }

    fn type_filter(&mut self, text: &str) {
        self.app.handle(Action::OpenFilter);
        self.app.handle(Action::Prompt(PromptKey::Clear));
        for c in text.chars() {
            self.app.handle(Action::Prompt(PromptKey::Char(c)));
        }
        self.app.handle(Action::Prompt(PromptKey::Submit));
    }
}

fn row(local_port: u16, remote_port: u16, state: TcpState) -> SocketRow {
    let key = SocketKey::new(
        Family::Inet,
        format!("127.0.0.1:{local_port}").parse().expect("addr"),
        format!("127.0.0.1:{remote_port}").parse().expect("addr"),
    );
    SocketRow::new(key, state)
}

#[test]
fn selection_follows_the_connection_when_rows_move() {
    let mut rig = Rig::new();
    let rows = [
        row(1001, 80, TcpState::Established),
        row(1002, 80, TcpState::Established),
        row(1003, 80, TcpState::Established),
    ];
    rig.feed(&rows);
    rig.app.handle(Action::Down);
    rig.app.handle(Action::Down);
    let chosen = rig.selected_key().expect("a selection");
    assert_eq!(chosen.local.port(), 1003);
    // Two rows appear above it, and it changes state (so changes group).
    let moved = [
        row(1000, 80, TcpState::Established),
        row(999, 80, TcpState::Established),
        row(1001, 80, TcpState::Established),
        row(1002, 80, TcpState::Established),
        row(1003, 80, TcpState::FinWait2),
    ];
    rig.feed(&moved);
    assert_eq!(rig.selected_key(), Some(chosen));
    assert_eq!(
        rig.app.selected_conn().map(|c| c.state()),
        Some(TcpState::FinWait2)
    );
}

#[test]
fn selection_stays_at_its_height_when_its_connection_is_removed() {
    let mut rig = Rig::new();
    let rows = [
        row(1001, 80, TcpState::Established),
        row(1002, 80, TcpState::Established),
        row(1003, 80, TcpState::Established),
    ];
    rig.feed(&rows);
    rig.app.handle(Action::Down);
    let cursor = rig.app.cursor;
    // Vanishes, lingers, then is dropped for good.
    rig.feed(&[rows[0].clone(), rows[2].clone()]);
    assert_eq!(
        rig.selected_key().map(|k| k.local.port()),
        Some(1002),
        "lingering row keeps the selection"
    );
    rig.ms += 5_000;
    rig.feed(&[rows[0].clone(), rows[2].clone()]);
    assert_eq!(rig.app.cursor, cursor);
    assert_eq!(rig.selected_key().map(|k| k.local.port()), Some(1003));
}

#[test]
fn pause_freezes_the_view_and_resume_shows_everything() {
    let mut rig = Rig::new();
    rig.feed(&[row(1001, 80, TcpState::Established)]);
    rig.app.handle(Action::TogglePause);
    assert!(rig.app.paused);
    rig.feed(&[row(1001, 80, TcpState::FinWait2)]);
    rig.feed(&[row(1001, 80, TcpState::TimeWait)]);
    assert_eq!(
        rig.app.selected_conn().map(|c| c.state()),
        Some(TcpState::Established)
    );
    rig.app.handle(Action::TogglePause);
    let conn = rig.app.selected_conn().expect("selected");
    let seen: Vec<_> = conn.timeline.iter().map(|p| p.state).collect();
    assert_eq!(
        seen,
        [
            TcpState::Established,
            TcpState::FinWait2,
            TcpState::TimeWait
        ]
    );
}

#[test]
fn a_bad_filter_is_explained_and_the_old_one_kept() {
    let mut rig = Rig::new();
    rig.feed(&[
        row(1001, 80, TcpState::Established),
        row(1002, 443, TcpState::Established),
    ]);
    rig.type_filter("dport 443");
    assert_eq!(rig.app.listing.rows.len(), 1);
    assert_eq!(rig.app.prompt, None);
    rig.type_filter("dport https");
    let status = rig.app.live_status().expect("an error in the status line");
    assert!(status.error);
    assert_eq!(
        status.text,
        "filter not applied: 'https' is not a port number: use a number from 1 to 65535, e.g. 8080"
    );
    assert_eq!(rig.app.settings.filter.text(), "dport 443");
    assert_eq!(rig.app.listing.rows.len(), 1);
    assert!(
        rig.app.prompt.is_some(),
        "the prompt stays open to fix the typo"
    );
    rig.app.handle(Action::Prompt(PromptKey::Cancel));
    rig.type_filter("");
    assert_eq!(rig.app.listing.rows.len(), 2);
}

#[test]
fn interval_steps_and_limits() {
    let mut rig = Rig::new();
    assert!(rig.app.handle(Action::Slower).is_some());
    assert_eq!(rig.app.settings.interval, Duration::from_millis(500));
    for _ in 0..20 {
        rig.app.handle(Action::Faster);
    }
    assert_eq!(rig.app.settings.interval, Duration::from_millis(10));
    assert!(rig.app.handle(Action::Faster).is_none());
}

#[test]
fn navigation_on_an_empty_table_is_harmless() {
    let mut rig = Rig::new();
    rig.feed(&[]);
    for action in [
        Action::Up,
        Action::Down,
        Action::PageDown,
        Action::Bottom,
        Action::Top,
        Action::Scroll(3),
        Action::CycleSort,
    ] {
        rig.app.handle(action);
    }
    assert!(rig.app.selected_conn().is_none());
}
