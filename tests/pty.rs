//! The real binary in a pseudo-terminal, read back through a terminal
//! emulator: what a person would see, and a terminal left as it was.

mod common;

use common::{PATIENCE, cap, pair};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROWS: u16 = 30;
const COLS: u16 = 120;

struct Session {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    output: mpsc::Receiver<Vec<u8>>,
    screen: vt100::Parser,
    raw: Vec<u8>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

/// Whether the table row of `addr` shows `text` (in the row itself, not
/// in the group panel that shares its screen line).
fn row_shows(screen: &str, addr: &str, text: &str) -> bool {
    screen
        .lines()
        .any(|l| l.split(addr).nth(1).is_some_and(|row| row.contains(text)))
}

/// A recording made on this kernel: a handshake and a close.
const REPLAYED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/handshake-close.ndjson"
);

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("a non-zero terminal size")
}

impl Session {
    fn start(args: &[&str]) -> Session {
        Session::start_env(args, &[])
    }

    /// Started with these environment variables added.
    fn start_env(args: &[&str], env: &[(&str, &str)]) -> Session {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_tcpscope"));
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pty.slave.spawn_command(cmd).expect("spawn tcpscope");
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let writer = pty.master.take_writer().expect("pty writer");
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            writer,
            output,
            screen: vt100::Parser::new(nonzero(ROWS), nonzero(COLS), 0),
            raw: Vec::new(),
            _master: pty.master,
        }
    }

    /// A recording made on this kernel replayed at half speed, its
    /// header on screen.
    fn replaying_the_fixture() -> Session {
        let mut tui = Session::start(&["replay", REPLAYED, "--speed", "0.5"]);
        tui.wait_screen("the replay's header", |s| s.contains("0.5× ·"));
        tui
    }

    fn pump(&mut self, wait: Duration) {
        if let Ok(bytes) = self.output.recv_timeout(wait) {
            self.screen.process(&bytes);
            self.raw.extend_from_slice(&bytes);
        }
    }

    fn text(&self) -> String {
        self.screen.screen().contents()
    }

    /// Waits until `test` holds for the screen text.
    fn wait_screen(&mut self, what: &str, test: impl Fn(&str) -> bool) -> String {
        self.wait_screen_within(PATIENCE * 2, what, test)
    }

    /// The same, for work that takes long on a loaded machine.
    fn wait_screen_within(
        &mut self,
        patience: Duration,
        what: &str,
        test: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            self.pump(Duration::from_millis(50));
            if test(&self.text()) {
                return self.text();
            }
        }
        panic!("screen never showed {what}; it shows:\n{}", self.text());
    }

    fn send(&mut self, keys: &str) {
        self.writer
            .write_all(keys.as_bytes())
            .expect("type into the pty");
        self.writer.flush().expect("flush");
    }

    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            self.pump(Duration::from_millis(20));
            if let Ok(Some(status)) = self.child.try_wait() {
                // Collect what was written right before exiting.
                for _ in 0..5 {
                    self.pump(Duration::from_millis(20));
                }
                return status;
            }
        }
        let _ = self.child.kill();
        panic!("tcpscope did not exit; screen:\n{}", self.text());
    }

    fn assert_restored(&self) {
        let screen = self.screen.screen();
        assert!(!screen.alternate_screen(), "left the alternate screen");
        assert!(!screen.hide_cursor(), "cursor shown again");
        let raw = String::from_utf8_lossy(&self.raw);
        assert!(
            raw.contains("\x1b[?1049l"),
            "leave-alternate-screen sequence sent"
        );
        assert!(raw.contains("\x1b[?1000l"), "mouse capture turned off");
    }
}

#[test]
fn live_view_shows_a_connection_and_quits_cleanly() {
    let p = pair();
    let port = p.server_addr.port();
    let mut tui = Session::start(&[&port.to_string(), "-i", "50ms"]);
    let client = p.client_addr.to_string();
    let screen = tui.wait_screen("the test's ESTABLISHED connection", |s| {
        s.lines()
            .any(|l| l.contains(&client) && l.contains("ESTABLISHED"))
    });
    assert!(screen.contains(&format!("port {port}")), "{screen}");
    assert!(screen.contains("LISTEN (1)"), "{screen}");

    drop(p.client);
    tui.wait_screen("FIN_WAIT_2 after the client closed", |s| {
        row_shows(s, &client, "FIN_WAIT_2")
    });

    tui.send("q");
    let status = tui.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    tui.assert_restored();
}

/// The debug log of a live view has its start, the keys pressed and what
/// they did, and its end.
#[test]
fn the_debug_log_has_the_keys_and_the_end() {
    let p = pair();
    let port = p.server_addr.port().to_string();
    let dir = tempfile::tempdir().expect("a directory");
    let log = dir.path().join("view.log");
    let log_arg = log.to_string_lossy().to_string();
    let mut tui = Session::start(&["--log", &log_arg, &port]);
    tui.wait_screen("the listener", |s| s.contains("LISTEN (1)"));
    tui.send("s");
    tui.wait_screen("the new sort said", |s| s.contains("sorted by state"));
    tui.send("q");
    assert!(tui.wait_exit().success());
    let text = std::fs::read_to_string(&log).expect("the log");
    for needle in [
        "the live view starts",
        "session=\"live view\"",
        "action=CycleSort",
        "status: sorted by state",
        "action=Quit",
        "the terminal is restored by_key=true",
    ] {
        assert!(text.contains(needle), "the log lacks {needle}:\n{text}");
    }
}

/// As root, the live view keeps only what its later work uses (owners,
/// `K`, the segments pane's capture), with no_new_privs, in every
/// thread, and still shows each socket's process.
#[test]
fn the_live_view_keeps_only_the_privileges_it_uses() {
    if !common::is_root() {
        eprintln!("skipped: dropping privileges is seen only as root");
        return;
    }
    let p = pair();
    let port = p.server_addr.port();
    // With -r: the resolver's threads must be as confined as the rest.
    let mut tui = Session::start(&[&port.to_string(), "-i", "50ms", "-r"]);
    let me = std::process::id().to_string();
    tui.wait_screen("the connection, with the test as its owner", |s| {
        s.lines()
            .any(|l| l.contains("localhost:") && l.contains(&me))
    });
    let pid = tui.child.process_id().expect("its pid");
    let resolving = common::wait_for(common::PATIENCE, || {
        let threads = common::thread_privileges(pid);
        threads
            .iter()
            .any(|(name, _, _)| name.starts_with("tcpscope-dns"))
            .then_some(())
    });
    assert!(resolving.is_some(), "the resolver's threads started");
    let uses = [
        cap::DAC_READ_SEARCH,
        cap::NET_ADMIN,
        cap::NET_RAW,
        cap::SYS_PTRACE,
    ];
    let held = common::wait_confined(pid, &cap::kept(&uses));
    tui.send("q");
    assert!(tui.wait_exit().success());
    let held = held.unwrap_or_else(|e| panic!("{e}"));
    assert!(held.len() > 2, "every thread: {held:?}");
    let _ = p;
}

/// A replay needs no privilege once the recording is read; with
/// `--no-sandbox` nothing is dropped, and the header says so.
#[test]
fn a_replay_holds_no_privilege_unless_told_to_keep_it() {
    let mut tui = Session::replaying_the_fixture();
    let pid = tui.child.process_id().expect("its pid");
    let held = common::wait_confined(pid, &[0]);
    tui.send("q");
    assert!(tui.wait_exit().success());
    held.unwrap_or_else(|e| panic!("{e}"));

    let mut tui = Session::start(&["replay", REPLAYED, "--no-sandbox"]);
    tui.wait_screen("the header's note", |s| {
        s.contains("not confined: --no-sandbox was given")
    });
    let pid = tui.child.process_id().expect("its pid");
    let threads = common::thread_privileges(pid);
    tui.send("q");
    assert!(tui.wait_exit().success());
    assert!(threads.iter().all(|(_, _, nnp)| !nnp), "{threads:?}");
    if common::is_root() {
        assert!(threads.iter().all(|(_, caps, _)| *caps != 0), "{threads:?}");
    }
}

/// The live view gets `signal`: it must exit cleanly, terminal restored.
fn signal_restores_the_terminal(signal: &str) {
    let mut tui = Session::start(&["-i", "100ms"]);
    tui.wait_screen("the header", |s| s.contains("tcpscope │"));
    let pid = tui.child.process_id().expect("child pid");
    let killed = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert!(tui.wait_exit().success(), "a clean exit on {signal}");
    tui.assert_restored();
}

#[test]
fn sigterm_restores_the_terminal() {
    signal_restores_the_terminal("-TERM");
}

#[test]
fn filter_prompt_reports_a_bad_expression_and_keeps_running() {
    let mut tui = Session::start(&["-i", "100ms"]);
    tui.wait_screen("the header", |s| s.contains("tcpscope │"));
    tui.send("/sport nope\r");
    tui.wait_screen("the filter error", |s| {
        s.contains("'nope' is not a port number")
    });
    tui.send("\x1b"); // Esc closes the prompt
    // A key right after Esc would read as Alt+key, as in any terminal.
    tui.wait_screen("the prompt closed", |s| !s.contains("/sport nope"));
    tui.send("?");
    tui.wait_screen("the help overlay", |s| s.contains("cycle the sort column"));
    tui.send("q"); // closes help
    tui.send("q"); // quits
    assert!(tui.wait_exit().success());
    tui.assert_restored();
}

/// 5 KB pasted into the filter prompt, as a terminal pastes once the app
/// asked for bracketed paste: taken as one piece and applied.
#[test]
fn a_paste_into_the_filter_prompt_is_taken_whole() {
    let p = pair();
    let port = p.server_addr.port().to_string();
    let mut tui = Session::start(&[&port, "-i", "100ms"]);
    tui.wait_screen("the connection", |s| s.contains("ESTABLISHED (2)"));
    let raw = String::from_utf8_lossy(&tui.raw).into_owned();
    assert!(raw.contains("\x1b[?2004h"), "bracketed paste asked for");
    tui.send("/");
    tui.wait_screen("the prompt", |s| s.lines().any(|l| l.starts_with('/')));
    let pasted = "state LISTEN ".repeat(400);
    tui.send(&format!("\x1b[200~{pasted}\x1b[201~"));
    tui.send("\r");
    tui.wait_screen("the pasted filter applied", |s| {
        s.contains("LISTEN (1)") && !s.contains("ESTABLISHED (")
    });
    tui.send("q");
    assert!(tui.wait_exit().success());
    let raw = String::from_utf8_lossy(&tui.raw).into_owned();
    assert!(raw.contains("\x1b[?2004l"), "bracketed paste turned off");
}

#[test]
fn lab_keys_drive_a_close_through_fin_wait_2_and_time_wait() {
    let mut tui = Session::start(&["lab", "-i", "50ms"]);
    tui.wait_screen("the lab panel", |s| {
        s.contains("server stopped (S starts it on 127.0.0.1:")
    });
    tui.send("S");
    tui.wait_screen("the listener", |s| {
        s.contains("server listening on 127.0.0.1:")
    });
    if common::is_root() {
        // The lab keeps what the live view keeps, and its ports below 1024.
        let pid = tui.child.process_id().expect("its pid");
        let kept = cap::kept(&[
            cap::DAC_READ_SEARCH,
            cap::NET_ADMIN,
            cap::NET_RAW,
            cap::SYS_PTRACE,
            cap::NET_BIND_SERVICE,
        ]);
        common::wait_confined(pid, &kept).unwrap_or_else(|e| panic!("{e}"));
    }
    tui.send("c");
    tui.wait_screen("an established client", |s| {
        s.lines()
            .any(|l| l.contains("#2") && l.contains("client") && l.contains("ESTABLISHED"))
    });
    // Tab to the lab panel, down to the client (#2), close it.
    tui.send("\t");
    tui.send("j");
    tui.send("x");
    // Checked together: a frame may arrive in pieces.
    tui.wait_screen("client FIN_WAIT_2 and server CLOSE_WAIT", |s| {
        s.lines()
            .any(|l| l.contains("#2") && l.contains("FIN_WAIT_2"))
            && s.lines()
                .any(|l| l.contains("#3") && l.contains("CLOSE_WAIT"))
    });
    // Down to the server end (#3), close it: the client moves to TIME_WAIT.
    tui.send("j");
    tui.send("x");
    tui.wait_screen("the client in TIME_WAIT", |s| {
        s.lines()
            .any(|l| l.contains("#2") && l.contains("TIME_WAIT"))
    });
    // The server still runs: q asks before closing it; Esc stays.
    tui.send("q");
    tui.wait_screen("the quit question", |s| s.contains("y quits"));
    tui.send("n");
    tui.wait_screen("the question gone", |s| !s.contains("y quits"));
    tui.send("q");
    tui.wait_screen("the quit question", |s| s.contains("y quits"));
    tui.send("y");
    assert!(tui.wait_exit().success());
    tui.assert_restored();
}

#[test]
fn sigquit_restores_the_terminal() {
    signal_restores_the_terminal("-QUIT");
}

/// The segments pane of a real connection: a handshake, five bytes and a
/// close on loopback, each arrow with its flags and each end's state
/// beside the segment that moved it; the pcap file holds the same.
#[test]
fn segments_pane_draws_the_ladder_of_a_real_connection() {
    if !common::is_root() {
        eprintln!("skipped: capturing segments needs root");
        return;
    }
    let (reserved, port) = common::reserve_port();
    drop(reserved);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pcap = dir.path().join("live.pcap");
    let pcap_arg = pcap.to_string_lossy().to_string();
    let mut tui = Session::start(&[&port.to_string(), "-i", "50ms", "--pcap", &pcap_arg]);
    tui.wait_screen("the header", |s| s.contains(&format!("port {port}")));
    tui.send("W");
    tui.wait_screen("the segments pane", |s| {
        s.contains(&format!("segments on port {port}"))
    });
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the port");
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    std::io::Write::write_all(&mut client, b"hello").expect("send");
    let mut got = [0u8; 5];
    std::io::Read::read_exact(&mut server, &mut got).expect("receive");
    let client_addr = client.local_addr().expect("client address").to_string();
    drop(client);
    // The server's ACK of the FIN first, else it would ride on its FIN.
    tui.wait_screen("the client in FIN_WAIT_2", |s| {
        s.lines()
            .any(|l| l.contains(&format!("│{client_addr} ")) && l.contains("FIN_WAIT_2 "))
    });
    drop(server);
    tui.wait_screen("the client in TIME_WAIT", |s| s.contains("TIME_WAIT (1)"));
    tui.send("G"); // the last row: the client's connection, below the listener
    let screen = tui.wait_screen("the whole ladder", |s| {
        s.contains("TIME_WAIT ◀") && s.contains("LAST_ACK")
    });
    let ladder: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains('─') && (l.contains("seq") || l.contains("timer")))
        .collect();
    let expected = [
        ("SYN_SENT ── SYN seq 0 ", ""),
        ("ESTABLISHED ◀", "SYN+ACK seq 0 ack 1 "),
        ("── ACK seq 1 ack 1 ", "ESTABLISHED"),
        ("── PSH+ACK seq 1 ack 1 len 5 ", ""),
        ("◀", "ACK seq 1 ack 6 "),
        ("FIN_WAIT_1 ── FIN+ACK seq 6 ack 1 ", "CLOSE_WAIT"),
        ("FIN_WAIT_2 ◀", "ACK seq 1 ack 7 "),
        ("TIME_WAIT ◀", "FIN+ACK seq 1 ack 7 "),
        ("── ACK seq 7 ack 2 ", ""),
    ];
    assert_eq!(
        ladder.len(),
        expected.len(),
        "one rung a segment:\n{screen}"
    );
    for (line, (a, b)) in ladder.iter().zip(expected) {
        assert!(
            line.contains(a) && line.contains(b),
            "{a:?} {b:?} in {line:?}\n{screen}"
        );
    }
    assert!(
        ladder[5].contains("CLOSE_WAIT") && ladder[7].contains("LAST_ACK"),
        "{screen}"
    );
    assert!(
        ladder[8].contains("CLOSED"),
        "the server's end closes on the last ACK"
    );
    tui.send("q");
    assert!(tui.wait_exit().success());
    let read = std::process::Command::new("tcpdump")
        .args(["-nn", "-r", &pcap_arg])
        .output()
        .expect("run tcpdump -r (installed by .ci/run)");
    let text = String::from_utf8_lossy(&read.stdout);
    assert_eq!(
        text.lines().count(),
        9,
        "nine segments in the pcap:\n{text}"
    );
    assert_eq!(text.matches("Flags [S]").count(), 1, "{text}");
}

/// The network namespaces a process holds open by descriptor.
fn namespaces_held(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("net:["))
        .collect()
}

/// Whether any process still holds this namespace (by a task or a
/// descriptor).
fn namespace_alive(ns: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.filter_map(|e| e.ok()).any(|p| {
        let held = |sub: &str| {
            std::fs::read_dir(p.path().join(sub)).is_ok_and(|d| {
                d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .any(|l| l.to_string_lossy() == ns)
            })
        };
        held("fd") || held("ns")
    })
}

/// `lab --wire --step` driven by keys: the SYN waits on the link (the
/// pane says so), n lets each segment through in turn and the states
/// follow; then the run is killed outright and its namespaces are gone
/// with it, and the next start works.
#[test]
fn lab_wire_steps_segments_and_leaves_nothing_when_killed() {
    if !common::is_root() {
        eprintln!("skipped: the slow-motion link needs root (network namespaces, TUN devices)");
        return;
    }
    let mut tui = Session::start(&["lab", "--wire", "--step", "-i", "50ms"]);
    tui.wait_screen("the link's pane", |s| {
        s.contains("segments on the lab's link · step mode")
    });
    let pid = tui.child.process_id().expect("child pid");
    let held = namespaces_held(pid);
    assert_eq!(held.len(), 2, "a client and a server namespace: {held:?}");
    tui.send("S");
    tui.wait_screen("the listener", |s| {
        s.contains("server listening on 198.18.0.2:")
    });
    tui.send("c");
    tui.wait_screen("the SYN held on the link", |s| {
        s.contains("SYN_SENT ┄┄ SYN seq 0") && s.contains("(in flight)")
    });
    tui.send("n");
    tui.wait_screen("the SYN+ACK held", |s| {
        s.lines().any(|l| {
            l.contains("◁") && l.contains("SYN+ACK seq 0 ack 1") && l.contains("(in flight)")
        })
    });
    tui.send("n");
    tui.wait_screen("the client ESTABLISHED, its ACK held", |s| {
        s.contains("ESTABLISHED ◀")
            && s.lines()
                .any(|l| l.contains("── ACK seq 1 ack 1") || l.contains("┄┄ ACK seq 1 ack 1"))
    });
    tui.send("n");
    tui.wait_screen("the server ESTABLISHED", |s| {
        s.lines()
            .any(|l| l.contains("ACK seq 1 ack 1") && l.contains("▶") && l.contains("ESTABLISHED"))
    });
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let _ = tui.child.wait();
    for ns in &held {
        let gone = common::wait_for(common::PATIENCE, || (!namespace_alive(ns)).then_some(()));
        assert!(gone.is_some(), "{ns} outlived the killed run");
    }
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("run ip link");
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains("tcpscope0"),
        "no TUN device on the host"
    );
    // The next start makes a link of its own, writes what crosses it to
    // a pcap file, and quits cleanly.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pcap = dir.path().join("link.pcap").to_string_lossy().to_string();
    let mut again = Session::start(&["lab", "--wire", "--delay", "10ms", "--pcap", &pcap]);
    again.wait_screen("a new link", |s| s.contains("segments on the lab's link"));
    again.send("S");
    again.wait_screen("the listener", |s| {
        s.contains("server listening on 198.18.0.2:")
    });
    again.send("c");
    again.wait_screen("the handshake", |s| s.contains("ESTABLISHED ◀"));
    again.send("q");
    again.wait_screen("the question", |s| s.contains("quit?"));
    again.send("y");
    assert!(again.wait_exit().success());
    again.assert_restored();
    let read = std::process::Command::new("tcpdump")
        .args(["-nn", "-r", &pcap])
        .output()
        .expect("run tcpdump -r (installed by .ci/run)");
    let text = String::from_utf8_lossy(&read.stdout);
    assert!(
        text.contains("198.18.0.1") && text.contains("Flags [S]") && text.contains("Flags [S.]"),
        "the link's handshake in the pcap:\n{text}"
    );
}

/// `--record` on the live view writes the same stream `record` does,
/// from the updates the view shows; quitting ends the file cleanly.
#[test]
fn the_live_view_records_the_event_stream() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("live.ndjson");
    let path = file.to_string_lossy().to_string();
    let p = pair();
    let port = p.server_addr.port();
    let mut tui = Session::start(&[&port.to_string(), "-i", "50ms", "--record", &path]);
    let client = p.client_addr.to_string();
    tui.wait_screen("the connection", |s| {
        s.lines()
            .any(|l| l.contains(&client) && l.contains("ESTABLISHED"))
    });
    drop(p.client);
    tui.wait_screen("FIN_WAIT_2", |s| row_shows(s, &client, "FIN_WAIT_2"));
    tui.send("q");
    assert!(tui.wait_exit().success());
    let text = std::fs::read_to_string(&file).expect("the recording");
    let back = tcpscope::stream::read(&text);
    assert_eq!(back.damage, None, "{text}");
    assert_eq!(back.header.and_then(|h| h.port), Some(port));
    let snapshot = match back.records.first() {
        Some(tcpscope::stream::Record::Snapshot(s)) => s.clone(),
        other => panic!("a snapshot first, not {other:?}"),
    };
    let key = format!("{client} -> {}", p.server_addr);
    assert!(
        snapshot.sockets.iter().any(|s| s.key == key),
        "the open connection is in the snapshot: {text}"
    );
    let reached = back.records.iter().any(|r| {
        matches!(r, tcpscope::stream::Record::Conn(c)
            if c.key == key && c.to == Some(tcpscope::socket::TcpState::FinWait2))
    });
    assert!(reached, "its change to FIN_WAIT_2 is recorded: {text}");
}

/// As root without a tracing instance (`--source sockdiag`), the live view
/// runs under Landlock's rules as well (no note says otherwise) and still
/// writes its recording, in the directory it was given.
#[test]
fn the_live_view_under_landlock_still_records() {
    if !common::is_root() {
        eprintln!("skipped: confinement is applied only where there is privilege to drop");
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("confined.ndjson");
    let path = file.to_string_lossy().to_string();
    let p = pair();
    let port = p.server_addr.port().to_string();
    let args = [
        &port, "-i", "50ms", "--source", "sockdiag", "--record", &path,
    ];
    let mut tui = Session::start(&args);
    let client = p.client_addr.to_string();
    let screen = tui.wait_screen("the connection", |s| row_shows(s, &client, "ESTABLISHED"));
    assert!(!screen.contains("not confined"), "{screen}");
    drop(p.client);
    tui.wait_screen("FIN_WAIT_2", |s| row_shows(s, &client, "FIN_WAIT_2"));
    tui.send("q");
    assert!(tui.wait_exit().success());
    let text = std::fs::read_to_string(&file).expect("the recording");
    let back = tcpscope::stream::read(&text);
    assert_eq!(back.damage, None, "{text}");
    assert!(back.records.len() > 1, "{text}");
}

/// `tcpscope replay` in a terminal: a recording made on this kernel plays
/// to its end in the live view, paused by space and stepped by →.
#[test]
fn a_recording_replays_in_the_live_view() {
    let mut tui = Session::replaying_the_fixture();
    tui.send(" ");
    tui.wait_screen("paused", |s| s.contains("· paused"));
    // Step to the end, one event at a time.
    for _ in 0..14 {
        tui.send("\x1b[C");
    }
    // The header moves with the clock; the table once the events are in.
    tui.wait_screen("the end, the client in TIME_WAIT", |s| {
        s.contains("· the end") && row_shows(s, "127.0.0.1:53746", "TIME_WAIT")
    });
    // ← : one event fewer: the listener's end is undone.
    tui.send("\x1b[D");
    tui.wait_screen("a step back", |s| {
        !s.contains("· the end") && s.contains("LISTEN (1)") && s.contains("TIME_WAIT (1)")
    });
    // g: a jump to the start, where only the snapshot is shown.
    tui.send("g0\r");
    tui.wait_screen("the start", |s| s.contains("0.000s of 1.953s · paused"));
    tui.send("q");
    assert!(tui.wait_exit().success());
    tui.assert_restored();
}

/// A real sshd on 127.0.0.1 with throw-away keys, for `--remote`.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl Sshd {
    /// Started, or `None` (with the reason printed) where it cannot be.
    fn start() -> Option<Sshd> {
        let sshd = std::path::Path::new("/usr/sbin/sshd");
        if !common::is_root() || !sshd.exists() {
            eprintln!(
                "skipped: needs root and sshd (Debian's openssh-server, installed by .ci/run)"
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let d = dir.path();
        for key in ["host_key", "client_key"] {
            let made = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .expect("run ssh-keygen");
            assert!(made.success());
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).expect("keys");
        let (reserved, port) = common::reserve_port();
        drop(reserved);
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {0}/host_key\nAuthorizedKeysFile {0}/authorized_keys\nPidFile {0}/sshd.pid\nStrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
            d.display()
        );
        std::fs::write(d.join("sshd_config"), config).expect("sshd config");
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = std::process::Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start sshd");
        let up = common::wait_for(common::PATIENCE, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "sshd listens");
        Some(Sshd { dir, port, child })
    }

    /// tcpscope's arguments to reach it as root with the test's key.
    fn args(&self, command: &str) -> Vec<String> {
        let d = self.dir.path().display();
        vec![
            "--remote".into(),
            "root@127.0.0.1".into(),
            "--remote-command".into(),
            command.into(),
            format!("--ssh-option=-p{}", self.port),
            format!("--ssh-option=-i{d}/client_key"),
            "--ssh-option=-oStrictHostKeyChecking=no".into(),
            "--ssh-option=-oUserKnownHostsFile=/dev/null".into(),
            "--ssh-option=-oLogLevel=ERROR".into(),
        ]
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--remote` through a real sshd: the host's connections shown live,
/// a dropped stream said and reconnected with the view kept, and a
/// missing program on the host named.
#[test]
fn a_remote_host_streams_over_ssh_and_reconnects() {
    let Some(sshd) = Sshd::start() else { return };
    let p = pair();
    let port = p.server_addr.port().to_string();
    let mut args = sshd.args(env!("CARGO_BIN_EXE_tcpscope"));
    args.push(port.clone());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut tui = Session::start(&refs);
    let client = p.client_addr.to_string();
    tui.wait_screen("the host's connection, live", |s| {
        s.contains("live from root@127.0.0.1 over ssh") && row_shows(s, &client, "ESTABLISHED")
    });
    // The viewer runs ssh and reads its stream with no privilege; the
    // recorder on the host keeps only what finding owners needs.
    let viewer = tui.child.process_id().expect("its pid");
    common::wait_confined(viewer, &[0]).unwrap_or_else(|e| panic!("{e}"));
    let recorder = remote_recorder(&port).expect("the recorder on the host");
    let owners = cap::kept(&[cap::DAC_READ_SEARCH, cap::SYS_PTRACE]);
    common::wait_confined(recorder, &owners).unwrap_or_else(|e| panic!("{e}"));
    // The stream on the host dies: said, then started again.
    let _ = std::process::Command::new("pkill")
        .args(["-f", &format!("tcpscope record - {port}")])
        .status();
    tui.wait_screen("the drop said", |s| s.contains("trying again in 1s"));
    tui.wait_screen("reconnected", |s| {
        s.contains("live from root@127.0.0.1") && row_shows(s, &client, "ESTABLISHED")
    });
    tui.send("q");
    assert!(tui.wait_exit().success());
    tui.assert_restored();

    let args = sshd.args("/nonexistent/tcpscope");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut tui = Session::start(&refs);
    tui.wait_screen("the missing program named", |s| {
        s.contains("/nonexistent/tcpscope is not installed on root@127.0.0.1")
    });
    tui.send("q");
    assert!(tui.wait_exit().success());
}

/// The pid of `tcpscope record - PORT`, started on the host by sshd.
fn remote_recorder(port: &str) -> Option<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &format!("tcpscope record - {port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The shell sshd starts may match too: the recorder is the newest.
    text.lines().filter_map(|l| l.trim().parse().ok()).max()
}

/// Words handed to the remote host stay words: a filter with shell syntax
/// in it runs nothing there, and an ordinary filter of two words reaches
/// `record` whole.
#[test]
fn a_remote_filter_is_one_word_on_the_host() {
    let Some(sshd) = Sshd::start() else { return };
    let marker = sshd.dir.path().join("injected");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let local = listener.local_addr().expect("its address").to_string();
    let hostile = format!("proc a;touch${{IFS}}{}", marker.display());
    let mut args = sshd.args(env!("CARGO_BIN_EXE_tcpscope"));
    args.extend(["-f".into(), hostile]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut tui = Session::start(&refs);
    tui.wait_screen("the stream started", |s| {
        s.contains("live from root@127.0.0.1")
    });
    tui.send("q");
    assert!(tui.wait_exit().success());
    assert!(!marker.exists(), "the host ran nothing from the filter");

    let mut args = sshd.args(env!("CARGO_BIN_EXE_tcpscope"));
    args.extend(["-f".into(), "state LISTEN".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut tui = Session::start(&refs);
    tui.wait_screen("the host's listener", |s| {
        s.contains("live from root@127.0.0.1") && row_shows(s, &local, "LISTEN")
    });
    tui.send("q");
    assert!(tui.wait_exit().success());
}

/// A host that ssh would read as an option is refused before ssh runs.
#[test]
fn a_remote_host_is_never_an_ssh_option() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let marker = dir.path().join("proxied");
    let host = format!("--remote=-oProxyCommand=touch {}", marker.display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .arg(&host)
        .output()
        .expect("run tcpscope");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("starts with '-'"), "{err}");
    assert!(err.contains("--ssh-option"), "{err}");
    assert!(!marker.exists(), "nothing ran here");
}

/// A stand-in for tcpscope on the host, written into the sshd's
/// directory: a shell script that prints `body` as its stream.
fn fake_remote(sshd: &Sshd, name: &str, body: &str) -> String {
    let path = sshd.dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write the script");
    let made = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&path)
        .status()
        .expect("chmod");
    assert!(made.success());
    path.display().to_string()
}

const HEADER: &str = r#"{"format":"tcpscope-events","version":1,"host":"h","kernel":"k","start":"2026-12-01T05:02:08Z","source":"sockdiag+trace","filter":""}"#;
const LISTENER: &str = r#"{"ts":"2026-12-01T05:02:09.558884Z","event":"new","key":"127.0.0.9:4242 -> 0.0.0.0:*","from":null,"to":"LISTEN","id":1}"#;

/// A stream from a newer tcpscope is refused with its version named; a
/// line that is not text is skipped and said, and what follows is shown.
#[test]
fn a_remote_stream_is_checked_line_by_line() {
    let Some(sshd) = Sshd::start() else { return };
    let future = HEADER.replace(r#""version":1"#, r#""version":999"#);
    let script = fake_remote(&sshd, "future", &format!("echo '{future}'; sleep 2"));
    let refs: Vec<String> = sshd.args(&script);
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let mut tui = Session::start(&refs);
    tui.wait_screen("the version refused", |s| {
        s.contains("did not start a stream: tcpscope-events version 999")
    });
    tui.send("q");
    assert!(tui.wait_exit().success());

    let body = format!("echo '{HEADER}'; printf '\\377\\376\\n'; echo '{LISTENER}'; sleep 30");
    let script = fake_remote(&sshd, "garbled", &body);
    let refs: Vec<String> = sshd.args(&script);
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let mut tui = Session::start(&refs);
    tui.wait_screen("the bad line said, the next one shown", |s| {
        s.contains("skipped 1 bad line (the last: a line that is not text")
            && row_shows(s, "127.0.0.9:4242", "LISTEN")
    });
    tui.send("q");
    assert!(tui.wait_exit().success());
}

/// Processes on the host whose command line holds `text`.
fn remote_processes(text: &str) -> String {
    let out = std::process::Command::new("pgrep")
        .args(["-a", "-f", text])
        .output()
        .expect("run pgrep");
    String::from_utf8_lossy(&out.stdout).into()
}

/// The ssh client killed three times, then `q`: each `record -` on the
/// host notices its reader gone and exits, even on a quiet port.
#[test]
fn no_remote_recorder_outlives_its_session() {
    let Some(sshd) = Sshd::start() else { return };
    let p = pair();
    let port = p.server_addr.port().to_string();
    let mut args = sshd.args(env!("CARGO_BIN_EXE_tcpscope"));
    args.push(port.clone());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut tui = Session::start(&refs);
    let client = p.client_addr.to_string();
    let recorder = format!("tcpscope record - {port}");
    for _ in 0..3 {
        tui.wait_screen("live", |s| {
            s.contains("live from root@127.0.0.1") && row_shows(s, &client, "ESTABLISHED")
        });
        let _ = std::process::Command::new("pkill")
            .args(["-f", &format!("^ssh .*root@127.0.0.1 .*record - {port}")])
            .status();
        tui.wait_screen("the drop said", |s| s.contains("trying again"));
    }
    tui.send("q");
    assert!(tui.wait_exit().success());
    let left = common::wait_for(PATIENCE * 2, || {
        remote_processes(&recorder).is_empty().then_some(())
    });
    assert!(
        left.is_some(),
        "left on the host:\n{}",
        remote_processes(&recorder)
    );
}

/// An ssh wrapper that says a lot on standard error and leaves a process
/// holding ssh's pipes: the stream still flows, and `q` does not wait.
#[test]
fn quitting_a_remote_view_never_waits_on_ssh() {
    let Some(sshd) = Sshd::start() else { return };
    let bin = sshd.dir.path().join("bin");
    std::fs::create_dir(&bin).expect("a bin directory");
    let wrapper = bin.join("ssh");
    let body = "#!/bin/sh\nhead -c 1000000 /dev/zero | tr '\\0' x >&2\nsetsid sleep 597.3 &\nexec /usr/bin/ssh \"$@\"\n";
    std::fs::write(&wrapper, body).expect("write the wrapper");
    let made = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status();
    assert!(made.is_ok_and(|s| s.success()));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = fake_remote(
        &sshd,
        "steady",
        &format!("echo '{HEADER}'; echo '{LISTENER}'; sleep 30"),
    );
    let args = sshd.args(&script);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut tui = Session::start_env(&refs, &[("PATH", &path)]);
    tui.wait_screen("the stream past the chatter", |s| {
        s.contains("live from root@127.0.0.1") && row_shows(s, "127.0.0.9:4242", "LISTEN")
    });
    tui.send("q");
    let quit = tui.wait_exit();
    let _ = std::process::Command::new("pkill")
        .args(["-f", "sleep 597.3"])
        .status();
    assert!(quit.success());
    tui.assert_restored();
}

/// A hostile stream (an `ssh` on PATH that prints one 300 MB line, then
/// 150,000 new connections, half again the feed's bound): the line skipped and said, the connections
/// kept to the feed's bound and the rest counted, memory bounded (read
/// from /proc), and `q` still quits.
#[test]
fn a_hostile_remote_stream_stays_within_bounds() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ssh = dir.path().join("ssh");
    let many = r#"awk 'BEGIN{for(i=0;i<150000;i++) printf "{\"ts\":\"2026-12-01T05:02:09.56Z\",\"event\":\"new\",\"key\":\"127.0.0.1:%d -> 127.0.0.2:%d\",\"from\":null,\"to\":\"ESTABLISHED\",\"id\":%d}\n", i%60000+1, int(i/60000)+1, i+10}'"#;
    let body = format!(
        "#!/bin/sh\necho '{HEADER}'\nhead -c 300000000 /dev/zero | tr '\\0' a\necho\n{many}\nexec sleep 60\n"
    );
    std::fs::write(&ssh, body).expect("write the fake ssh");
    let made = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&ssh)
        .status();
    assert!(made.is_ok_and(|s| s.success()));
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut tui = Session::start_env(&["--remote", "host"], &[("PATH", &path)]);
    let bound = tcpscope::source::playback::LIVE_CONNECTIONS;
    let patience = PATIENCE * 12;
    tui.wait_screen_within(patience, "the bound reached and said", |s| {
        s.contains(&format!("{bound} sockets"))
            && s.contains("skipped 1 bad line (the last: a line longer than 64 KiB)")
            && s.contains("50000 records not")
    });
    let pid = tui.child.process_id().expect("its pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("its status");
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(peak_kib < 400_000, "peak memory {peak_kib} KiB");
    tui.send("q");
    assert!(tui.wait_exit().success());
}

/// `--metrics` on the live view: the table it shows, for Prometheus.
#[test]
fn the_live_view_serves_metrics() {
    let p = pair();
    let port = p.server_addr.port().to_string();
    let (reserved, web) = common::reserve_port();
    drop(reserved);
    let addr = format!("127.0.0.1:{web}");
    let mut tui = Session::start(&[&port, "-i", "50ms", "--metrics", &addr]);
    tui.wait_screen("the connection", |s| s.contains("ESTABLISHED (2)"));
    let line = format!("tcpscope_port_sockets{{port=\"{port}\",state=\"ESTABLISHED\"}} 2");
    let scraped = common::wait_for(common::PATIENCE, || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", web)).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.contains(&line).then_some(text)
    });
    assert!(scraped.is_some(), "{line} served");
    tui.send("q");
    assert!(tui.wait_exit().success());
}

/// Connections opened and closed on a loopback port as fast as one thread
/// can, until dropped.
struct Burst {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Burst {
    fn start() -> Burst {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("listener address");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let server = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) || conn.is_err() {
                    break;
                }
            }
        });
        let flag = stop.clone();
        let client = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let _ = std::net::TcpStream::connect(addr);
            }
        });
        Burst {
            port: addr.port(),
            stop,
            threads: vec![client, server],
        }
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        // One more connection wakes the accept loop to see the flag.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Data frames are paced by the interval, keys are not: with an interval
/// of an hour no frame comes for the burst's data after the first, so the
/// help can only be on screen because the key drew it.
#[test]
fn a_key_is_answered_at_once_while_a_burst_arrives() {
    let burst = Burst::start();
    let port = burst.port.to_string();
    let mut tui = Session::start(&[&port, "-i", "1h"]);
    tui.wait_screen("the header", |s| s.contains("tcpscope │"));
    for round in 0..3 {
        tui.send("?");
        tui.wait_screen(&format!("the help (round {round})"), |s| {
            s.contains("close this help")
        });
        tui.send("?");
        tui.wait_screen(&format!("the help closed (round {round})"), |s| {
            !s.contains("close this help")
        });
    }
    tui.send("q");
    assert!(tui.wait_exit().success());
    drop(burst);
}

/// With a slow interval and a burst elsewhere on the machine, a state
/// change on the watched port still reaches its row, with no key pressed.
#[test]
fn a_state_change_appears_in_its_row_at_a_slow_interval() {
    let burst = Burst::start();
    let p = pair();
    let port = p.server_addr.port();
    let mut tui = Session::start(&[&port.to_string(), "-i", "1s"]);
    let client = p.client_addr.to_string();
    tui.wait_screen("the test's ESTABLISHED connection", |s| {
        row_shows(s, &client, "ESTABLISHED")
    });
    drop(p.client);
    tui.wait_screen("FIN_WAIT_2 after the client closed", |s| {
        row_shows(s, &client, "FIN_WAIT_2")
    });
    tui.send("q");
    assert!(tui.wait_exit().success());
    drop(burst);
}

/// The kernel-side filter of the live view's tracing instance, once it
/// exists.
fn trace_filter(pid: u32) -> Option<String> {
    let dir = common::instances_of(pid).into_iter().next()?;
    std::fs::read_to_string(dir.join("events/sock/inet_sock_set_state/filter")).ok()
}

/// The lab reads only its server's port, filtered in the kernel like
/// `tcpscope PORT`; a filter of the user's own widens it to every port.
#[test]
fn the_lab_filters_the_tracepoint_to_its_port() {
    if !common::is_root() {
        eprintln!("skipped: the tracepoint needs root");
        return;
    }
    let (reserved, port) = common::reserve_port();
    drop(reserved);
    let mut tui = Session::start(&["lab", "--port", &port.to_string(), "-i", "50ms"]);
    tui.wait_screen("the lab panel", |s| s.contains("server stopped"));
    let pid = tui.child.process_id().expect("child pid");
    let narrow = format!("sport == {port}");
    let filter = common::wait_for(PATIENCE, || {
        trace_filter(pid).filter(|f| f.contains(&narrow))
    });
    assert!(filter.is_some(), "filter: {:?}", trace_filter(pid));
    // The filter prompt starts with the lab's port: erase it, then ask
    // for every listener.
    tui.send("/");
    tui.send(&"\x7f".repeat(8));
    tui.send("state LISTEN\r");
    let wide = common::wait_for(PATIENCE, || {
        trace_filter(pid).filter(|f| !f.contains("sport") && f.contains("protocol == 6"))
    });
    assert!(wide.is_some(), "filter: {:?}", trace_filter(pid));
    tui.send("q");
    assert!(tui.wait_exit().success());
}
