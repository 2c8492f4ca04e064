//! Recordings made by `tcpscope record` on this machine's kernel (in
//! tests/fixtures) played back through the real pipeline and drawn: the
//! view of a recording, one event at a time, and a damaged file played up
//! to the damage.

mod common;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::Path;
use std::time::Instant;
use tcpscope::pipeline::Pipeline;
use tcpscope::pipeline::runner::{Feed, Update};
use tcpscope::source::Scope;
use tcpscope::source::playback::Playback;
use tcpscope::ui::{App, widgets};

const FIXTURE: &str = "tests/fixtures/handshake-close.ndjson";

/// `file` played `steps` events in, one at a time as the view takes them
/// (events recorded at the same microsecond come out together): the
/// replay's view, its playback, and the recorded segments reached.
fn played(
    file: &str,
    steps: usize,
) -> (
    App,
    Playback,
    Vec<(
        Instant,
        std::time::SystemTime,
        tcpscope::socket::segment::Header,
    )>,
) {
    let read = tcpscope::output::record_file::read(Path::new(file)).expect("the fixture");
    assert_eq!(read.damage, None);
    let playback = Playback::new(&read.records, 1.0);
    playback.toggle_pause();
    let mut sources = playback.sources();
    let mut pipeline = Pipeline::new();
    let scope = Scope::default();
    let mut events = Vec::new();
    let baseline = sources.table.dump(&scope).expect("the snapshot");
    pipeline.reading(baseline, &[], &mut events);
    let mut segments = Vec::new();
    for _ in 0..steps {
        if !playback.step() {
            break;
        }
        let mut changes = Vec::new();
        let ch = sources.changes.as_mut().expect("events");
        ch.drain(&mut changes).expect("drain");
        let dump = sources.table.dump(&scope).expect("a reading");
        pipeline.reading(dump, &changes, &mut events);
        segments.extend(playback.take_segments());
    }
    let header = read.header.expect("a header");
    let app = app_on(file, &header, &playback, &mut pipeline, events);
    (app, playback, segments)
}

/// The fixture played `steps` events in, drawn at `w`×`h`; ages (real
/// time of the test) are blanked.
fn replayed(steps: usize, w: u16, h: u16) -> (String, Playback) {
    let (mut app, playback, _) = played(FIXTURE, steps);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    app.set_page(widgets::table_page(
        ratatui::layout::Rect::new(0, 0, w, h),
        &app,
    ));
    terminal.draw(|f| widgets::draw(f, &app)).expect("draw");
    let screen = terminal.backend().to_string();
    let ages = regex_lite_ms(&screen);
    (ages, playback)
}

/// The replay's view, with what the pipeline made of the events so far.
fn app_on(
    file: &str,
    header: &tcpscope::stream::Header,
    playback: &Playback,
    pipeline: &mut Pipeline,
    events: Vec<tcpscope::socket::Event>,
) -> App {
    let args = tcpscope::cli::ReplayArgs {
        file: file.into(),
        speed: 1.0,
        classroom: false,
    };
    let (mut settings, session) = tcpscope::settings::replay(&args, Some(header), playback.clone());
    settings.theme.color = false;
    let now = Instant::now();
    let mut app = App::new(settings, session, "replay", now);
    let update = Update::from_pipeline(pipeline, events, now);
    app.apply_feed(Feed::Update(Box::new(update)));
    app
}

/// `123ms` and `1s` ages become `AGE`: they are the test's own time.
fn regex_lite_ms(screen: &str) -> String {
    screen
        .split('\n')
        .map(|line| {
            line.split(' ')
                .map(|w| {
                    let digits = w.trim_end_matches("ms").trim_end_matches('s');
                    let is_age = (w.ends_with("ms") || w.ends_with('s'))
                        && !digits.is_empty()
                        && digits.chars().all(|c| c.is_ascii_digit());
                    if is_age {
                        "AGE".to_string()
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_recorded_close_replays_one_event_at_a_time() {
    // Eight events in: the client has just reached FIN_WAIT_2.
    let (screen, playback) = replayed(8, 100, 30);
    assert!(screen.contains("ESTABLISHED→CLOSE_WAIT"), "{screen}");
    assert!(screen.contains("FIN_WAIT_1→FIN_WAIT_2"), "{screen}");
    assert!(screen.contains("· paused"), "the header says so: {screen}");
    assert!(!playback.position().done);
    insta::assert_snapshot!("replay_fin_wait_2_100x30", screen);
    // Every event: the server end is gone, the client in TIME_WAIT.
    let (screen, playback) = replayed(usize::MAX, 100, 30);
    assert!(screen.contains("TIME_WAIT"), "{screen}");
    assert!(playback.position().done, "{:?}", playback.position());
    insta::assert_snapshot!("replay_the_end_100x30", screen);
}

#[test]
fn a_damaged_recording_plays_up_to_the_damage_and_says_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(FIXTURE).expect("the fixture");
    let cut = &text[..text.len() - 30];
    let path = dir.path().join("cut.ndjson");
    std::fs::write(&path, cut).expect("write");
    let read = tcpscope::output::record_file::read(&path).expect("still a recording");
    let lines = cut.lines().count();
    assert_eq!(read.damage.map(|d| d.line), Some(lines));
    assert_eq!(read.records.len(), lines - 2);
    // Not a recording at all: a clear error, naming the file.
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "hello\n").expect("write");
    let err = tcpscope::output::record_file::read(&junk).expect_err("not a recording");
    assert!(err.contains("is not a tcpscope recording"), "{err}");
}

/// `replay` with the shell's `ulimit -v` (KiB) set: its exit code and
/// standard error.
fn replay_limited(file: &Path, kib: u32) -> (Option<i32>, String) {
    let script = format!("ulimit -v {kib}; exec \"$0\" replay \"$1\" </dev/null");
    let out = std::process::Command::new("sh")
        .args(["-c", &script, env!("CARGO_BIN_EXE_tcpscope")])
        .arg(file)
        .output()
        .expect("run tcpscope replay");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// An endless line (`/dev/zero`) and a small `.zst` that decompresses to
/// one 300 MB line are read a line at a time, the line cut at its limit:
/// refused or played up to there within 200 MB of address space.
#[test]
fn a_hostile_recording_is_read_within_bounded_memory() {
    let (code, err) = replay_limited(Path::new("/dev/zero"), 200_000);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("/dev/zero is not a tcpscope recording (a line longer than 64 KiB)"),
        "{err}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bomb.ndjson.zst");
    let file = std::fs::File::create(&path).expect("create");
    let mut z = zstd::Encoder::new(file, 1).expect("an encoder");
    let header = std::fs::read_to_string(FIXTURE).expect("the fixture");
    let header = header.lines().next().expect("a header line");
    std::io::Write::write_all(&mut z, format!("{header}\n").as_bytes()).expect("write");
    let block = vec![b'a'; 1 << 20];
    for _ in 0..300 {
        std::io::Write::write_all(&mut z, &block).expect("write");
    }
    z.finish().expect("finish");
    assert!(std::fs::metadata(&path).expect("its size").len() < 1 << 20);
    let read = tcpscope::output::record_file::read(&path).expect("a header");
    let damage = read.damage.expect("the long line is damage");
    assert_eq!(damage.line, 2);
    assert!(damage.why.contains("longer than 64 KiB"), "{}", damage.why);
    // The whole program, within the limit: it reaches the terminal check.
    let (code, err) = replay_limited(&path, 200_000);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("needs a terminal"), "{err}");
}

#[test]
fn a_missing_recording_is_named_in_the_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["replay", "/nonexistent/rec.ndjson"])
        .output()
        .expect("run tcpscope replay");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the recording /nonexistent/rec.ndjson"),
        "{err}"
    );
}

/// A recording made with `--segments`: replayed, its segments draw the
/// ladder of the recorded connection, each state beside its segment.
#[test]
fn recorded_segments_draw_the_ladder_on_replay() {
    let file = "tests/fixtures/handshake-segments.ndjson";
    let (mut app, _playback, segments) = played(file, usize::MAX);
    app.handle(tcpscope::ui::Action::ToggleSegments);
    for (at, wall, h) in segments {
        app.segments.log.seen(h, at, wall);
    }
    // The client's connection: the row in TIME_WAIT.
    let pos = (0..app.table.listing.rows())
        .position(|pos| {
            let id = app.table.listing.row_at(pos);
            id.and_then(|id| app.data.get(id))
                .is_some_and(|c| c.state() == tcpscope::socket::TcpState::TimeWait)
        })
        .expect("the client in TIME_WAIT");
    app.move_cursor(pos as i64 - app.table.cursor as i64);
    app.handle(tcpscope::ui::Action::Zoom);
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("test terminal");
    terminal.draw(|f| widgets::draw(f, &app)).expect("draw");
    let screen = terminal.backend().to_string();
    let rungs: Vec<&str> = screen.lines().filter(|l| l.contains(" seq ")).collect();
    assert_eq!(rungs.len(), 9, "{screen}");
    assert!(
        rungs[0].contains("SYN_SENT") && rungs[0].contains("SYN seq 0"),
        "{screen}"
    );
    assert!(
        rungs
            .iter()
            .any(|r| r.contains("FIN_WAIT_1") && r.contains("FIN")),
        "{screen}"
    );
}

/// The details pane of a replayed connection speaks of the recording,
/// not of running as root on this machine.
#[test]
fn details_of_a_replay_speak_of_the_recording() {
    let (mut app, _playback, _) = played(FIXTURE, 4);
    let (w, h) = (120, 34);
    app.set_page(widgets::table_page(
        ratatui::layout::Rect::new(0, 0, w, h),
        &app,
    ));
    app.handle(tcpscope::ui::keymap::Action::Down);
    app.handle(tcpscope::ui::keymap::Action::ToggleDetails);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal.draw(|f| widgets::draw(f, &app)).expect("draw");
    let screen = terminal.backend().to_string();
    assert!(
        screen.contains("no process named in the recording"),
        "{screen}"
    );
    assert!(!screen.contains("run as root"), "{screen}");
}

/// A recording with causes (stream minor 1) replays them: the details
/// pane's timeline says why each end moved.
#[test]
fn a_recordings_causes_are_shown_on_replay() {
    let file = "tests/fixtures/causes-close.ndjson";
    let (mut app, _playback, _) = played(file, usize::MAX);
    let (w, h) = (140, 40);
    app.set_page(widgets::table_page(
        ratatui::layout::Rect::new(0, 0, w, h),
        &app,
    ));
    let mut screen = String::new();
    // The rows: the client's end, the listener, the server's end.
    for _ in 0..3 {
        app.handle(tcpscope::ui::keymap::Action::Down);
        app.handle(tcpscope::ui::keymap::Action::ToggleDetails);
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        terminal.draw(|f| widgets::draw(f, &app)).expect("draw");
        screen = terminal.backend().to_string();
        if screen.contains("← FIN+ACK received") {
            break;
        }
        app.handle(tcpscope::ui::keymap::Action::ToggleDetails);
    }
    assert!(screen.contains("← close() by python3 (14287)"), "{screen}");
    assert!(screen.contains("← FIN+ACK received"), "{screen}");
    assert!(
        screen.contains("← connect() by python3 (14287)"),
        "{screen}"
    );
}
