//! What the screen shows, drawn into ratatui's TestBackend from scripted
//! snapshots (no kernel), compared with insta snapshots.

mod common;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tcpscope::pipeline::Pipeline;
use tcpscope::pipeline::runner::{Feed, Update};
use tcpscope::socket::{Family, Filter, SocketKey, SocketRow, TcpState};
use tcpscope::source::{Degradation, Dump, Limit};
use tcpscope::ui::{Action, App, Session, Settings, widgets};

fn row(local: &str, remote: &str, state: TcpState, pid: Option<(u32, &str)>) -> SocketRow {
    let key = SocketKey::new(
        Family::Inet,
        local.parse().expect("local"),
        remote.parse().expect("remote"),
    );
    let mut r = SocketRow::new(key, state);
    if let Some((pid, name)) = pid {
        r.owner = Some(Arc::new(tcpscope::socket::Owner {
            procs: vec![tcpscope::socket::Process {
                pid,
                name: Some(Arc::from(name)),
            }],
        }));
    }
    r
}

const WEB: Option<(u32, &str)> = Some((4242, "webserver"));
const CURL: Option<(u32, &str)> = Some((5151, "curl"));

fn scripted_settings() -> Settings {
    common::replay_settings(true)
}

/// A web server on 8080 with clients: one connection closes, one appears,
/// one vanishes between the two readings.
fn scripted_app(now_after: Duration) -> App {
    let t0 = Instant::now();
    let first = vec![
        row("0.0.0.0:8080", "0.0.0.0:0", TcpState::Listen, WEB),
        row(
            "127.0.0.1:8080",
            "127.0.0.1:40001",
            TcpState::Established,
            WEB,
        ),
        row(
            "127.0.0.1:40001",
            "127.0.0.1:8080",
            TcpState::Established,
            CURL,
        ),
        row(
            "127.0.0.1:8080",
            "127.0.0.1:40002",
            TcpState::Established,
            WEB,
        ),
        row(
            "127.0.0.1:40002",
            "127.0.0.1:8080",
            TcpState::Established,
            CURL,
        ),
        row(
            "127.0.0.1:40003",
            "127.0.0.1:8080",
            TcpState::TimeWait,
            None,
        ),
        row(
            "10.0.0.5:22",
            "10.0.0.9:51000",
            TcpState::Established,
            Some((700, "sshd")),
        ),
    ];
    let mut second = first.clone();
    // What the sock_diag source adds: queues everywhere, an accept queue
    // that is full on the listener, a TIME_WAIT timer.
    for r in second.iter_mut() {
        (r.recv_q, r.send_q) = (Some(0), Some(0));
        r.uid = Some(1000);
        r.user = Some(Arc::from("alice"));
    }
    (second[0].recv_q, second[0].send_q) = (Some(129), Some(128));
    second[1].recv_q = Some(512);
    second[3].state = TcpState::CloseWait;
    second[4].state = TcpState::FinWait2;
    second[5].timer = Some(tcpscope::socket::SocketTimer {
        kind: tcpscope::socket::TimerKind::TimeWait,
        remaining_ms: 42_000,
        expires_at: t0 + Duration::from_secs(20 + 42),
        retransmits: 0,
    });
    second.remove(6); // the ssh connection goes away
    second.push(row(
        "127.0.0.1:8080",
        "127.0.0.1:40004",
        TcpState::Established,
        WEB,
    ));
    second.push(row(
        "127.0.0.1:40004",
        "127.0.0.1:8080",
        TcpState::Established,
        CURL,
    ));

    let mut tracker = Pipeline::new();
    let wall = SystemTime::UNIX_EPOCH;
    let snap = |rows: Vec<SocketRow>, at: Duration| Dump::at(rows, t0 + at, wall + at);
    let mut events = Vec::new();
    tracker.dump(snap(first, Duration::ZERO), &mut events);
    // The ssh connection is missing from two readings in a row: gone.
    tracker.dump(snap(second.clone(), Duration::from_secs(20)), &mut events);
    tracker.dump(snap(second, Duration::from_millis(20_100)), &mut events);
    let mut update = Update::from_pipeline(&mut tracker, events, t0 + Duration::from_secs(20));
    update.degradations = vec![Degradation::new(
        Limit::ProcessNames,
        "only your own processes are shown; run as root to see all",
    )];
    let settings = scripted_settings();
    let mut app = App::new(settings, Session::Live, "replay", t0 + now_after);
    app.apply_feed(Feed::Update(Box::new(update)));
    app
}

fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    let area = ratatui::layout::Rect::new(0, 0, width, height);
    app.set_page(widgets::table_page(area, app));
    terminal.draw(|f| widgets::draw(f, app)).expect("draw");
    terminal.backend().to_string()
}

#[test]
fn main_screen_shows_groups_changes_and_gone_rows() {
    let mut app = scripted_app(Duration::from_secs(21));
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("ESTABLISHED→CLOSE_WAIT"));
    assert!(screen.contains("ESTABLISHED (gone)"), "{screen}");
    // The ended connection counts nowhere and comes after every live row,
    // its age stopped when it ended (20 s, not 21).
    assert!(
        screen.contains("ESTABLISHED (4)") && screen.contains("GONE (1)"),
        "{screen}"
    );
    let line = |needle: &str| screen.lines().position(|l| l.contains(needle));
    assert!(line("GONE (1)") > line("127.0.0.1:40003"), "{screen}");
    let gone = screen
        .lines()
        .find(|l| l.contains("(gone)"))
        .unwrap_or_default();
    assert!(gone.contains("≥20s"), "{gone}");
    insta::assert_snapshot!("main_screen_100x30", screen);
}

#[test]
fn wide_screen_shows_queues_accept_gauge_timer_and_user() {
    let mut app = scripted_app(Duration::from_secs(21));
    let screen = render(&mut app, 180, 30);
    let listen = screen
        .lines()
        .find(|l| l.contains("0.0.0.0:8080"))
        .expect("listener row");
    assert!(
        listen.contains("129/128"),
        "accept queue as queued/backlog: {listen}"
    );
    assert!(listen.contains("██████"), "a full gauge: {listen}");
    let tw = screen
        .lines()
        .find(|l| l.contains("40003"))
        .expect("TIME_WAIT row");
    assert!(
        tw.contains("timewait 41s"),
        "counted down from the kernel's expiry: {tw}"
    );
    assert!(screen.contains("alice"));
    insta::assert_snapshot!("wide_180x30", screen);
    // Five seconds later, with no new reading, the countdown has moved on.
    app.now += Duration::from_secs(5);
    let later = render(&mut app, 180, 30);
    assert!(later.contains("timewait 36s"), "{later}");
}

#[test]
fn details_pane_shows_everything_known_about_the_selection() {
    use tcpscope::pipeline::runner::DetailsReading;
    use tcpscope::socket::TcpDetails;
    let mut app = scripted_app(Duration::from_secs(21));
    app.handle(Action::Down); // 127.0.0.1:8080 → 127.0.0.1:40001
    app.handle(Action::ToggleDetails);
    let key = app.selected_conn().expect("a selection").row.key;
    let info = TcpDetails {
        retransmits: 0,
        rto_us: 201_000,
        snd_mss: 32_768,
        unacked: 0,
        lost: 0,
        pmtu: Some(65_535),
        rtt_us: 45,
        rttvar_us: 22,
        snd_ssthresh: 2_147_483_647,
        snd_cwnd: 10,
        total_retrans: Some(0),
        bytes_acked: Some(1_234),
        bytes_received: Some(5_678),
        min_rtt_us: Some(20),
        delivery_rate: Some(125_000_000),
        congestion: Some("cubic".into()),
    };
    let mut update = Update::from_pipeline(&mut Pipeline::new(), Vec::new(), Instant::now());
    update.details = Some(DetailsReading {
        key,
        info: Ok(Some(info)),
        supported: true,
    });
    app.apply_feed(Feed::Update(Box::new(update)));
    let screen = render(&mut app, 120, 34);
    assert!(screen.contains("rtt 45 µs ± 22 µs"), "{screen}");
    assert!(screen.contains("ssthresh ∞"), "{screen}");
    assert!(screen.contains("Recv-Q 512"), "{screen}");
    assert!(screen.contains("user alice (uid 1000)"), "{screen}");
    assert!(screen.contains("cubic"));
    assert!(screen.contains("delivery 1.0 Gbit/s"), "{screen}");
    assert!(screen.contains("timeline"));
    insta::assert_snapshot!("details_120x34", screen);
}

#[test]
fn highlights_expire_and_ages_move_on() {
    let mut app = scripted_app(Duration::from_secs(30));
    let screen = render(&mut app, 100, 30);
    assert!(
        !screen.contains('→'),
        "state change no longer flashed after 10s"
    );
    assert!(screen.contains("≥30s"), "unseen entries are 'at least'");
}

#[test]
fn help_overlay_lists_every_key() {
    let mut app = scripted_app(Duration::from_secs(21));
    app.handle(Action::ToggleHelp);
    let screen = render(&mut app, 100, 30);
    let screen_wide = render(&mut app, 160, 48);
    // Every key of the live view; the other sessions' in tests/help.rs.
    let live = app.session.kinds();
    for b in tcpscope::ui::keymap::KEYMAP {
        if let Some(keys) = b.label.filter(|_| b.sessions.meets(live)) {
            assert!(screen_wide.contains(keys), "help lacks {keys}");
            assert!(screen_wide.contains(b.help), "help lacks '{}'", b.help);
        }
    }
    insta::assert_snapshot!("help_overlay_100x30", screen);
}

#[test]
fn one_group_narrows_the_table() {
    let mut app = scripted_app(Duration::from_secs(21));
    app.handle(Action::SwitchPanel);
    for _ in 0..4 {
        app.handle(Action::Down); // all → LISTEN → SYN_SENT → SYN_RECV → ESTABLISHED
    }
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("ESTABLISHED (4)"), "{screen}");
    assert!(!screen.contains("0.0.0.0:8080"), "LISTEN row hidden");
    insta::assert_snapshot!("group_established_100x30", screen);
}

#[test]
fn a_group_heading_is_never_cut_by_narrow_addresses() {
    // Short addresses make a narrow first column; the heading with its
    // count must still be whole.
    let rows: Vec<SocketRow> = (1..=12)
        .map(|i| {
            row(
                &format!("1.2.3.4:{i}"),
                "5.6.7.8:9",
                TcpState::Established,
                None,
            )
        })
        .collect();
    let mut pipeline = Pipeline::new();
    let mut events = Vec::new();
    let t0 = Instant::now();
    pipeline.dump(Dump::at(rows, t0, SystemTime::UNIX_EPOCH), &mut events);
    let update = Update::from_pipeline(&mut pipeline, events, t0);
    let mut app = App::new(scripted_settings(), Session::Live, "replay", t0);
    app.apply_feed(Feed::Update(Box::new(update)));
    let screen = render(&mut app, 120, 20);
    assert!(screen.contains("│ESTABLISHED (12) "), "{screen}");
}

#[test]
fn small_terminals_never_panic() {
    let mut app = scripted_app(Duration::from_secs(21));
    for (w, h) in [(40, 12), (41, 13), (60, 15), (69, 20), (70, 12), (200, 60)] {
        let screen = render(&mut app, w, h);
        assert!(!screen.contains("too small"), "{w}x{h}");
    }
    let screen = render(&mut app, 39, 11);
    assert!(
        screen.contains("terminal too small (39x11): need"),
        "{screen}"
    );
    for (w, h) in [(1, 1), (10, 3), (39, 40), (100, 2)] {
        render(&mut app, w, h);
    }
    insta::assert_snapshot!("minimum_40x12", render(&mut app, 40, 12));
}

fn lab_socket(
    id: u32,
    side: tcpscope::lab::Side,
    local: &str,
    remote: Option<&str>,
    call: tcpscope::lab::SocketCall,
) -> tcpscope::lab::LabSocket {
    tcpscope::lab::LabSocket {
        id,
        side,
        local: local.parse().expect("local"),
        remote: remote.map(|r| r.parse().expect("remote")),
        cookie: None,
        sent: if id == 3 { 5 } else { 0 },
        received: if id == 2 { 5 } else { 0 },
        last_call: Some(call),
        open: true,
        reading: true,
        echo: side == tcpscope::lab::Side::Server,
        peer_closed: false,
        write_shut: false,
    }
}

#[test]
fn lab_panel_shows_kernel_states_for_lab_sockets() {
    use tcpscope::lab::{
        LabConfig, LabEvent, LabSettings, Running, ServerOptions, Side, SocketCall,
    };
    let mut app = scripted_app(Duration::from_secs(21));
    app.handle(Action::ToggleLab);
    let mut settings = LabSettings::new(&LabConfig::default());
    settings.running = Some(Running {
        addr: "0.0.0.0:8080".parse().expect("addr"),
        options: ServerOptions {
            bind: "0.0.0.0".parse().expect("ip"),
            port: 8080,
            ..ServerOptions::default()
        },
    });
    app.apply_lab(LabEvent::Settings(settings));
    app.apply_lab(LabEvent::Sockets(vec![
        lab_socket(
            1,
            Side::Listener,
            "0.0.0.0:8080",
            None,
            SocketCall::Listen {
                backlog: 128,
                reuseaddr: false,
            },
        ),
        lab_socket(
            2,
            Side::Client,
            "127.0.0.1:40002",
            Some("127.0.0.1:8080"),
            SocketCall::Close,
        ),
        lab_socket(
            3,
            Side::Server,
            "127.0.0.1:8080",
            Some("127.0.0.1:40002"),
            SocketCall::Send(5),
        ),
    ]));
    let screen = render(&mut app, 100, 30);
    assert!(
        screen
            .lines()
            .any(|l| l.contains("#2") && l.contains("FIN_WAIT_2")),
        "{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|l| l.contains("#3") && l.contains("CLOSE_WAIT")),
        "{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|l| l.contains("#1") && l.contains("LISTEN")),
        "{screen}"
    );
    insta::assert_snapshot!("lab_panel_100x30", screen);
}

/// The scripted app with the 40002 pair selected: its client end just went
/// ESTABLISHED → FIN_WAIT_2 and the server end ESTABLISHED → CLOSE_WAIT.
fn closing_pair_selected() -> App {
    let mut app = scripted_app(Duration::from_secs(21));
    select_where(&mut app, |c| c.row.key.local.port() == 40002);
    app
}

/// Moves the table's selection to the first connection that `wanted`.
fn select_where(app: &mut App, wanted: impl Fn(&tcpscope::socket::Conn) -> bool) {
    let pos = (0..app.table.listing.rows())
        .position(|pos| {
            let id = app.table.listing.row_at(pos);
            id.and_then(|id| app.data.get(id)).is_some_and(&wanted)
        })
        .expect("such a connection is listed");
    app.move_cursor(pos as i64 - app.table.cursor as i64);
}

#[test]
fn state_diagram_marks_the_selection_its_peer_and_lights_the_arrow() {
    for (w, h) in [(100, 30), (160, 48)] {
        let mut app = closing_pair_selected();
        app.handle(Action::ToggleDiagram);
        let screen = render(&mut app, w, h);
        assert!(
            screen.contains("▶ FIN_WAIT_2 ◀"),
            "selected state marked: {screen}"
        );
        assert!(screen.contains("» CLOSE_WAIT «"), "peer marked: {screen}");
        assert!(screen.contains("timeout=2MSL") && screen.contains("rcv SYN / snd SYN,ACK"));
        for s in TcpState::ALL {
            assert!(screen.contains(s.name()), "{s} missing from the diagram");
        }
        insta::assert_snapshot!(format!("diagram_{w}x{h}"), screen);
    }
}

#[test]
fn transition_log_lists_events_newest_first_and_follows_the_filter() {
    for (w, h) in [(100, 30), (160, 48)] {
        let mut app = scripted_app(Duration::from_secs(21));
        app.handle(Action::ToggleLog);
        let screen = render(&mut app, w, h);
        let log: Vec<&str> = screen
            .lines()
            .skip_while(|l| !l.contains("transitions"))
            .collect();
        let text = log.join("\n");
        assert!(text.contains("ESTABLISHED → FIN_WAIT_2"), "{screen}");
        assert!(text.contains("ESTABLISHED → CLOSE_WAIT"), "{screen}");
        assert!(
            text.contains("TIME_WAIT → gone") || text.contains("ESTABLISHED → gone"),
            "{screen}"
        );
        insta::assert_snapshot!(format!("log_{w}x{h}"), screen);
    }
    // A filter narrows the log like the table.
    let mut app = scripted_app(Duration::from_secs(21));
    app.handle(Action::ToggleLog);
    app.filter = Filter::parse("state CLOSE_WAIT").expect("valid");
    app.relist();
    let screen = render(&mut app, 160, 48);
    let log: String = screen
        .lines()
        .skip_while(|l| !l.contains("transitions"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        log.contains("CLOSE_WAIT") && !log.contains("FIN_WAIT_2"),
        "{log}"
    );
}

#[test]
fn details_show_both_ends_as_a_ladder() {
    for (w, h) in [(100, 30), (160, 48)] {
        let mut app = closing_pair_selected();
        app.handle(Action::ToggleDetails);
        let screen = render(&mut app, w, h);
        let rung = screen
            .lines()
            .find(|l| l.contains("+20.000"))
            .expect("a rung 20 s in");
        assert!(
            rung.contains("FIN_WAIT_2") && rung.contains("CLOSE_WAIT"),
            "{rung}"
        );
        insta::assert_snapshot!(format!("ladder_{w}x{h}"), screen);
    }
}

#[test]
fn presentation_mode_keeps_what_a_class_needs() {
    let mut app = scripted_app(Duration::from_secs(21));
    app.handle(Action::ToggleClassroom);
    let screen = render(&mut app, 120, 30);
    // The queues and the owner stay: a full accept queue, unread data
    // holding back a FIN, and whose socket it is are the lesson too.
    assert!(
        screen.contains("PID/Process") && screen.contains("Recv-Q") && screen.contains("129/128"),
        "{screen}"
    );
    assert!(screen.contains(" LISTEN ") && screen.contains("4242/webserver"));
    insta::assert_snapshot!("classroom_120x30", screen);
    let wide = render(&mut app, 160, 40);
    assert!(
        wide.contains("In state") && wide.contains("Timer"),
        "{wide}"
    );
}

#[test]
fn the_arrow_of_the_last_transition_is_lit() {
    use ratatui::style::{Color, Modifier};
    let t0 = Instant::now();
    let mut tracker = Pipeline::new();
    let snap = |state: TcpState, ms: u64| {
        let rows = vec![row("127.0.0.1:40009", "127.0.0.1:8080", state, None)];
        Dump::at(rows, t0 + Duration::from_millis(ms), SystemTime::UNIX_EPOCH)
    };
    let mut events = Vec::new();
    tracker.dump(snap(TcpState::FinWait2, 0), &mut events);
    tracker.dump(snap(TcpState::TimeWait, 1000), &mut events);
    let mut app = App::new(
        scripted_settings(),
        Session::Live,
        "replay",
        t0 + Duration::from_millis(1500),
    );
    app.apply_feed(Feed::Update(Box::new(Update::from_pipeline(
        &mut tracker,
        events,
        t0,
    ))));
    app.handle(Action::ToggleDiagram);
    let lit = |app: &mut App| {
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
        terminal.draw(|f| widgets::draw(f, app)).expect("draw");
        let buf = terminal.backend().buffer().clone();
        buf.content()
            .iter()
            .filter(|c| c.fg == Color::Yellow && c.modifier.contains(Modifier::BOLD))
            .map(|c| c.symbol().to_string())
            .collect::<String>()
    };
    let text = lit(&mut app);
    assert!(
        text.contains("rcvFIN/sndACK") || text.contains("rcv FIN / snd ACK"),
        "lit: {text:?}"
    );
    // A few seconds later the arrow goes dark again.
    app.now += Duration::from_secs(5);
    assert_eq!(lit(&mut app), "");
}

#[test]
fn question_mark_on_a_state_group_explains_it() {
    let mut app = scripted_app(Duration::from_secs(21));
    app.handle(Action::SwitchPanel); // table → groups (no lab)
    for _ in 0..7 {
        app.handle(Action::Down); // all → … → CLOSE_WAIT
    }
    app.handle(Action::ToggleHelp);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains(" CLOSE_WAIT "), "{screen}");
    assert!(
        screen.contains("never closes") || screen.contains("leak"),
        "{screen}"
    );
}

/// The 40002 connection's segments, as a capture would have seen them:
/// a handshake, data sent twice (the first copy lost), the client's FIN
/// and its ACK, and the server's FIN still held on the link.
fn with_segments(app: &mut App) {
    use tcpscope::socket::crossings::Fate;
    use tcpscope::socket::segment::{Flags, Header};
    let t0 = app.now - Duration::from_secs(21);
    let (c, s) = ("127.0.0.1:40002", "127.0.0.1:8080");
    let (syn, ack, psh, fin) = (Flags::SYN, Flags::ACK, Flags::PSH, Flags::FIN);
    // (ms after start, from, to, flags, seq, ack, length, fate)
    type Sent<'a> = (u64, &'a str, &'a str, u8, u32, u32, u32, Fate);
    let script: [Sent; 9] = [
        (1_000, c, s, syn, 5000, 0, 0, Fate::Delivered),
        (1_001, s, c, syn | ack, 9000, 5001, 0, Fate::Delivered),
        (1_002, c, s, ack, 5001, 9001, 0, Fate::Delivered),
        (2_000, c, s, psh | ack, 5001, 9001, 5, Fate::Delivered),
        (2_210, c, s, psh | ack, 5001, 9001, 5, Fate::Delivered),
        (2_211, s, c, ack, 9001, 5006, 0, Fate::Delivered),
        (19_900, c, s, fin | ack, 5006, 9001, 0, Fate::Delivered),
        (19_901, s, c, ack, 9001, 5007, 0, Fate::Delivered),
        (20_500, s, c, fin | ack, 9001, 5007, 0, Fate::InFlight),
    ];
    for (ms, from, to, flags, seq, ack, len, fate) in script {
        let h = Header {
            from: from.parse().expect("addr"),
            to: to.parse().expect("addr"),
            flags: Flags(flags),
            seq,
            ack,
            len,
            win: 512,
        };
        let at = t0 + Duration::from_millis(ms);
        let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        app.segments.log.record(h, at, wall, fate);
    }
    app.segments.capturing = tcpscope::ui::segments_view::Capturing::On(8080);
}

#[test]
fn segments_pane_draws_the_ladder_at_projector_size() {
    let mut app = closing_pair_selected();
    app.handle(Action::ToggleSegments);
    with_segments(&mut app);
    let screen = render(&mut app, 100, 30);
    assert!(screen.contains("client 127.0.0.1:40002"), "{screen}");
    assert!(screen.contains("server 127.0.0.1:8080"), "{screen}");
    insta::assert_snapshot!("segments_100x30", screen);
    app.handle(Action::Zoom);
    let screen = render(&mut app, 100, 30);
    let rungs: Vec<&str> = screen.lines().filter(|l| l.contains(" seq ")).collect();
    assert_eq!(rungs.len(), 9, "every segment fits zoomed:\n{screen}");
    assert!(rungs[0].contains("── SYN seq 0 win 512 ") && rungs[0].contains('▶'));
    assert!(rungs[1].contains("◀") && rungs[1].contains("SYN+ACK seq 0 ack 1 "));
    assert!(rungs[4].contains("RETRANSMISSION"), "{}", rungs[4]);
    assert!(
        rungs[7].contains("FIN_WAIT_2") && rungs[6].contains("CLOSE_WAIT"),
        "each state beside the segment that moved it:\n{screen}"
    );
    assert!(
        rungs[8].contains("(in flight)"),
        "the held FIN: {}",
        rungs[8]
    );
    insta::assert_snapshot!("segments_zoomed_100x30", screen);
}

#[test]
fn the_zoomed_diagram_fits_a_projector() {
    let mut app = closing_pair_selected();
    app.handle(Action::ToggleDetails);
    app.handle(Action::ToggleLog);
    app.handle(Action::ToggleDiagram);
    app.handle(Action::Zoom); // the newest pane: the diagram
    let screen = render(&mut app, 100, 30);
    for s in TcpState::ALL {
        assert!(
            screen.contains(s.name()),
            "{s} missing from the diagram:\n{screen}"
        );
    }
    assert!(
        screen.contains("timeout=2MSL") || screen.contains("2MSL"),
        "{screen}"
    );
    assert!(
        !screen.contains("transitions ("),
        "the log is not drawn when zoomed"
    );
    insta::assert_snapshot!("diagram_zoomed_100x30", screen);
}

#[test]
fn the_diagram_counts_down_time_wait() {
    let mut app = scripted_app(Duration::from_secs(21));
    select_where(&mut app, |c| c.state() == TcpState::TimeWait);
    app.handle(Action::ToggleDiagram);
    let screen = render(&mut app, 100, 30);
    let row = screen
        .lines()
        .find(|l| l.contains("TIME_WAIT ◀"))
        .expect("TIME_WAIT marked");
    // The timer read 42 s at 20 s; the view is at 21 s.
    assert!(
        row.contains("2MSL: 41s left") && row.contains("CLOSED"),
        "{row}"
    );
    assert_eq!(
        row.chars().count(),
        100 + 2,
        "the row keeps its width (quoted)"
    );
}

/// Rows of other namespaces: a Netns column, and a group per namespace in
/// the group panel that lists only that namespace's rows.
#[test]
fn each_namespace_has_a_column_and_a_group() {
    let t0 = Instant::now();
    let mut rows = vec![
        row("127.0.0.1:80", "0.0.0.0:0", TcpState::Listen, WEB),
        row(
            "127.0.0.1:80",
            "127.0.0.1:40001",
            TcpState::Established,
            WEB,
        ),
        row(
            "127.0.0.1:40001",
            "127.0.0.1:80",
            TcpState::Established,
            CURL,
        ),
    ];
    let mut other = rows.clone();
    for r in &mut other {
        r.netns = Some("web-container");
        r.key.instance = 1 << 56;
    }
    rows.extend(other);
    let mut tracker = Pipeline::new();
    let mut events = Vec::new();
    tracker.dump(Dump::at(rows, t0, SystemTime::UNIX_EPOCH), &mut events);
    let update = Update::from_pipeline(&mut tracker, events, t0);
    let mut app = App::new(scripted_settings(), Session::Live, "replay", t0);
    app.apply_feed(Feed::Update(Box::new(update)));
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("Netns"), "{screen}");
    assert_eq!(screen.matches(" web-container ").count(), 3, "{screen}");
    app.handle(Action::SwitchPanel); // to the groups
    for _ in 0..12 {
        app.handle(Action::Down);
    }
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("namespace web-container (3)"), "{screen}");
    assert!(
        screen.contains("sockets") || screen.contains("LISTEN (1)"),
        "{screen}"
    );
    insta::assert_snapshot!("netns_group_120x30", screen);
}

#[test]
fn a_close_wait_says_who_has_yet_to_close_it() {
    let mut app = scripted_app(Duration::from_secs(21));
    select_where(&mut app, |c| {
        c.row.key.local.port() == 8080 && c.row.key.remote.port() == 40002
    });
    app.handle(Action::ToggleDetails);
    let screen = render(&mut app, 120, 34);
    let line = screen
        .lines()
        .find(|l| l.contains("closing"))
        .expect("a closing line");
    assert!(
        line.contains("the peer closed 1s ago (at ")
            && line.contains("held open by 4242 webserver, which has not called close()"),
        "{line}"
    );
}

/// `b` in a demo blanks the screen, as a presentation's does; `b` again
/// brings the same view back.
#[test]
fn a_blanked_screen_shows_nothing_until_it_comes_back() {
    let mut app = scripted_app(Duration::from_millis(10));
    let before = render(&mut app, 100, 30);
    app.handle(tcpscope::ui::keymap::Action::ToggleBlank);
    let blank = render(&mut app, 100, 30);
    assert!(
        blank.chars().all(|c| c == ' ' || c == '\n' || c == '"'),
        "{blank}"
    );
    app.handle(tcpscope::ui::keymap::Action::ToggleBlank);
    assert_eq!(render(&mut app, 100, 30), before);
}
