//! Truth under load: thousands of short loopback connections, opened and
//! closed in bursts while `tcpscope watch --json` runs, and every
//! connection's event chain checked. Needs root (the tracepoint: polling
//! alone cannot see the short states, so there would be nothing to merge);
//! elsewhere it says why it skips.
#![cfg(target_os = "linux")]

mod common;

use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BURSTS: usize = 10;
const PER_BURST: usize = 300;

/// Opens and closes `BURSTS × PER_BURST` connections: each client closes
/// first, its server end reads the FIN and closes too, so client ends go
/// through FIN_WAIT to TIME_WAIT and server ends through CLOSE_WAIT and
/// LAST_ACK to gone. Returns the client ends' addresses.
fn churn(listener: &TcpListener) -> Vec<std::net::SocketAddr> {
    let addr = listener.local_addr().expect("addr");
    let mut clients = Vec::new();
    for _ in 0..BURSTS {
        let conns: Vec<TcpStream> = (0..PER_BURST)
            .map(|_| TcpStream::connect(addr).expect("connect"))
            .collect();
        let accepted: Vec<TcpStream> = (0..PER_BURST)
            .map(|_| listener.accept().expect("accept").0)
            .collect();
        clients.extend(conns.iter().map(|c| c.local_addr().expect("local")));
        drop(conns);
        for mut s in accepted {
            let mut buf = [0u8; 16];
            // EOF: the client's FIN arrived; now close our end.
            while s.read(&mut buf).is_ok_and(|n| n > 0) {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    clients
}

/// What `ss` shows for a connection now, for a failure's message.
fn ss_says(key: &str) -> String {
    let Some((src, dst)) = key.split_once(" -> ") else {
        return String::new();
    };
    Command::new("ss")
        .args(["-tanoH", "src", src, "dst", dst])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("(ss did not run: {e})"))
}

/// A listener whose accept queue holds a whole burst (std's holds 128).
fn listener() -> TcpListener {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    s.bind(&addr.into()).expect("bind");
    s.listen(PER_BURST as i32 * 2).expect("listen");
    s.into()
}

/// One connection's events, as the stream reported them.
#[derive(Debug, Default)]
struct Chain {
    events: Vec<Value>,
}

impl Chain {
    fn states(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| e["to"].as_str())
            .collect()
    }
}

/// Splits each key's events into connections (a `gone` ends one) and
/// checks each: starts with `new` in an opening state, every event leaves
/// the state the one before entered, times never go back.
fn chains(events: &[Value]) -> Result<HashMap<String, Vec<Chain>>, String> {
    let mut by_key: HashMap<String, Vec<Chain>> = HashMap::new();
    for e in events {
        let key = e["key"].as_str().ok_or("no key")?.to_string();
        let list = by_key.entry(key.clone()).or_default();
        let open = list
            .last_mut()
            .filter(|c| c.events.last().is_some_and(|last| last["event"] != "gone"));
        match open {
            Some(chain) => {
                let last = chain.events.last().ok_or("empty chain")?;
                if e["event"] == "new" {
                    return Err(format!("{key}: split, a second 'new' while live: {e}"));
                }
                if e["from"] != last["to"] {
                    return Err(format!("{key}: gap, {last} then {e}"));
                }
                if e["ts"].as_str() < last["ts"].as_str() {
                    return Err(format!("{key}: time went back, {last} then {e}"));
                }
                chain.events.push(e.clone());
            }
            None => {
                let opening = ["SYN_SENT", "SYN_RECV"].contains(&e["to"].as_str().unwrap_or(""));
                if e["event"] != "new" || !opening {
                    return Err(format!("{key}: a connection starts with {e}"));
                }
                list.push(Chain {
                    events: vec![e.clone()],
                });
            }
        }
    }
    Ok(by_key)
}

#[test]
fn every_connection_is_one_chain_under_bursts_of_churn() {
    if !common::is_root() {
        eprintln!("skipped: needs root for the tracepoint (CI runs as root)");
        return;
    }
    let listener = listener();
    let port = listener.local_addr().expect("addr").port();
    let (mut child, rx) = common::spawn_lines(
        Command::new(env!("CARGO_BIN_EXE_tcpscope"))
            .args(["watch", &port.to_string(), "--json", "-i", "50ms"])
            .stderr(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(500)); // the first reading
    let clients = churn(&listener);
    let client_keys: Vec<String> = clients
        .iter()
        .map(|c| format!("{c} -> 127.0.0.1:{port}"))
        .collect();
    let server_keys: Vec<String> = clients
        .iter()
        .map(|c| format!("127.0.0.1:{port} -> {c}"))
        .collect();
    // Read until every client end is in TIME_WAIT and every server end gone.
    let mut events: Vec<Value> = Vec::new();
    let mut reached: HashMap<String, bool> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let want = clients.len() * 2;
    while reached.values().filter(|v| **v).count() < want && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        let e: Value = serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}"));
        let key = e["key"].as_str().unwrap_or("").to_string();
        // A client end is done in TIME_WAIT, or gone: the kernel may close
        // an orphan without one (checked against `ss` below).
        let client = client_keys.contains(&key);
        let done = (client && (e["to"] == "TIME_WAIT" || e["event"] == "gone"))
            || (e["event"] == "gone" && e["from"] == "LAST_ACK");
        if done {
            reached.insert(key, true);
        }
        events.push(e);
    }
    common::terminate(&mut child);
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(
        !stderr.contains("lost"),
        "the kernel dropped changes, the check would mean nothing: {stderr}"
    );
    let chains = chains(&events).unwrap_or_else(|e| panic!("{e}"));
    for (ends, want) in [(&client_keys, "TIME_WAIT"), (&server_keys, "LAST_ACK")] {
        for key in ends {
            let list = chains
                .get(key)
                .unwrap_or_else(|| panic!("{key} never seen"));
            assert_eq!(list.len(), 1, "{key}: one connection, not {list:#?}");
            let states = list[0].states();
            if states.contains(&want) {
                continue;
            }
            // Ended early: true only if the kernel has no such socket.
            let kernel = ss_says(key);
            assert!(
                want == "TIME_WAIT" && kernel.trim().is_empty(),
                "{key} never reached {want}: {:#?}\nss shows: {kernel}",
                list[0].events,
            );
            eprintln!("{key}: the kernel closed it without a TIME_WAIT");
        }
    }
    let client = chains[&client_keys[0]][0].states();
    assert!(
        client.starts_with(&["SYN_SENT", "ESTABLISHED", "FIN_WAIT_1"]),
        "{client:?}"
    );
}
