//! `tcpscope watch --json` as a process on real loopback sockets.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tcpscope::socket::TcpState;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpscope")
}

/// Reads NDJSON lines from the child until `done` says stop or time runs out.
fn collect(
    rx: &mpsc::Receiver<String>,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < deadline && !done(&seen) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")),
            );
        }
    }
    seen
}

fn states_of(events: &[serde_json::Value], key: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["key"] == key)
        .filter_map(|e| e["to"].as_str().map(String::from))
        .collect()
}

#[test]
fn ndjson_follows_a_half_close_and_close_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (mut child, rx) = start_watch(&[&port.to_string(), "--json", "-i", "20ms"]);
    std::thread::sleep(Duration::from_millis(300)); // the baseline reading
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    let c = format!("{} -> 127.0.0.1:{port}", client.local_addr().expect("addr"));
    let s = format!("127.0.0.1:{port} -> {}", client.local_addr().expect("addr"));
    std::thread::sleep(Duration::from_millis(200));
    client.shutdown(Shutdown::Write).expect("half-close");
    std::thread::sleep(Duration::from_millis(200));
    server
        .write_all(b"still flowing")
        .expect("the other direction still works");
    // The client reads it: closing with unread data would send RST instead
    // of FIN (and leave no TIME_WAIT).
    let mut buf = [0u8; 13];
    std::io::Read::read_exact(&mut client, &mut buf)
        .expect("the half-closed client still receives");
    assert_eq!(&buf, b"still flowing");
    drop(client);
    std::thread::sleep(Duration::from_millis(100));
    drop(server);
    let events = collect(&rx, |seen| {
        states_of(seen, &c).contains(&"TIME_WAIT".to_string())
    });
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "watch exits 0 on SIGTERM, got {status:?}");

    let client_states = states_of(&events, &c);
    let server_states = states_of(&events, &s);
    // As root the tracepoint adds the short states (SYN_SENT, FIN_WAIT_1,
    // LAST_ACK); the long ones must come in this order either way.
    let long = |states: &[String], keep: &[&str]| -> Vec<String> {
        states
            .iter()
            .filter(|s| keep.contains(&s.as_str()))
            .cloned()
            .collect()
    };
    let client_states = long(&client_states, &["ESTABLISHED", "FIN_WAIT_2", "TIME_WAIT"]);
    let server_states = long(&server_states, &["ESTABLISHED", "CLOSE_WAIT"]);
    assert_eq!(
        &client_states[..3],
        ["ESTABLISHED", "FIN_WAIT_2", "TIME_WAIT"],
        "{events:#?}"
    );
    assert_eq!(
        &server_states[..2],
        ["ESTABLISHED", "CLOSE_WAIT"],
        "{events:#?}"
    );
    for e in &events {
        assert!(
            e["ts"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
            "{e}"
        );
        assert!(
            ["new", "state", "gone"].contains(&e["event"].as_str().unwrap_or("")),
            "{e}"
        );
    }
    let times: Vec<&str> = events
        .iter()
        .filter(|e| e["key"] == c.as_str())
        .filter_map(|e| e["ts"].as_str())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timestamps in order: {times:?}"
    );
}

#[test]
fn a_closed_pipe_ends_watch_quietly() {
    let script = format!("set -o pipefail; '{}' watch -i 20ms | head -1", bin());
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash");
    std::thread::sleep(Duration::from_millis(400));
    // Two events: the first fills `head`, the second meets the closed pipe.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let _c = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    std::thread::sleep(Duration::from_millis(300));
    let _d = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "watch did not end after head closed the pipe"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

/// Starts `watch` with `args`; returns the child and its lines.
fn start_watch(args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    common::spawn_lines(
        Command::new(bin())
            .arg("watch")
            .args(args)
            .stderr(Stdio::piped()),
    )
}

#[test]
fn a_state_filter_judges_each_event_entering_or_leaving_the_state() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (mut child, rx) = start_watch(&[
        &port.to_string(),
        "--json",
        "-i",
        "20ms",
        "-f",
        "state CLOSE_WAIT",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (server, client_addr) = listener.accept().expect("accept");
    let s = format!("127.0.0.1:{port} -> {client_addr}");
    std::thread::sleep(Duration::from_millis(200));
    drop(client); // the server end goes to CLOSE_WAIT
    std::thread::sleep(Duration::from_millis(200));
    drop(server); // and leaves it
    let events = collect(&rx, |seen| {
        seen.iter()
            .any(|e| e["key"] == s.as_str() && e["from"] == "CLOSE_WAIT")
    });
    common::terminate(&mut child);
    assert!(
        events
            .iter()
            .any(|e| e["key"] == s.as_str() && e["to"] == "CLOSE_WAIT"),
        "the change into CLOSE_WAIT: {events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["key"] == s.as_str() && e["from"] == "CLOSE_WAIT"),
        "the change out of it: {events:#?}"
    );
    for e in &events {
        assert!(
            e["from"] == "CLOSE_WAIT" || e["to"] == "CLOSE_WAIT",
            "an unrelated event passed the filter: {e}"
        );
    }
}

#[test]
fn sigquit_ends_watch_cleanly() {
    let (mut child, _rx) = start_watch(&["-i", "50ms"]);
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-QUIT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "watch ignored SIGQUIT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "exit 0 on SIGQUIT, not a core dump: {status:?}"
    );
}

// As root, with the kernel's changes: what watch prints around closes.

/// One parsed line of `watch --json`.
fn parse(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Connects probes to the listener until `watch` prints one: from then on
/// it reports every change (of its first reading it reports nothing).
/// Returns the probes (both ends, accepted), to be kept open until the end.
/// `watch --json PORT` on a fresh loopback listener, seen to be watching.
struct Watching {
    listener: TcpListener,
    addr: std::net::SocketAddr,
    child: std::process::Child,
    rx: mpsc::Receiver<String>,
    _probes: Vec<TcpStream>,
}

impl Watching {
    /// As root only (the tracepoint); elsewhere `None`, said on stderr.
    fn as_root() -> Option<Watching> {
        skip_unless_root().then(Watching::start)
    }

    fn start() -> Watching {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (child, rx) = start_watch(&[&addr.port().to_string(), "--json", "-i", "50ms"]);
        let _probes = wait_until_watching(&rx, &listener);
        Watching {
            listener,
            addr,
            child,
            rx,
            _probes,
        }
    }
}

fn wait_until_watching(rx: &mpsc::Receiver<String>, listener: &TcpListener) -> Vec<TcpStream> {
    let addr = listener.local_addr().expect("addr");
    let deadline = Instant::now() + common::PATIENCE * 2;
    let mut probes = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "watch never printed a probe");
        let probe = TcpStream::connect(addr).expect("connect a probe");
        let key = format!("{} -> {addr}", probe.local_addr().expect("addr"));
        probes.push(probe);
        probes.push(listener.accept().expect("accept a probe").0);
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(line) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            if parse(&line)["key"] == key.as_str() {
                return probes;
            }
        }
    }
}

/// Waits until the kernel's table shows `want` for the socket between
/// these two addresses (`None`: no such socket).
fn until_kernel_shows(local: SocketAddr, remote: SocketAddr, want: Option<TcpState>) {
    let port = local.port();
    let shown = common::wait_for(common::PATIENCE, || {
        let now = common::state_in(&common::read_port(port), local, remote);
        (now == want).then_some(())
    });
    assert!(
        shown.is_some(),
        "the kernel never showed {local} -> {remote} as {want:?}"
    );
}

/// Sends a signal to the child by name (`INT`, `STOP`…).
fn signal(child: &std::process::Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success(), "kill -{name}");
}

/// Lets a stopped child go on when dropped; killed, if the test failed.
struct Thaw<'a>(&'a std::process::Child);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
        if std::thread::panicking() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
}

/// Every line the child prints until it exits.
fn rest(rx: &mpsc::Receiver<String>) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + common::PATIENCE * 2;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => seen.push(parse(&line)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return seen,
        }
    }
    panic!("watch did not exit: {seen:#?}");
}

fn events_of<'a>(events: &'a [serde_json::Value], key: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["key"] == key).collect()
}

fn skip_unless_root() -> bool {
    let root = common::is_root();
    if !root {
        eprintln!("skipped: needs root for the tracepoint (CI runs as root)");
    }
    root
}

#[test]
fn a_close_just_before_sigint_is_printed_before_watch_exits() {
    let Some(w) = Watching::as_root() else {
        return;
    };
    let (listener, addr, rx) = (&w.listener, w.addr, &w.rx);
    let mut child = w.child;
    let client = TcpStream::connect(addr).expect("connect");
    let (mut server, client_addr) = listener.accept().expect("accept");
    // Frozen, watch reads nothing of what follows before the signal.
    signal(&child, "STOP");
    let thaw = Thaw(&child);
    drop(client);
    let mut buf = [0u8; 1];
    let n = std::io::Read::read(&mut server, &mut buf).expect("read");
    assert_eq!(n, 0, "the client's FIN: the server end is in CLOSE_WAIT");
    drop(server);
    until_kernel_shows(client_addr, addr, Some(TcpState::TimeWait));
    until_kernel_shows(addr, client_addr, None);
    signal(&child, "INT");
    drop(thaw);
    let events = rest(rx);
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit 0 on SIGINT: {status:?}");
    let c = format!("{client_addr} -> {addr}");
    let s = format!("{addr} -> {client_addr}");
    let client_states = states_of(&events, &c);
    assert!(
        client_states.ends_with(&["FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"].map(String::from)),
        "{:#?}",
        events_of(&events, &c)
    );
    let server_events = events_of(&events, &s);
    assert!(
        states_of(&events, &s).ends_with(&["CLOSE_WAIT", "LAST_ACK"].map(String::from)),
        "{server_events:#?}"
    );
    let last = server_events.last().expect("server events");
    assert_eq!(
        (last["event"].as_str(), last["from"].as_str()),
        (Some("gone"), Some("LAST_ACK")),
        "{server_events:#?}"
    );
}

#[test]
fn an_orphan_enters_time_wait_when_the_peers_fin_arrives_not_when_it_closed() {
    let Some(w) = Watching::as_root() else {
        return;
    };
    let (listener, addr, rx) = (&w.listener, w.addr, &w.rx);
    let mut child = w.child;
    let client = TcpStream::connect(addr).expect("connect");
    let (server, client_addr) = listener.accept().expect("accept");
    // The server closes first; its end, orphaned once the client acks the
    // FIN, is handed to a timewait socket that the kernel lists in
    // FIN_WAIT_2 until the client's FIN comes.
    drop(server);
    until_kernel_shows(addr, client_addr, Some(TcpState::FinWait2));
    drop(client);
    until_kernel_shows(addr, client_addr, Some(TcpState::TimeWait));
    let (c, s) = (
        format!("{client_addr} -> {addr}"),
        format!("{addr} -> {client_addr}"),
    );
    let events = collect(rx, |seen| {
        states_of(seen, &s).contains(&"TIME_WAIT".to_string())
            && seen
                .iter()
                .any(|e| e["key"] == c.as_str() && e["event"] == "gone")
    });
    common::terminate(&mut child);
    let at = |key: &str, to: &str| -> String {
        let e = events.iter().find(|e| e["key"] == key && e["to"] == to);
        let ts = e.and_then(|e| e["ts"].as_str()).map(String::from);
        ts.unwrap_or_else(|| panic!("no {to} for {key}: {events:#?}"))
    };
    let (fin_wait_2, time_wait) = (at(&s, "FIN_WAIT_2"), at(&s, "TIME_WAIT"));
    let peers_fin = at(&c, "LAST_ACK");
    assert!(
        time_wait >= peers_fin && peers_fin > fin_wait_2,
        "TIME_WAIT {time_wait} began with the client's FIN {peers_fin}, after FIN_WAIT_2 {fin_wait_2}"
    );
}

/// A client socket bound to `port` (any, for 0) with SO_REUSEADDR, so a
/// second one can take the same port while the server holds TIME_WAIT.
fn bound_client(port: u16, to: SocketAddr) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    let local: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    s.bind(&local.into())?;
    s.connect(&to.into())?;
    Ok(s.into())
}

#[test]
fn a_syn_that_takes_over_a_time_wait_tuple_is_a_new_connection() {
    let Some(w) = Watching::as_root() else {
        return;
    };
    let (listener, addr, rx) = (&w.listener, w.addr, &w.rx);
    let mut child = w.child;
    let mut first = bound_client(0, addr).expect("connect");
    let client_addr = first.local_addr().expect("addr");
    let (server, _) = listener.accept().expect("accept");
    // The server closes first, the client after it: the server's end holds
    // TIME_WAIT on the 4-tuple, the client's port is free.
    drop(server);
    let mut buf = [0u8; 1];
    let n = std::io::Read::read(&mut first, &mut buf).expect("read");
    assert_eq!(n, 0, "the server's FIN");
    drop(first);
    let s = format!("{addr} -> {client_addr}");
    let seen = collect(rx, |seen| {
        states_of(seen, &s).contains(&"TIME_WAIT".to_string())
    });
    assert!(
        states_of(&seen, &s).contains(&"TIME_WAIT".to_string()),
        "{seen:#?}"
    );
    until_kernel_shows(addr, client_addr, Some(TcpState::TimeWait));
    // The same port again: the new SYN's later timestamp lets it take the
    // timewait socket's tuple over.
    let second = bound_client(client_addr.port(), addr).expect("a SYN that takes the tuple over");
    let (_server2, _) = listener.accept().expect("accept");
    until_kernel_shows(addr, client_addr, Some(TcpState::Established));
    let rest = collect(rx, |seen| {
        let e = events_of(seen, &s);
        e.iter().any(|e| e["event"] == "new") && e.iter().any(|e| e["to"] == "ESTABLISHED")
    });
    common::terminate(&mut child);
    drop(second);
    let after = events_of(&rest, &s);
    let kinds: Vec<(&str, &str, &str)> = after
        .iter()
        .map(|e| {
            let text = |f: &str| e[f].as_str().unwrap_or("-");
            (text("event"), text("from"), text("to"))
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("gone", "TIME_WAIT", "-"),
            ("new", "-", "SYN_RECV"),
            ("state", "SYN_RECV", "ESTABLISHED")
        ],
        "{after:#?}"
    );
    assert_ne!(after[0]["id"], after[1]["id"], "another connection");
    let why = &after[0]["cause"];
    assert_eq!(
        (&why["kind"], &why["flags"][0]),
        (&"segment".into(), &"SYN".into()),
        "the TIME_WAIT ended on the SYN, not its timer: {why}"
    );
}

/// `-f 'pid N'` with N the process holding both ends: every event of the
/// accepted end too, though the kernel makes SYN_RECV, ESTABLISHED and
/// CLOSE_WAIT there while handling a segment, which names no process.
#[test]
fn an_owner_filter_keeps_every_event_of_the_accepted_end() {
    if !skip_unless_root() {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let pid = std::process::id().to_string();
    let filter = format!("pid {pid}");
    let (mut child, rx) = start_watch(&[&port.to_string(), "--json", "-f", &filter]);
    let _probes = wait_until_watching(&rx, &listener);
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (server, client_addr) = listener.accept().expect("accept");
    let s = format!("127.0.0.1:{port} -> {client_addr}");
    // Held while readings ask for the owner's walk and apply it.
    std::thread::sleep(Duration::from_millis(2500));
    drop(client);
    until_kernel_shows(
        listener.local_addr().expect("addr"),
        client_addr,
        Some(TcpState::CloseWait),
    );
    drop(server);
    let events = collect(&rx, |seen| {
        seen.iter()
            .any(|e| e["key"] == s.as_str() && e["from"] == "LAST_ACK")
    });
    common::terminate(&mut child);
    let states = states_of(&events, &s);
    for want in ["ESTABLISHED", "CLOSE_WAIT", "LAST_ACK"] {
        assert!(
            states.iter().any(|st| st == want),
            "{want} of the accepted end: {states:?}"
        );
    }
}

/// As root, `watch` keeps only what finding owners needs once it is set
/// up (no_new_privs in every thread) and still prints every change,
/// with the owner: the test's own process.
#[test]
fn watch_drops_the_privileges_it_no_longer_needs() {
    if !skip_unless_root() {
        return;
    }
    use common::cap;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let pid = std::process::id();
    let filter = format!("pid {pid}");
    let (mut child, rx) = start_watch(&[&port.to_string(), "--json", "-f", &filter]);
    let _probes = wait_until_watching(&rx, &listener);
    let owners = cap::kept(&[cap::DAC_READ_SEARCH, cap::SYS_PTRACE]);
    let held = common::wait_confined(child.id(), &owners);
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let key = format!("{} -> 127.0.0.1:{port}", client.local_addr().expect("addr"));
    let events = collect(&rx, |seen| {
        seen.iter()
            .any(|e| e["key"] == key.as_str() && e["to"] == "ESTABLISHED")
    });
    common::terminate(&mut child);
    let held = held.unwrap_or_else(|e| panic!("{e}"));
    assert!(held.len() > 1, "several threads: {held:?}");
    assert!(
        events
            .iter()
            .any(|e| e["key"] == key.as_str() && e["to"] == "ESTABLISHED"),
        "the change is still seen, by owner: {events:#?}"
    );
}
