//! The app's behaviour between input and screen: selection follows the
//! connection, pause holds the view, bad filters keep the old one.

mod common;

use std::time::{Duration, Instant, SystemTime};
use tcpscope::pipeline::Pipeline;
use tcpscope::pipeline::runner::{Feed, Update};
use tcpscope::socket::{Family, SocketKey, SocketRow, TcpState};
use tcpscope::source::Dump;
use tcpscope::ui::{Action, App, Effect, Overlay, PromptKey};

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
            app: App::new(settings, tcpscope::ui::Session::Live, "replay", t0),
            ms: 0,
        }
    }

    fn feed(&mut self, rows: &[SocketRow]) {
        self.ms += 100;
        let at = self.t0 + Duration::from_millis(self.ms);
        let dump = Dump::at(rows.to_vec(), at, SystemTime::UNIX_EPOCH);
        let mut events = Vec::new();
        self.tracker.dump(dump, &mut events);
        let update = Update::from_pipeline(&mut self.tracker, events, at);
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
fn k_asks_naming_the_connection_and_its_owner_then_destroys_by_identity() {
    use std::sync::Arc;
    use tcpscope::socket::{Owner, Process};
    let mut rig = Rig::new();
    let mut conn = row(1001, 80, TcpState::Established);
    conn.cookie = Some(77);
    conn.owner = Some(Arc::new(Owner {
        procs: vec![Process {
            pid: 4242,
            name: Some(Arc::from("curl")),
        }],
    }));
    rig.feed(&[conn.clone()]);
    rig.app.handle(Action::Destroy);
    let Overlay::Confirm(question) = &rig.app.overlay else {
        panic!("K asks first: {:?}", rig.app.overlay);
    };
    assert!(
        question.text.contains("127.0.0.1:1001 -> 127.0.0.1:80"),
        "{}",
        question.text
    );
    assert!(question.text.contains("4242/curl"), "{}", question.text);
    assert!(question.text.contains("ECONNABORTED"), "{}", question.text);
    // n keeps it.
    assert_eq!(rig.app.handle(Action::Answer(false)), None);
    assert_eq!(rig.app.overlay, Overlay::None);
    // y destroys that socket: its ends and its cookie.
    rig.app.handle(Action::Destroy);
    assert_eq!(
        rig.app.handle(Action::Answer(true)),
        Some(Effect::Destroy(conn.key, Some(77), None))
    );
    // What the kernel says goes to the status line.
    rig.app.destroyed(
        &conn.key,
        Err(tcpscope::source::sockdiag::destroy::DestroyError::NotPermitted),
    );
    let status = rig
        .app
        .live_status()
        .map(|s| s.text.clone())
        .unwrap_or_default();
    assert!(status.contains("cannot destroy 127.0.0.1:1001"), "{status}");
    assert!(status.contains("run tcpscope as root"), "{status}");
}

#[test]
fn k_without_a_selection_says_what_to_do() {
    let mut rig = Rig::new();
    rig.app.handle(Action::Destroy);
    assert_eq!(rig.app.overlay, Overlay::None);
    let status = rig
        .app
        .live_status()
        .map(|s| s.text.clone())
        .unwrap_or_default();
    assert!(status.contains("select a connection first"), "{status}");
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
    let cursor = rig.app.table.cursor;
    // Vanishes, lingers, then is dropped for good.
    rig.feed(&[rows[0].clone(), rows[2].clone()]);
    assert_eq!(
        rig.selected_key().map(|k| k.local.port()),
        Some(1002),
        "lingering row keeps the selection"
    );
    rig.ms += 5_000;
    rig.feed(&[rows[0].clone(), rows[2].clone()]);
    assert_eq!(rig.app.table.cursor, cursor);
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
fn a_long_pause_keeps_memory_bounded_and_counts_what_it_let_go() {
    let mut rig = Rig::new();
    rig.feed(&[row(1001, 80, TcpState::Established)]);
    rig.app.handle(Action::TogglePause);
    // Three updates carrying 60,000 events each arrive while paused.
    let at = rig.t0 + Duration::from_secs(1);
    let one = rig.tracker.view()[0].clone();
    let event = tcpscope::socket::Event::of(
        &one,
        tcpscope::socket::EventKind::New,
        at,
        SystemTime::UNIX_EPOCH,
    );
    for _ in 0..3 {
        let mut update = Update::from_pipeline(&mut rig.tracker, vec![event.clone(); 60_000], at);
        update.dropped_events = 5;
        rig.app.apply_feed(Feed::Update(Box::new(update)));
    }
    rig.app.handle(Action::TogglePause);
    let (log, size) = (&rig.app.memory.log, rig.app.settings().log_size);
    assert_eq!(log.len(), size, "the log keeps its own bound");
    assert_eq!(
        log.dropped as usize,
        3 * 60_000 + 3 * 5 - size,
        "every event is kept or counted"
    );
}

/// A paste goes into the open prompt whole: a line break in it is a space
/// (it never submits), escape bytes are not kept, and past the limit it
/// is cut and said. With no prompt open it does nothing.
#[test]
fn a_paste_fills_the_prompt_and_never_acts_as_keys() {
    let mut rig = Rig::new();
    rig.feed(&[
        row(1001, 80, TcpState::Established),
        row(1002, 443, TcpState::Listen),
    ]);
    assert!(!rig.app.paste("q"), "no prompt: nothing to draw");
    assert!(!rig.app.quit);
    rig.app.handle(Action::OpenFilter);
    assert!(rig.app.paste("state\nLISTEN\x1b"));
    assert_eq!(
        rig.app.prompt().map(|p| p.text.as_str()),
        Some("state LISTEN ")
    );
    rig.app.handle(Action::Prompt(PromptKey::Submit));
    assert_eq!(rig.app.filter.text(), "state LISTEN");
    assert_eq!(rig.app.table.listing.rows(), 1);

    rig.app.handle(Action::OpenFilter);
    rig.app.handle(Action::Prompt(PromptKey::Clear));
    rig.app.paste(&"x".repeat(100_000));
    let limit = tcpscope::ui::MAX_PROMPT_CHARS;
    let text = rig.app.prompt().map(|p| p.text.chars().count());
    assert_eq!(text, Some(limit));
    let status = rig.app.live_status().expect("the cut is said");
    assert!(
        status.error && status.text.contains("limited to"),
        "{status:?}"
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
    assert_eq!(rig.app.table.listing.rows(), 1);
    assert_eq!(rig.app.prompt(), None);
    rig.type_filter("dport https");
    let status = rig.app.live_status().expect("an error in the status line");
    assert!(status.error);
    assert_eq!(
        status.text,
        "filter not applied: 'https' is not a port number: use a number from 1 to 65535, e.g. 8080"
    );
    assert_eq!(rig.app.filter.text(), "dport 443");
    assert_eq!(rig.app.table.listing.rows(), 1);
    assert!(
        rig.app.prompt().is_some(),
        "the prompt stays open to fix the typo"
    );
    rig.app.handle(Action::Prompt(PromptKey::Cancel));
    rig.type_filter("");
    assert_eq!(rig.app.table.listing.rows(), 2);
}

#[test]
fn interval_steps_and_limits() {
    let mut rig = Rig::new();
    assert!(rig.app.handle(Action::Slower).is_some());
    assert_eq!(rig.app.interval, Duration::from_millis(500));
    for _ in 0..20 {
        rig.app.handle(Action::Faster);
    }
    assert_eq!(rig.app.interval, Duration::from_millis(10));
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

#[test]
fn esc_closes_the_topmost_pane_and_never_quits() {
    use tcpscope::ui::{Overlay, Pane};
    let mut rig = Rig::new();
    rig.feed(&[row(1001, 80, TcpState::Established)]);
    rig.app.handle(Action::ToggleDetails);
    rig.app.handle(Action::ToggleLog);
    rig.app.handle(Action::ToggleHelp);
    rig.app.handle(Action::Back);
    assert_eq!(rig.app.overlay, Overlay::None, "the overlay first");
    rig.app.handle(Action::Back);
    assert!(rig.app.panes.is_open(Pane::Details) && !rig.app.panes.is_open(Pane::Log));
    rig.app.handle(Action::Back);
    assert!(!rig.app.panes.is_open(Pane::Details));
    rig.app.handle(Action::Back);
    assert!(!rig.app.quit, "Esc never quits");
    assert_eq!(
        rig.app.live_status().map(|s| s.text.as_str()),
        Some("nothing to close; q quits")
    );
    rig.app.handle(Action::Quit);
    assert!(rig.app.quit, "q quits at once when the lab holds nothing");
}

#[test]
fn repeated_messages_are_counted_and_kept_for_reading() {
    let mut rig = Rig::new();
    for _ in 0..50 {
        rig.app.set_error("accept() failed: too many open files");
    }
    assert_eq!(rig.app.status.len(), 1);
    assert_eq!(
        rig.app.live_status().map(|s| s.line()),
        Some("accept() failed: too many open files (×50)".to_string())
    );
    rig.app.handle(Action::ToggleMessages);
    assert_eq!(rig.app.overlay, tcpscope::ui::Overlay::Messages);
}

#[test]
fn the_log_filter_judges_events_not_current_rows() {
    use tcpscope::socket::Filter;
    let mut rig = Rig::new();
    rig.feed(&[row(1001, 80, TcpState::Established)]);
    rig.feed(&[row(1001, 80, TcpState::CloseWait)]);
    rig.feed(&[row(1001, 80, TcpState::LastAck)]);
    let f = Filter::parse("state CLOSE_WAIT").expect("valid");
    let shown: Vec<_> = rig
        .app
        .memory
        .log
        .newest_first()
        .filter(|e| f.matches_event(e))
        .map(|e| e.states())
        .collect();
    assert_eq!(
        shown,
        [
            (Some(TcpState::CloseWait), Some(TcpState::LastAck)),
            (Some(TcpState::Established), Some(TcpState::CloseWait)),
        ]
    );
}

mod lab {
    use super::*;
    use tcpscope::lab::{
        AcceptMode, LabCommand, LabConfig, LabEvent, LabSettings, LabSocket, OptionChanges,
        Running, ServerOptions, Side, SocketCall,
    };
    use tcpscope::ui::session::DemoSession;
    use tcpscope::ui::{Effect, LabKey, Overlay, Session};

    fn socket(id: u32, side: Side, local: u16, remote: u16) -> LabSocket {
        LabSocket {
            id,
            side,
            local: format!("127.0.0.1:{local}").parse().expect("addr"),
            remote: Some(format!("127.0.0.1:{remote}").parse().expect("addr")),
            cookie: None,
            sent: 0,
            received: 0,
            last_call: Some(SocketCall::Accept),
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
        assert_eq!(rig.app.lab.selected, Some(8));
        assert_eq!(
            rig.selected_key().map(|k| k.local.port()),
            Some(1001),
            "table follows the lab"
        );
        rig.app.handle(Action::SwitchPanel); // lab → groups
        rig.app.handle(Action::SwitchPanel); // groups → table
        rig.app.handle(Action::Top);
        assert_eq!(rig.selected_key().map(|k| k.local.port()), Some(80));
        assert_eq!(rig.app.lab.selected, Some(7), "lab follows the table");
        // x on a table row that is a lab socket closes that socket.
        assert_eq!(
            rig.app.handle(Action::Lab(LabKey::Close)),
            Some(Effect::Lab(LabCommand::Close { id: 7 }))
        );
    }

    #[test]
    fn actions_hit_the_chosen_socket_however_rows_move() {
        let mut rig = rig_with_lab();
        rig.app.handle(Action::SwitchPanel); // the lab panel
        rig.app.handle(Action::Down); // #8, the client
        rig.app.handle(Action::Lab(LabKey::Send)); // a prompt about #8
        // Meanwhile new sockets arrive ahead of it and rows reorder.
        let mut list = vec![
            socket(2, Side::Client, 999, 80),
            socket(3, Side::Server, 80, 999),
        ];
        list.extend([
            socket(7, Side::Server, 80, 1001),
            socket(8, Side::Client, 1001, 80),
        ]);
        rig.app.apply_lab(LabEvent::Sockets(list));
        rig.feed(&[
            row(80, 999, TcpState::Established),
            row(999, 80, TcpState::Established),
            row(80, 1001, TcpState::Established),
            row(1001, 80, TcpState::Established),
        ]);
        for c in "hi".chars() {
            rig.app.handle(Action::Prompt(PromptKey::Char(c)));
        }
        assert_eq!(
            rig.app.handle(Action::Prompt(PromptKey::Submit)),
            Some(Effect::Lab(LabCommand::Send {
                id: 8,
                text: "hi".into()
            })),
            "the prompt kept the socket it was opened for"
        );
        assert_eq!(rig.app.lab.selected, Some(8), "the selection stayed on #8");
        assert_eq!(
            rig.app.handle(Action::Lab(LabKey::Close)),
            Some(Effect::Lab(LabCommand::Close { id: 8 }))
        );
        // #8 is reset and leaves; the selection moves to a row that is
        // still there, and x acts on that one, named.
        rig.app.apply_lab(LabEvent::Sockets(vec![
            socket(2, Side::Client, 999, 80),
            socket(3, Side::Server, 80, 999),
            socket(7, Side::Server, 80, 1001),
        ]));
        rig.feed(&[
            row(80, 999, TcpState::Established),
            row(999, 80, TcpState::Established),
            row(80, 1001, TcpState::Established),
        ]);
        let target = rig.app.lab.selected.expect("a selection");
        assert_ne!(target, 8);
        assert_eq!(
            rig.app.handle(Action::Lab(LabKey::Close)),
            Some(Effect::Lab(LabCommand::Close { id: target }))
        );
    }

    #[test]
    fn a_client_of_an_external_target_is_acted_on_by_its_id() {
        let mut rig = rig_with_lab();
        // A lab client connected to some other service, not on the lab's port.
        let mut list = vec![
            socket(7, Side::Server, 80, 1001),
            socket(8, Side::Client, 1001, 80),
        ];
        list.push(socket(9, Side::Client, 5000, 6000));
        rig.app.apply_lab(LabEvent::Sockets(list));
        rig.app.handle(Action::Bottom); // the table's 127.0.0.1:5000 row
        assert_eq!(rig.selected_key().map(|k| k.local.port()), Some(5000));
        assert_eq!(
            rig.app.handle(Action::Lab(LabKey::Reset)),
            Some(Effect::Lab(LabCommand::Abort { id: 9 }))
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
        assert!(rig.app.prompt().is_some());
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
            Some(Effect::Lab(LabCommand::Connect { count: 3 }))
        );
        assert_eq!(rig.app.overlay, Overlay::None);
    }

    #[test]
    fn every_option_typed_at_once_goes_to_the_lab_in_one_command() {
        let mut rig = rig_with_lab();
        let effect = prompt(
            &mut rig,
            LabKey::Options,
            "backlog 1 reuseaddr on accept manual hold off",
        );
        let want = OptionChanges {
            backlog: Some(1),
            reuseaddr: Some(true),
            accept: Some(AcceptMode::Manual),
            hold: Some(false),
            ..OptionChanges::default()
        };
        assert_eq!(effect, Some(Effect::Lab(LabCommand::Configure(want))));
    }

    #[test]
    fn the_panel_shows_what_the_lab_reports_and_q_asks_first() {
        let mut rig = rig_with_lab();
        let config = LabConfig::default();
        let mut settings = LabSettings::new(&config);
        settings.accept = AcceptMode::Manual;
        settings.running = Some(Running {
            addr: "127.0.0.1:9000".parse().expect("addr"),
            options: ServerOptions {
                port: 9000,
                backlog: 1,
                ..ServerOptions::default()
            },
        });
        rig.app.apply_lab(LabEvent::Settings(settings.clone()));
        assert_eq!(rig.app.lab.settings, settings, "one copy: the actor's");
        // S stops the running server; it does not start another.
        assert_eq!(
            rig.app.handle(Action::Lab(LabKey::StartStop)),
            Some(Effect::Lab(LabCommand::StopServer))
        );
        rig.app.handle(Action::Quit);
        assert!(!rig.app.quit, "the lab holds sockets: asked first");
        assert!(matches!(rig.app.overlay, Overlay::Confirm(_)));
        rig.app.handle(Action::Answer(false));
        assert!(!rig.app.quit);
        rig.app.handle(Action::Quit);
        rig.app.handle(Action::Answer(true));
        assert!(rig.app.quit);
    }

    #[test]
    fn address_in_use_names_the_program_holding_the_port() {
        use std::sync::Arc;
        use tcpscope::lab::{Attempt, LabError};
        use tcpscope::socket::{Owner, Process};
        let mut rig = rig_with_lab();
        let mut listener = row(9000, 0, TcpState::Listen);
        listener.key.remote = "0.0.0.0:0".parse().expect("addr");
        listener.owner = Some(Arc::new(Owner {
            procs: vec![Process {
                pid: 4242,
                name: Some(Arc::from("python3")),
            }],
        }));
        rig.feed(&[listener]);
        let err = LabError::os(
            Attempt::Bind {
                addr: "127.0.0.1:9000".parse().expect("addr"),
                reuseaddr: false,
                time_wait_from: Some(true),
            },
            &std::io::Error::from(std::io::ErrorKind::AddrInUse),
        );
        rig.app.apply_lab(LabEvent::Outcome {
            seq: 1,
            result: Err(err),
        });
        let text = error(&rig);
        assert!(
            text.contains("pid 4242 (python3) is listening on 127.0.0.1:9000"),
            "{text}"
        );
        assert!(!text.contains("TIME_WAIT"), "{text}");
    }

    fn listener(id: u32, port: u16, open: bool, cookie: u64) -> LabSocket {
        LabSocket {
            remote: None,
            open,
            cookie: Some(cookie),
            last_call: Some(SocketCall::Listen {
                backlog: 128,
                reuseaddr: false,
            }),
            ..socket(id, Side::Listener, port, 0)
        }
    }

    fn listen_row(port: u16, cookie: u64) -> SocketRow {
        let mut r = row(port, 0, TcpState::Listen);
        r.key.remote = "0.0.0.0:0".parse().expect("addr");
        r.cookie = Some(cookie);
        r
    }

    #[test]
    fn a_closed_listener_never_shows_as_the_one_that_replaced_it() {
        let mut rig = Rig::new();
        rig.app.handle(Action::ToggleLab);
        rig.feed(&[listen_row(9000, 11)]);
        rig.app
            .apply_lab(LabEvent::Sockets(vec![listener(1, 9000, true, 11)]));
        let state = |rig: &Rig, id: u32| {
            let r = rig.app.lab.rows.iter().find(|r| r.socket == id).copied()?;
            rig.app.lab.state(r, &rig.app.data.conns)
        };
        assert_eq!(state(&rig, 1), Some(TcpState::Listen));
        // S S: the first listener closes, a second one listens on the port.
        rig.app.apply_lab(LabEvent::Sockets(vec![
            listener(1, 9000, false, 11),
            listener(2, 9000, true, 12),
        ]));
        rig.feed(&[listen_row(9000, 12)]);
        assert_eq!(state(&rig, 2), Some(TcpState::Listen));
        assert_eq!(state(&rig, 1), None, "#1 is closed and gone");
        assert!(
            rig.app.lab.rows.iter().all(|r| r.socket != 1),
            "a closed socket the kernel no longer has is not listed"
        );
    }

    #[test]
    fn a_close_says_when_its_fin_waits_behind_unsent_data() {
        use tcpscope::lab::Done;
        let mut rig = rig_with_lab();
        let mut server = row(80, 1001, TcpState::Established);
        server.send_q = Some(4096);
        rig.feed(&[server, row(1001, 80, TcpState::Established)]);
        rig.app.apply_lab(LabEvent::Outcome {
            seq: 1,
            result: Ok(Done {
                text: "#7 close(): descriptor released, our FIN is queued".into(),
                fin_from: Some(7),
            }),
        });
        let text = rig
            .app
            .live_status()
            .map(|s| s.text.clone())
            .unwrap_or_default();
        assert!(
            text.contains("the FIN waits behind 4096 unsent bytes (Send-Q)"),
            "{text}"
        );
    }

    #[test]
    fn restarting_a_demo_takes_the_table_to_its_new_port() {
        let mut settings = common::replay_settings(false);
        settings.lab.server.port = 9000;
        let demo = tcpscope::demo::load("client-close").expect("a demo");
        let session = Session::Demo(DemoSession::new(demo, None));
        let mut app = tcpscope::ui::App::new(settings, session, "replay", Instant::now());
        assert_eq!(app.filter.text(), "9000", "the table follows the lab");
        let running = |port: u16| {
            let mut s = LabSettings::new(&LabConfig::default());
            s.running = Some(Running {
                addr: format!("127.0.0.1:{port}").parse().expect("addr"),
                options: ServerOptions {
                    port,
                    ..ServerOptions::default()
                },
            });
            s
        };
        app.apply_lab(LabEvent::Settings(running(9000)));
        let Some(Effect::LabMany(commands)) = app.handle(Action::DemoRestart) else {
            panic!("the restart's commands");
        };
        assert!(commands.contains(&LabCommand::StopServer));
        assert!(commands.contains(&LabCommand::Configure(OptionChanges {
            port: Some(0),
            ..OptionChanges::default()
        })));
        // The lab starts over on the port the kernel picks.
        app.apply_lab(LabEvent::Settings(running(9123)));
        assert_eq!(app.filter.text(), "9123");
    }

    #[test]
    fn p_brings_back_the_previous_steps_narration_and_notes() {
        let text = "title: three waits\n\
            step: wait 1ms\nsay: first\nnote: remind them of the SYN\n\
            step: wait 1ms\nsay: second\n\
            step: wait 1ms\nsay: third\nnote: ask about TIME_WAIT\n";
        let settings = common::replay_settings(false);
        let demo = tcpscope::demo::script::parse("waits", text).expect("a demo");
        let session = Session::Demo(DemoSession::new(demo, None));
        let mut app = tcpscope::ui::App::new(settings, session, "replay", Instant::now());
        let shown = |app: &tcpscope::ui::App| {
            let d = &app.session.demo().expect("a demo").player;
            (d.shown().to_string(), d.notes().to_string())
        };
        for _ in 0..3 {
            app.handle(Action::DemoNext);
        }
        assert!(shown(&app).0.contains("third"));
        assert_eq!(shown(&app).1, "ask about TIME_WAIT");
        app.handle(Action::DemoPrevious);
        assert!(shown(&app).0.contains("second") && shown(&app).1.is_empty());
        app.handle(Action::DemoPrevious);
        assert!(shown(&app).0.contains("first"));
        assert_eq!(shown(&app).1, "remind them of the SYN");
        app.handle(Action::DemoPrevious);
        assert!(shown(&app).0.contains("first"), "no step before the first");
        // n goes forward through what was played before playing anew.
        app.handle(Action::DemoNext);
        assert!(shown(&app).0.contains("second"));
        app.handle(Action::DemoNext);
        assert!(shown(&app).0.contains("third"));
        assert_eq!(
            app.session.demo().map(|d| d.player.next),
            Some(3),
            "nothing replayed"
        );
        app.handle(Action::DemoNext);
        assert!(shown(&app).0.contains("done"), "{:?}", shown(&app));
    }
}
