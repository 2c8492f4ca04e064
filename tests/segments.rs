//! `watch --segments` and `--pcap` on real loopback connections: the
//! segments a handshake, a little data and a close put on the wire, each
//! seen once, numbered from each side's ISN, in time order with the state
//! events. Capture needs root (an AF_PACKET socket); elsewhere the tests
//! say why they skip.
#![cfg(target_os = "linux")]

mod common;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn watch(args: &[&str]) -> (std::process::Child, mpsc::Receiver<String>) {
    common::spawn_lines(
        Command::new(env!("CARGO_BIN_EXE_tcpscope"))
            .arg("watch")
            .args(args)
            .stderr(Stdio::piped()),
    )
}

/// Lines until `done` holds (or 10 s pass).
fn until(rx: &mpsc::Receiver<String>, seen: &mut Vec<Value>, done: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !done(seen) {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
            seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
    }
}

/// A connection on `listener`: 5 bytes from the client, the client closes
/// first, then the server. Returns the client's and the server's keys.
fn converse(listener: &TcpListener) -> (String, String) {
    let port = listener.local_addr().expect("addr").port();
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    let me = client.local_addr().expect("addr");
    client.write_all(b"hello").expect("send");
    let mut buf = [0u8; 5];
    server.read_exact(&mut buf).expect("receive");
    drop(client);
    std::thread::sleep(Duration::from_millis(100));
    drop(server);
    (
        format!("{me} -> 127.0.0.1:{port}"),
        format!("127.0.0.1:{port} -> {me}"),
    )
}

// Sockets already there when the watcher starts are its baseline and
// print nothing, so each test opens its listener after the watcher (on a
// port reserved before), and its `new` event says the watcher (and its
// capture, opened before its first reading) is running.

/// Listens on the reserved port once the watcher runs; waits for its event.
fn open_when_watched(
    reserved: socket2::Socket,
    port: u16,
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<Value>,
) -> TcpListener {
    std::thread::sleep(Duration::from_millis(300));
    reserved.listen(16).expect("listen");
    until(rx, seen, listening(port));
    assert!(
        listening(port)(seen),
        "the watcher reports the listener: {seen:?}"
    );
    reserved.into()
}

/// The listener's `new` event.
fn listening(port: u16) -> impl Fn(&[Value]) -> bool {
    let key = format!("127.0.0.1:{port} -> 0.0.0.0:*");
    move |seen: &[Value]| seen.iter().any(|e| e["key"] == key.as_str())
}

fn flags(e: &Value) -> Vec<&str> {
    e["flags"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn a_handshake_data_and_close_segment_by_segment_among_the_states() {
    if !common::is_root() {
        eprintln!("skipped: capturing segments needs root (or CAP_NET_RAW)");
        return;
    }
    let (reserved, port) = common::reserve_port();
    let (mut child, rx) = watch(&["--segments", "--json", &port.to_string()]);
    let mut seen = Vec::new();
    let listener = open_when_watched(reserved, port, &rx, &mut seen);
    let (c, s) = converse(&listener);
    // The last segment: the client's ACK of the server's FIN.
    // ...and the server's LAST_ACK, which a state event reports.
    let done = |seen: &[Value]| {
        let ack = |e: &&Value| e["key"] == c.as_str() && flags(e) == ["ACK"] && e["ack"] == 2;
        let last_ack = |e: &&Value| e["key"] == s.as_str() && e["to"] == "LAST_ACK";
        seen.iter().any(|e| ack(&e)) && seen.iter().any(|e| last_ack(&e))
    };
    until(&rx, &mut seen, done);
    common::terminate(&mut child);
    let ours: Vec<&Value> = seen
        .iter()
        .filter(|e| e["event"] == "segment" && (e["key"] == c.as_str() || e["key"] == s.as_str()))
        .collect();
    let shape: Vec<(bool, Vec<&str>, u64, u64, u64)> = ours
        .iter()
        .map(|e| {
            let n = |f: &str| e[f].as_u64().unwrap_or(u64::MAX);
            (
                e["key"] == c.as_str(),
                flags(e),
                n("seq"),
                n("ack"),
                n("len"),
            )
        })
        .collect();
    let expected: Vec<(bool, Vec<&str>, u64, u64, u64)> = vec![
        (true, vec!["SYN"], 0, 0, 0),
        (false, vec!["SYN", "ACK"], 0, 1, 0),
        (true, vec!["ACK"], 1, 1, 0),
        (true, vec!["PSH", "ACK"], 1, 1, 5),
        (false, vec!["ACK"], 1, 6, 0),
        (true, vec!["FIN", "ACK"], 6, 1, 0),
        (false, vec!["ACK"], 1, 7, 0),
        (false, vec!["FIN", "ACK"], 1, 7, 0),
        (true, vec!["ACK"], 7, 2, 0),
    ];
    assert_eq!(shape, expected, "each segment once, in order: {ours:#?}");
    assert!(ours.iter().all(|e| e["retransmission"] == false));
    // In time order with the states: connect() enters SYN_SENT before the
    // SYN is on the wire; the server's LAST_ACK comes before its FIN.
    let at = |pred: &dyn Fn(&Value) -> bool| seen.iter().position(pred);
    let syn_sent = at(&|e| e["key"] == c.as_str() && e["to"] == "SYN_SENT");
    let syn = at(&|e| e["key"] == c.as_str() && flags(e) == ["SYN"]);
    assert!(syn_sent.is_some() && syn_sent < syn, "{seen:#?}");
    let last_ack_state = at(&|e| e["key"] == s.as_str() && e["to"] == "LAST_ACK");
    let server_fin = at(&|e| e["key"] == s.as_str() && flags(e).contains(&"FIN"));
    assert!(
        last_ack_state.is_some() && last_ack_state < server_fin,
        "{seen:#?}"
    );
}

#[test]
fn the_pcap_file_opens_in_tcpdump() {
    if !common::is_root() {
        eprintln!("skipped: capturing segments needs root (or CAP_NET_RAW)");
        return;
    }
    if Command::new("tcpdump").arg("--version").output().is_err() {
        eprintln!("skipped: no tcpdump here (apt-get install tcpdump)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tcpscope-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("segments.pcap");
    let (reserved, port) = common::reserve_port();
    let path = file.to_string_lossy().to_string();
    let (mut child, rx) = watch(&["--json", "--pcap", &path, &port.to_string()]);
    let mut seen = Vec::new();
    let listener = open_when_watched(reserved, port, &rx, &mut seen);
    let (c, _) = converse(&listener);
    let client_gone = |seen: &[Value]| {
        seen.iter()
            .any(|e| e["key"] == c.as_str() && e["to"] == "TIME_WAIT")
    };
    until(&rx, &mut seen, client_gone);
    std::thread::sleep(Duration::from_millis(300));
    common::terminate(&mut child);
    let out = Command::new("tcpdump")
        .args(["-n", "-r", &path])
        .output()
        .expect("tcpdump runs");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |flags: &str| text.lines().filter(|l| l.contains(flags)).count();
    assert_eq!(count("Flags [S],"), 1, "one SYN, seen once:\n{text}");
    assert_eq!(count("Flags [S.],"), 1, "{text}");
    assert_eq!(count("Flags [F.],"), 2, "a FIN from each end:\n{text}");
    assert!(
        text.lines().all(|l| l.contains(&format!(".{port}"))),
        "{text}"
    );
}

/// `setpriv` to drop to an unprivileged user, or why a test skips.
fn setpriv() -> Option<std::path::PathBuf> {
    if !common::is_root() {
        eprintln!("skipped: needs root to drop to an unprivileged user");
        return None;
    }
    let found = which("setpriv").ok();
    if found.is_none() {
        eprintln!("skipped: no setpriv here (util-linux)");
    }
    found
}

#[test]
fn without_the_privilege_it_says_so_and_watches_on() {
    let Some(setpriv) = setpriv() else { return };
    let (reserved, port) = common::reserve_port();
    let (mut child, rx) = common::spawn_lines(
        Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_tcpscope"))
            .args(["watch", "--segments", "--json", &port.to_string()])
            .stderr(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(300));
    reserved.listen(16).expect("listen");
    let mut seen = Vec::new();
    until(&rx, &mut seen, listening(port));
    common::terminate(&mut child);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if seen.is_empty() && err.contains("Permission denied") {
        eprintln!("skipped: the unprivileged user cannot run the test binary here: {err}");
        return;
    }
    assert!(listening(port)(&seen), "it watches on: {seen:?} {err}");
    assert!(
        err.contains("capturing segments needs root (or CAP_NET_RAW)"),
        "{err}"
    );
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .ok_or(())
}

/// A demo on the slow-motion link as an unprivileged user: one clear
/// line on what is missing and a failing exit code (`lab --wire` takes
/// the same path before it touches the terminal).
#[test]
fn the_wire_lab_without_root_says_it_needs_root() {
    let Some(setpriv) = setpriv() else { return };
    let out = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["demo", "slow-handshake", "--check"])
        .output()
        .expect("run tcpscope demo slow-handshake --check");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Permission denied") && !err.contains("tcpscope") {
        eprintln!("skipped: the unprivileged user cannot run the test binary here: {err}");
        return;
    }
    assert!(!out.status.success());
    assert_eq!(
        err.trim(),
        "tcpscope: the slow-motion link needs root (it creates network namespaces and TUN devices): run tcpscope as root"
    );
}
