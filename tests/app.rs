//! The app's behaviour between input and screen: selection follows the
//! connection, pause holds the view, bad filters keep the old one.

mod common;

use std::time::{Duration, Instant, SystemTime};
use tcpscope::pipeline::Pipeline;
use tcpscope::pipeline::runner::{Feed, Update};
use tcpscope::socket::{Family, SocketKey, SocketRow, TcpState};
use tcpscope::source::Dump;
use tcpscope::ui::{Action, App, PromptKey};

struct Rig {
    t0: Instant,
    tracker: Pipeline,
    app: App,
    ms: u64,
}

impl Rig {
    fn new() -> Self {
        let settings = common::replay_settings(false);
        let t0 = Instant::now();
        Rig {
            t0,
            tracker: Pipeline::new(),
            app: App::new(settings, t0),
            ms: 0,
        }
    }

    fn feed(&mut self, rows: &[SocketRow]) {
        self.ms += 100;
        let at = self.t0 + Duration::from_millis(self.ms);
        let dump = Dump::at(rows.to_vec(), at, SystemTime::UNIX_EPOCH);
        let mut events = Vec::new();
        self.tracker.dump(dump, &mut events);
        let update = Update::from_pipeline(&self.tracker, events, at);
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

mod lab {
    use super::*;
    use tcpscope::lab::{LabCommand, LabEvent, LabSocket, Side};
    use tcpscope::ui::LabKey;
    use tcpscope::ui::app::Effect;

    fn socket(id: u32, side: Side, local: u16, remote: u16) -> LabSocket {
        LabSocket {
            id,
            side,
            local: format!("127.0.0.1:{local}").parse().expect("addr"),
            remote: Some(format!("127.0.0.1:{remote}").parse().expect("addr")),
            sent: 0,
            received: 0,
            last_call: "accept()".into(),
            open: true,
            reading: true,
            echo: false,
            peer_closed: false,
            write_shut: false,
        }
    }

    fn rig_with_lab() -> Rig {
        let mut rig = Rig::new();
        rig.feed(&[
            row(80, 1001, TcpState::Established),
            row(1001, 80, TcpState::Established),
            row(5000, 6000, TcpState::Established),
        ]);
        rig.app.handle(Action::ToggleLab);
        rig.app.apply_lab(LabEvent::Sockets(vec![
            socket(7, Side::Server, 80, 1001),
            socket(8, Side::Client, 1001, 80),
        ]));
        rig
    }

    fn prompt(rig: &mut Rig, key: LabKey, text: &str) -> Option<Effect> {
        rig.app.handle(Action::Lab(key));
        rig.app.handle(Action::Prompt(PromptKey::Clear));
        for c in text.chars() {
            rig.app.handle(Action::Prompt(PromptKey::Char(c)));
        }
        rig.app.handle(Action::Prompt(PromptKey::Submit))
    }

    fn error(rig: &Rig) -> String {
        let s = rig.app.live_status().expect("a status");
        assert!(s.error, "{}", s.text);
        s.text.clone()
    }

    #[test]
    fn lab_selection_and_table_selection_follow_each_other() {
        let mut rig = rig_with_lab();
        rig.app.handle(Action::SwitchPanel); // table → lab
        rig.app.handle(Action::Down);
        assert_eq!(rig.app.lab.selected().map(|s| s.id), Some(8));
        assert_eq!(
            rig.selected_key().map(|k| k.local.port()),
            Some(1001),
            "table follows the lab"
        );
        rig.app.handle(Action::SwitchPanel); // lab → groups
        rig.app.handle(Action::SwitchPanel); // groups → table
        rig.app.handle(Action::Top);
        assert_eq!(rig.selected_key().map(|k| k.local.port()), Some(80));
        assert_eq!(
            rig.app.lab.selected().map(|s| s.id),
            Some(7),
            "lab follows the table"
        );
        // x on a table row that is a lab socket closes that socket.
        assert_eq!(
            rig.app.handle(Action::Lab(LabKey::Close)),
            Some(Effect::Lab(LabCommand::Close { id: 7 }))
        );
    }

    #[test]
    fn actions_on_a_row_that_is_not_a_lab_socket_are_refused() {
        let mut rig = rig_with_lab();
        rig.app.handle(Action::Bottom); // 127.0.0.1:5000, not the lab's
        assert_eq!(rig.app.handle(Action::Lab(LabKey::Close)), None);
        assert!(error(&rig).starts_with("select a lab socket first"));
    }

    #[test]
    fn lab_keys_need_the_panel_open() {
        let mut rig = rig_with_lab();
        rig.app.handle(Action::ToggleLab);
        assert_eq!(rig.app.handle(Action::Lab(LabKey::Connect)), None);
        assert!(error(&rig).contains("press L"));
    }

    #[test]
    fn bad_prompt_input_is_explained_and_the_prompt_stays() {
        let mut rig = rig_with_lab();
        assert_eq!(prompt(&mut rig, LabKey::ConnectMany, "0"), None);
        assert_eq!(error(&rig), "0 connections: give a number from 1 to 1024");
        assert_eq!(prompt(&mut rig, LabKey::ConnectMany, "5000"), None);
        assert!(error(&rig).contains("above the lab's limit of 1024"));
        assert!(rig.app.prompt.is_some());
        rig.app.handle(Action::Prompt(PromptKey::Cancel));
        assert_eq!(prompt(&mut rig, LabKey::Target, "localhost"), None);
        assert!(error(&rig).contains("has no port"));
        rig.app.handle(Action::Prompt(PromptKey::Cancel));
        assert_eq!(prompt(&mut rig, LabKey::Options, "backlog -1"), None);
        assert!(error(&rig).contains("backlog '-1' is not valid"));
        rig.app.handle(Action::Prompt(PromptKey::Cancel));
        rig.app.handle(Action::SwitchPanel); // to the lab panel, socket #7 selected
        let long = "x".repeat(5000);
        assert_eq!(prompt(&mut rig, LabKey::Send, &long), None);
        assert!(error(&rig).contains("at most 4096 bytes"));
        rig.app.handle(Action::Prompt(PromptKey::Cancel));
        assert_eq!(
            prompt(&mut rig, LabKey::Send, "hello"),
            Some(Effect::Lab(LabCommand::Send {
                id: 7,
                text: "hello".into()
            }))
        );
        assert_eq!(
            prompt(&mut rig, LabKey::ConnectMany, "3"),
            Some(Effect::Lab(LabCommand::Connect {
                target: None,
                count: 3
            }))
        );
    }

    #[test]
    fn options_prompt_updates_the_next_start() {
        let mut rig = rig_with_lab();
        prompt(
            &mut rig,
            LabKey::Options,
            "backlog 1 reuseaddr on port 9000",
        );
        assert_eq!(rig.app.lab.options.backlog, 1);
        assert!(rig.app.lab.options.reuseaddr);
        match rig.app.handle(Action::Lab(LabKey::StartStop)) {
            Some(Effect::Lab(LabCommand::StartServer(o))) => {
                assert_eq!((o.port, o.backlog), (9000, 1))
            }
            other => panic!("expected a start, got {other:?}"),
        }
    }
}
