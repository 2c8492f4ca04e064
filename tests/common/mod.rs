//! Helpers for tests on real loopback sockets.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tcpscope::socket::{SocketRow, TcpState};
use tcpscope::source::{Netstat2Source, Scope, SocketSource};

/// A listener on an ephemeral loopback port and one accepted connection.
pub struct Pair {
    pub listener: TcpListener,
    pub client: TcpStream,
    pub server: TcpStream,
    /// The client end's address (the server end's remote).
    pub client_addr: SocketAddr,
    /// The listening address (the client end's remote).
    pub server_addr: SocketAddr,
}

pub fn pair() -> Pair {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    let server_addr = listener.local_addr().expect("listener address");
    let client = TcpStream::connect(server_addr).expect("connect on loopback");
    let (server, client_addr) = listener.accept().expect("accept");
    Pair {
        listener,
        client,
        server,
        client_addr,
        server_addr,
    }
}

/// Polls `probe` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The state of the socket with this local and remote address, if any.
pub fn state_in(rows: &[SocketRow], local: SocketAddr, remote: SocketAddr) -> Option<TcpState> {
    rows.iter()
        .find(|r| r.key.local == local && r.key.remote == remote)
        .map(|r| r.state)
}

/// Reads the table through the project's own portable source.
pub fn read_port(port: u16) -> Vec<SocketRow> {
    let mut source = Netstat2Source::once();
    source
        .dump(&Scope::on_port(Some(port)))
        .expect("read the socket table")
        .rows
}

pub const PATIENCE: Duration = Duration::from_secs(5);

/// UI settings for tests that feed the app scripted readings.
pub fn replay_settings(color: bool) -> tcpscope::ui::Settings {
    tcpscope::ui::Settings {
        port: None,
        filter: tcpscope::socket::Filter::default(),
        interval: Duration::from_millis(250),
        theme: tcpscope::ui::theme::Theme {
            color,
            contrast: false,
        },
        lab: tcpscope::lab::LabConfig::default(),
        log_size: 100,
        classroom: false,
        pcap: None,
        record: None,
        metrics: None,
    }
}

/// Ends a child the way a user would (SIGTERM, so it cleans up after
/// itself), along with its own children (a program run under strace), and
/// waits for it; SIGKILL only if it does not go within five seconds.
pub fn terminate(child: &mut std::process::Child) {
    let pid = child.id().to_string();
    let _ = std::process::Command::new("pkill")
        .args(["-TERM", "-P", &pid])
        .status();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    if wait_for(Duration::from_secs(5), || child.try_wait().ok().flatten()).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Starts `cmd` with its output piped; returns the child and its stdout,
/// line by line, read on a thread so a test can wait with a timeout.
pub fn spawn_lines(
    cmd: &mut std::process::Command,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the command");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Whether the tests run as root (tracepoints, packet capture, destroying
/// sockets need it; elsewhere such tests say why they skip).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
    })
}

/// A loopback port bound but not listening: in no table, and no other
/// test's socket can take it while the socket lives. `listen()` on it
/// later opens a listener the test chose the moment of.
pub fn reserve_port() -> (socket2::Socket, u16) {
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    s.bind(&any.into()).expect("bind");
    let port = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("addr")
        .port();
    (s, port)
}

/// Where tracing instances live, if tracefs is mounted.
pub fn instances_root() -> Option<std::path::PathBuf> {
    [
        "/sys/kernel/tracing/instances",
        "/sys/kernel/debug/tracing/instances",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_dir())
}

/// The tracing instances of process `pid`.
pub fn instances_of(pid: u32) -> Vec<std::path::PathBuf> {
    let Some(root) = instances_root() else {
        return Vec::new();
    };
    let prefix = format!("tcpscope-{pid}-");
    std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Each thread of `pid`: its name, effective capabilities (as a bit set)
/// and no_new_privs, read from /proc/PID/task/*/status.
#[allow(dead_code)]
pub fn thread_privileges(pid: u32) -> Vec<(String, u64, bool)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_default()
                .to_string()
        };
        let caps = u64::from_str_radix(&field("CapEff:"), 16).unwrap_or(u64::MAX);
        out.push((field("Name:"), caps, field("NoNewPrivs:") == "1"));
    }
    out
}

/// Capability numbers, as in capabilities(7).
#[allow(dead_code)]
pub mod cap {
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const NET_BIND_SERVICE: u32 = 10;
    pub const NET_ADMIN: u32 = 12;
    pub const NET_RAW: u32 = 13;
    pub const SYS_PTRACE: u32 = 19;
    pub const SYS_ADMIN: u32 = 21;

    pub fn set(caps: &[u32]) -> u64 {
        caps.iter().fold(0, |bits, c| bits | 1 << c)
    }

    /// `caps` as a mode keeps them: alone, or with SYS_ADMIN where the
    /// run mounted tracefs itself (to unmount it at exit).
    pub fn kept(caps: &[u32]) -> [u64; 2] {
        let kept = set(caps);
        [kept, kept | set(&[SYS_ADMIN])]
    }
}

/// Waits until every thread of `pid` holds exactly one of `allowed`
/// capability sets with no_new_privs, and returns what they hold (or
/// what they held last, for the failure message).
#[allow(dead_code)]
pub fn wait_confined(pid: u32, allowed: &[u64]) -> Result<Vec<(String, u64, bool)>, String> {
    let mut last = Vec::new();
    let held = wait_for(PATIENCE, || {
        last = thread_privileges(pid);
        let ok = !last.is_empty()
            && last
                .iter()
                .all(|(_, caps, nnp)| *nnp && allowed.contains(caps));
        ok.then(|| last.clone())
    });
    held.ok_or_else(|| format!("threads of {pid} (name, CapEff, NoNewPrivs): {last:x?}"))
}
