//! The cause `tcpscope watch --json` gives each transition, for sockets
//! held by other processes: a Python server and a Python client that the
//! test drives line by line, and a third process (`ss -K`). Each cause's
//! kind, call and pid are what the test made happen. Root only (the
//! tracepoints); elsewhere each test says why it skips.

mod common;

use serde_json::Value;
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A peer the test drives: `server PORT` listens and accepts on a thread,
/// `client PORT` connects on `connect`. Commands name a connection by the
/// client's port; each prints `done` once made. `os._exit` at the end of
/// input: the process ends holding whatever it still has open.
const PEER: &str = r#"
import os, socket, struct, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
conns, lock = {}, threading.Lock()
def out(*words):
    with lock:
        print(*words, flush=True)
if mode == 'server':
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(1024)
    def accept():
        while True:
            c, peer = listener.accept()
            conns[peer[1]] = c
            out('accepted', peer[1])
    threading.Thread(target=accept, daemon=True).start()
    out('listening')
if mode == 'load':
    for _ in range(int(sys.argv[3])):
        c = socket.create_connection(('127.0.0.1', port))
        c.sendall(b'x')
        c.close()
    out('done', 'load')
for line in sys.stdin:
    w = line.split()
    if w[0] == 'connect':
        c = socket.create_connection(('127.0.0.1', port))
        conns[c.getsockname()[1]] = c
        out('connected', c.getsockname()[1])
        continue
    c = conns[int(w[1])]
    if w[0] == 'close':
        c.close()
    elif w[0] == 'shutdown':
        c.shutdown(socket.SHUT_WR)
    elif w[0] == 'linger0':
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        c.close()
    elif w[0] == 'send':
        c.sendall(b'x' * int(w[2]))
    elif w[0] == 'recv':
        want, got = int(w[2]), 0
        while got < want:
            data = c.recv(want - got)
            if not data:
                break
            got += len(data)
    elif w[0] == 'drain':
        while c.recv(65536):
            pass
        c.close()
    out('done', w[0])
os._exit(0)
"#;

/// The server used under load: reads each connection to its end, closes.
const DRAINING_SERVER: &str = r#"
import socket, sys, threading
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(('127.0.0.1', int(sys.argv[1])))
listener.listen(4096)
print('listening', flush=True)
def drain(c):
    while c.recv(65536):
        pass
    c.close()
while True:
    c, _ = listener.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
"#;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpscope")
}

fn skip_unless_root() -> bool {
    let root = common::is_root();
    if !root {
        eprintln!("skipped: needs root for the tracepoints (CI runs as root)");
    }
    root
}

/// A child process whose lines are read on a thread; lines not yet asked
/// for are kept.
struct Lines {
    child: Child,
    rx: mpsc::Receiver<String>,
    kept: Vec<String>,
}

impl Lines {
    fn spawn(cmd: &mut Command) -> Lines {
        let (child, rx) = common::spawn_lines(cmd.stdin(Stdio::piped()));
        Lines {
            child,
            rx,
            kept: Vec::new(),
        }
    }

    /// The first line starting with `prefix`, waiting for it.
    fn wait(&mut self, prefix: &str) -> String {
        if let Some(i) = self.kept.iter().position(|l| l.starts_with(prefix)) {
            return self.kept.remove(i);
        }
        let deadline = Instant::now() + common::PATIENCE * 2;
        while let Ok(line) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.starts_with(prefix) {
                return line;
            }
            self.kept.push(line);
        }
        panic!("no line '{prefix}…' came; had {:?}", self.kept);
    }

    fn stdin(&mut self) -> &mut ChildStdin {
        self.child.stdin.as_mut().expect("stdin")
    }

    fn pid(&self) -> u64 {
        u64::from(self.child.id())
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python peer (server or client) on `port`.
struct Peer(Lines);

impl Peer {
    fn start(mode: &str, port: u16) -> Peer {
        let port = port.to_string();
        let mut peer = Peer(Lines::spawn(
            Command::new("python3").args(["-c", PEER, mode, &port]),
        ));
        if mode == "server" {
            peer.0.wait("listening");
        }
        peer
    }

    /// Sends one command and waits until it is made.
    fn order(&mut self, command: &str) {
        writeln!(self.0.stdin(), "{command}").expect("command the peer");
        let verb = command.split(' ').next().unwrap_or(command);
        self.0.wait(&format!("done {verb}"));
    }

    /// Connects; the client's port.
    fn connect(&mut self) -> u16 {
        writeln!(self.0.stdin(), "connect").expect("command the peer");
        let line = self.0.wait("connected ");
        line["connected ".len()..].parse().expect("a port")
    }

    /// Ends its input: the process exits holding what it has open.
    fn exit(&mut self) {
        drop(self.0.child.stdin.take());
        let _ = self.0.child.wait();
    }

    fn pid(&self) -> u64 {
        self.0.pid()
    }
}

/// `tcpscope watch PORT --json` (and `extra`), seen to be watching, with
/// every event it printed so far.
struct Watch {
    lines: Lines,
    events: Vec<Value>,
    port: u16,
    _probes: Vec<TcpStream>,
}

impl Watch {
    fn start(port: u16, extra: &[&str]) -> Watch {
        let p = port.to_string();
        let mut args = vec!["watch", p.as_str(), "--json", "-i", "50ms"];
        args.extend_from_slice(extra);
        let lines = Lines::spawn(Command::new(bin()).args(&args));
        let mut w = Watch {
            lines,
            events: Vec::new(),
            port,
            _probes: Vec::new(),
        };
        w.until_watching(extra.contains(&"--summary"));
        w
    }

    /// Connects probes until one is printed (a summary only at its end).
    fn until_watching(&mut self, summary: bool) {
        let deadline = Instant::now() + common::PATIENCE * 2;
        loop {
            assert!(Instant::now() < deadline, "watch never printed a probe");
            let probe = TcpStream::connect(("127.0.0.1", self.port)).expect("a probe");
            let key = format!(
                "{} -> 127.0.0.1:{}",
                probe.local_addr().expect("addr"),
                self.port
            );
            if summary {
                // Reset at once, so that it ends and has a summary.
                let _ = socket2::SockRef::from(&probe).set_linger(Some(Duration::ZERO));
                drop(probe);
            } else {
                self._probes.push(probe);
            }
            let until = Instant::now() + Duration::from_millis(500);
            while let Ok(line) = self
                .lines
                .rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                if json(&line)["key"] == key.as_str() {
                    self.events.clear();
                    return;
                }
            }
        }
    }

    fn client_key(&self, client: u16) -> String {
        format!("127.0.0.1:{client} -> 127.0.0.1:{}", self.port)
    }

    fn server_key(&self, client: u16) -> String {
        format!("127.0.0.1:{} -> 127.0.0.1:{client}", self.port)
    }

    /// The event that took `key` into `to` (`None`: its end), waiting up
    /// to `patience` for it.
    fn entered(&mut self, key: &str, to: Option<&str>, patience: Duration) -> Value {
        let matches = |e: &Value| {
            e["key"] == key
                && match to {
                    Some(state) => e["to"] == state,
                    None => e["event"] == "gone",
                }
        };
        let deadline = Instant::now() + patience;
        loop {
            if let Some(e) = self.events.iter().find(|e| matches(e)) {
                return e.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.rx.recv_timeout(left) {
                Ok(line) => self.events.push(json(&line)),
                Err(_) => panic!("{key} never entered {to:?}: {:#?}", self.events),
            }
        }
    }

    /// The cause of `key` entering `to`, which must be what `want` says.
    fn cause(&mut self, key: &str, to: Option<&str>, want: Want) {
        let e = self.entered(key, to, common::PATIENCE * 2);
        want.check(&e, key, to);
    }
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// A cause as a test expects it.
enum Want {
    Call(&'static str, u64),
    Segment(&'static [&'static str]),
    Timer(&'static str),
}

impl Want {
    fn check(&self, e: &Value, key: &str, to: Option<&str>) {
        let c = &e["cause"];
        let ok = match self {
            Want::Call(call, pid) => c["kind"] == "call" && c["call"] == *call && c["pid"] == *pid,
            Want::Segment(flags) => {
                let got: Vec<&str> = c["flags"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                c["kind"] == "segment" && flags.iter().all(|f| got.contains(f))
            }
            Want::Timer(timer) => c["kind"] == "timer" && c["timer"] == *timer,
        };
        assert!(ok, "{key} into {to:?}: expected {}, got {e}", self.words());
    }

    fn words(&self) -> String {
        match self {
            Want::Call(call, pid) => format!("call {call} by {pid}"),
            Want::Segment(flags) => format!("segment {}", flags.join("+")),
            Want::Timer(timer) => format!("timer {timer}"),
        }
    }
}

/// A free loopback port for a peer server, below the kernel's ephemeral
/// range: watching a port matches either end, and another test's client
/// must not happen to take it as its own.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Tests run in parallel: each takes the next port, never the same.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 1000) as u16 * 12;
    for _ in 0..1000 {
        let port = 20_000 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range");
}

/// A server and a client process, one connection between them, watched.
struct Pair {
    server: Peer,
    client: Peer,
    watch: Watch,
    port: u16,
}

impl Pair {
    fn start(extra: &[&str]) -> (Pair, u16) {
        let port = free_port();
        let server = Peer::start("server", port);
        let watch = Watch::start(port, extra);
        let mut client = Peer::start("client", port);
        let p = client.connect();
        let mut server = server;
        server.0.wait(&format!("accepted {p}"));
        let pair = Pair {
            server,
            client,
            watch,
            port,
        };
        (pair, p)
    }
}

#[test]
fn each_ends_calls_and_the_segments_they_send_are_told_apart_until_time_waits_end() {
    if !skip_unless_root() {
        return;
    }
    let (mut t, p) = Pair::start(&[]);
    let (client, server) = (t.watch.client_key(p), t.watch.server_key(p));
    let (cpid, spid) = (t.client.pid(), t.server.pid());
    let w = &mut t.watch;
    w.cause(&client, Some("SYN_SENT"), Want::Call("connect", cpid));
    w.cause(&client, Some("ESTABLISHED"), Want::Segment(&["SYN", "ACK"]));
    w.cause(&server, Some("SYN_RECV"), Want::Segment(&["SYN"]));
    w.cause(&server, Some("ESTABLISHED"), Want::Segment(&["ACK"]));
    t.client.order(&format!("close {p}"));
    let w = &mut t.watch;
    w.cause(&client, Some("FIN_WAIT_1"), Want::Call("close", cpid));
    w.cause(&server, Some("CLOSE_WAIT"), Want::Segment(&["FIN"]));
    w.cause(&client, Some("FIN_WAIT_2"), Want::Segment(&["ACK"]));
    t.server.order(&format!("close {p}"));
    let w = &mut t.watch;
    w.cause(&server, Some("LAST_ACK"), Want::Call("close", spid));
    w.cause(&client, Some("TIME_WAIT"), Want::Segment(&["FIN"]));
    w.cause(&server, None, Want::Segment(&["ACK"]));
    // TIME_WAIT lasts 60 s on Linux.
    let e = w.entered(&client, None, Duration::from_secs(75));
    Want::Timer("time_wait").check(&e, &client, None);
    let _ = t.port;
}

#[test]
fn a_shutdown_by_the_server_and_the_clients_exit_are_theirs() {
    if !skip_unless_root() {
        return;
    }
    let (mut t, p) = Pair::start(&[]);
    let (client, server) = (t.watch.client_key(p), t.watch.server_key(p));
    let (cpid, spid) = (t.client.pid(), t.server.pid());
    t.server.order(&format!("shutdown {p}"));
    let w = &mut t.watch;
    w.cause(&server, Some("FIN_WAIT_1"), Want::Call("shutdown", spid));
    w.cause(&client, Some("CLOSE_WAIT"), Want::Segment(&["FIN"]));
    w.cause(&server, Some("FIN_WAIT_2"), Want::Segment(&["ACK"]));
    t.client.exit();
    let w = &mut t.watch;
    w.cause(&client, Some("LAST_ACK"), Want::Call("exit", cpid));
    w.cause(&server, Some("TIME_WAIT"), Want::Segment(&["FIN"]));
    w.cause(&client, None, Want::Segment(&["ACK"]));
}

#[test]
fn so_linger_0_resets_and_the_peer_ends_on_the_rst() {
    if !skip_unless_root() {
        return;
    }
    let (mut t, p) = Pair::start(&[]);
    let (client, server) = (t.watch.client_key(p), t.watch.server_key(p));
    let cpid = t.client.pid();
    t.client.order(&format!("linger0 {p}"));
    let w = &mut t.watch;
    w.cause(&client, None, Want::Call("close_linger0", cpid));
    w.cause(&server, None, Want::Segment(&["RST"]));
}

#[test]
fn closing_with_unread_data_resets() {
    if !skip_unless_root() {
        return;
    }
    let (mut t, p) = Pair::start(&[]);
    let (client, server) = (t.watch.client_key(p), t.watch.server_key(p));
    let spid = t.server.pid();
    // On loopback the bytes are in the client's queue when send returns.
    t.client.order(&format!("send {p} 100"));
    t.server.order(&format!("close {p}"));
    let w = &mut t.watch;
    w.cause(&server, None, Want::Call("close_unread", spid));
    w.cause(&client, None, Want::Segment(&["RST"]));
}

#[test]
fn a_destroy_by_a_third_process_names_it() {
    if !skip_unless_root() {
        return;
    }
    let (mut t, p) = Pair::start(&[]);
    let (client, server) = (t.watch.client_key(p), t.watch.server_key(p));
    let mut ss = Command::new("ss")
        .args(["-K", "src", &format!("127.0.0.1:{p}")])
        .args(["dst", &format!("127.0.0.1:{}", t.port)])
        .stdout(Stdio::null())
        // Its own complaints (RTNETLINK answers) are not the test's output.
        .stderr(Stdio::null())
        .spawn()
        .expect("ss (iproute2)");
    let ss_pid = u64::from(ss.id());
    assert!(ss.wait().expect("ss").success(), "ss -K");
    let w = &mut t.watch;
    w.cause(&client, None, Want::Call("destroy", ss_pid));
    let e = w.entered(&client, None, Duration::ZERO);
    assert_eq!(e["cause"]["process"], "ss", "{e}");
    w.cause(&server, None, Want::Segment(&["RST"]));
}

#[test]
fn watch_summary_prints_each_ended_connections_life_with_its_data_bytes() {
    if !skip_unless_root() {
        return;
    }
    let (mut t, p) = Pair::start(&["--summary"]);
    let (client, server) = (t.watch.client_key(p), t.watch.server_key(p));
    t.client.order(&format!("send {p} 1000"));
    t.server.order(&format!("recv {p} 1000"));
    t.server.order(&format!("send {p} 300"));
    t.client.order(&format!("recv {p} 300"));
    t.client.order(&format!("close {p}"));
    // Totals are read when a connection starts to close; an end that
    // closes in the same instant may go before the look-up finds it.
    std::thread::sleep(Duration::from_millis(500));
    t.server.order(&format!("drain {p}"));
    let e = t.watch.entered(&server, None, common::PATIENCE * 2);
    let s = &e["summary"];
    assert_eq!(
        (&s["bytes_sent"], &s["bytes_received"]),
        (&300.into(), &1000.into()),
        "{e}"
    );
    assert_eq!(s["retransmissions"], 0, "{e}");
    let states: Vec<&str> = s["states"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["state"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        states,
        ["SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK"],
        "{e}"
    );
    assert_eq!(s["whole"], true, "{e}");
    assert!(
        t.watch.events.iter().all(|e| e["event"] == "gone"),
        "--summary prints ends only: {:#?}",
        t.watch.events
    );
    // The client's end is in TIME_WAIT for a minute: no summary yet.
    assert!(t.watch.events.iter().all(|e| e["key"] != client.as_str()));
}

/// Connections opened and closed from a separate process as fast as it
/// can: every transition tcpscope reports has a cause, and a call names
/// the process that holds that end, never its peer.
#[test]
fn under_load_every_transition_has_a_cause_and_calls_name_their_own_end() {
    if !skip_unless_root() {
        return;
    }
    const CONNECTIONS: usize = 2000;
    let port = free_port();
    let mut server =
        Lines::spawn(Command::new("python3").args(["-c", DRAINING_SERVER, &port.to_string()]));
    server.wait("listening");
    let mut w = Watch::start(port, &[]);
    let n = CONNECTIONS.to_string();
    let mut load =
        Lines::spawn(Command::new("python3").args(["-c", PEER, "load", &port.to_string(), &n]));
    load.wait("done load");
    let (spid, cpid) = (server.pid(), load.pid());
    // The server closes each end once it has read it to its end, which
    // on a loaded machine takes a while after the client is done: first
    // the kernel must have ended them all, then tcpscope must say so.
    let closing = |w: &mut Watch| {
        // Meanwhile the events are read, so watch never waits on a pipe.
        while let Ok(line) = w.lines.rx.try_recv() {
            w.events.push(json(&line));
        }
        let out = Command::new("ss")
            .args(["-tanH", "state", "close-wait", "state", "last-ack"])
            .arg(format!("sport = :{port}"))
            .output()
            .expect("ss (iproute2)");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let settled = common::wait_for(Duration::from_secs(120), || {
        (closing(&mut w) == 0).then_some(())
    });
    assert!(settled.is_some(), "the server never closed its ends");
    // Each server end ends when the client's final ACK arrives.
    let deadline = Instant::now() + common::PATIENCE * 2;
    let gone = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["event"] == "gone" && e["from"] == "LAST_ACK")
            .count()
    };
    while gone(&w.events) < CONNECTIONS && Instant::now() < deadline {
        if let Ok(line) = w.lines.rx.recv_timeout(Duration::from_millis(200)) {
            w.events.push(json(&line));
        }
    }
    let server_side = format!("127.0.0.1:{port} -> ");
    let mut unknown = Vec::new();
    for e in &w.events {
        let c = &e["cause"];
        if c["kind"] == "unknown" || c.is_null() {
            unknown.push(e.clone());
        }
        if c["kind"] == "call" {
            let key = e["key"].as_str().unwrap_or_default();
            let holder = if key.starts_with(&server_side) {
                spid
            } else {
                cpid
            };
            assert_eq!(c["pid"], holder, "a call names its own end's process: {e}");
        }
    }
    assert!(
        unknown.is_empty(),
        "{} without a cause: {:#?}",
        unknown.len(),
        &unknown[..unknown.len().min(5)]
    );
    let mut last: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for e in &w.events {
        let key = e["key"].as_str().unwrap_or_default();
        if key.starts_with(&server_side) {
            last.insert(key, format!("{} {}", e["event"], e["to"]));
        }
    }
    let mut where_they_are: std::collections::BTreeMap<&String, usize> = Default::default();
    for v in last.values() {
        *where_they_are.entry(v).or_default() += 1;
    }
    assert_eq!(
        gone(&w.events),
        CONNECTIONS,
        "every server end was reported ending; the server ends' last events: {where_they_are:?}"
    );
}
