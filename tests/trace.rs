//! The tracepoint source on this kernel. Needs root (CI runs as root);
//! elsewhere each test says why it skips.
#![cfg(target_os = "linux")]

mod common;

use common::{PATIENCE, pair};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tcpscope::socket::{Entry, Family, SocketKey, TcpState};
use tcpscope::source::trace::{TraceReader, TraceSession, filter};
use tcpscope::source::{Change, ChangeSource, Scope};

fn reader(scope: &Scope) -> Option<TraceReader> {
    let session = match TraceSession::open(&filter(scope), None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipped: {e}");
            return None;
        }
    };
    Some(TraceReader::new(session).expect("the instance's ring buffers"))
}

fn steps(changes: &[Change], local: SocketAddr, remote: SocketAddr) -> Vec<(TcpState, TcpState)> {
    changes
        .iter()
        .filter(|c| c.key.local == local && c.key.remote == remote)
        .map(|c| (c.from, c.to))
        .collect()
}

/// Drains until `done` holds for everything read so far.
fn read_until(r: &mut TraceReader, done: impl Fn(&[Change]) -> bool) -> Vec<Change> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while !done(&seen) {
        assert!(Instant::now() < deadline, "never complete: {seen:#?}");
        r.wait(Duration::from_millis(50));
        r.drain(&mut seen).expect("drain");
    }
    seen
}

#[test]
fn the_handshake_and_close_are_reported_step_by_step_for_both_families() {
    for host in ["127.0.0.1:0", "[::1]:0"] {
        let listener = TcpListener::bind(host).expect("bind");
        let server = listener.local_addr().expect("addr");
        let scope = Scope::on_port(Some(server.port()));
        let Some(mut r) = reader(&scope) else { return };
        let client = TcpStream::connect(server).expect("connect");
        let (accepted, client_addr) = listener.accept().expect("accept");
        drop(client);
        std::thread::sleep(Duration::from_millis(20));
        drop(accepted);
        let seen = read_until(&mut r, |seen| {
            steps(seen, server, client_addr).contains(&(TcpState::LastAck, TcpState::Closed))
        });
        let c = steps(&seen, client_addr, server);
        let s = steps(&seen, server, client_addr);
        use TcpState::*;
        assert_eq!(
            c,
            [
                (SynSent, Established),
                (Established, FinWait1),
                (FinWait1, FinWait2),
                (FinWait2, Closed)
            ],
            "{host}"
        );
        assert_eq!(
            s,
            [
                (Listen, SynRecv),
                (SynRecv, Established),
                (Established, CloseWait),
                (CloseWait, LastAck),
                (LastAck, Closed)
            ],
            "{host}"
        );
        // connect() reports its SYN before the port is chosen, from the
        // same socket address as the client's later changes.
        let syn = seen
            .iter()
            .find(|c| c.key.local.port() == 0 && c.key.remote == server && c.to == SynSent)
            .expect("the portless SYN");
        let client_sk = seen
            .iter()
            .find(|c| c.key.local == client_addr)
            .and_then(|c| c.sk);
        assert_eq!(syn.sk, client_sk);
        assert!(seen.windows(2).all(|w| w[0].at <= w[1].at), "in time order");
        assert_eq!(
            c.len() + s.len() + 1,
            seen.len(),
            "the port filter held: {seen:#?}"
        );
        assert!(
            r.degradations()
                .iter()
                .all(|d| d.limit != tcpscope::source::Limit::LostTransitions)
        );
    }
}

#[test]
fn the_instance_is_removed_on_drop_and_stale_ones_at_the_next_open() {
    let Some(r) = reader(&Scope::default()) else {
        return;
    };
    let root = std::path::Path::new("/sys/kernel/tracing/instances");
    let root = if root.is_dir() {
        root.to_path_buf()
    } else {
        std::path::PathBuf::from("/sys/kernel/debug/tracing/instances")
    };
    // Left by a killed run: a PID that does not exist, and one reused by
    // another process (this one, but with another start time).
    let dead = root.join("tcpscope-4194303-1-0");
    let reused = root.join(format!("tcpscope-{}-1-0", std::process::id()));
    for d in [&dead, &reused] {
        std::fs::create_dir(d).expect("a leftover instance");
    }
    drop(r);
    let r = reader(&Scope::default()).expect("opens again");
    assert!(!dead.exists(), "the dead run's instance was removed");
    assert!(!reused.exists(), "the reused PID's instance was removed");
    drop(r);
    let ours: Vec<_> = std::fs::read_dir(&root)
        .expect("instances")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&format!("tcpscope-{}-", std::process::id())))
        })
        .map(|e| e.path())
        .collect();
    // Other tests of this process may hold instances right now; none of
    // the two above may be among them.
    assert!(!ours.contains(&reused), "{ours:?}");
}

#[test]
fn the_pipeline_shows_an_active_close_into_time_wait_at_the_kernels_times_without_a_table_reading()
{
    use tcpscope::pipeline::runner::{Feed, Runner};
    let p = pair();
    let scope = Scope::on_port(Some(p.server_addr.port()));
    let Some(r) = reader(&scope) else { return };
    let table = tcpscope::source::sockdiag::SockDiagSource::new(tcpscope::source::Cadence::Once)
        .expect("sock_diag");
    let sources = tcpscope::source::Sources {
        table: Box::new(table),
        changes: Some(Box::new(r)),
        notes: Vec::new(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    // The whole table is read once, at the start: all that follows comes
    // from the kernel's changes and exact readings of single sockets.
    let never = Duration::from_secs(3600);
    let runner = Runner::spawn_reconciling(sources, scope, Duration::from_millis(50), never, tx)
        .expect("runner");
    std::thread::sleep(Duration::from_millis(120));
    drop(p.client);
    std::thread::sleep(Duration::from_millis(30));
    drop(p.server);
    let key = SocketKey::new(Family::Inet, p.client_addr, p.server_addr);
    let deadline = Instant::now() + PATIENCE;
    let conn = loop {
        assert!(Instant::now() < deadline, "never reached TIME_WAIT");
        let Ok(Feed::Update(u)) = rx.try_recv() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let found = u
            .delta
            .changed
            .iter()
            .find(|c| c.row.key == key && c.state() == TcpState::TimeWait);
        if let Some(c) = found {
            assert_eq!(u.dumps, 1, "no second reading of the whole table");
            break c.clone();
        }
    };
    drop(runner);
    let states: Vec<TcpState> = conn.timeline.iter().map(|ph| ph.state).collect();
    assert_eq!(
        states,
        [
            TcpState::Established,
            TcpState::FinWait1,
            TcpState::FinWait2,
            TcpState::TimeWait
        ],
    );
    let entries: Vec<_> = conn.timeline.iter().map(|p| (p.state, p.entry)).collect();
    assert!(
        conn.timeline[1..].iter().all(|p| p.entry == Entry::Exact),
        "{entries:?}"
    );
    assert!(
        conn.timeline
            .windows(2)
            .all(|w| w[0].entered <= w[1].entered)
    );
    let timer = conn.row.timer.as_ref().expect("the TIME_WAIT countdown");
    assert_eq!(timer.kind.name(), "timewait");
    assert!(
        timer.remaining_ms > 0 && timer.remaining_ms <= 60_000,
        "counting down from 60 s: {timer:?}"
    );
}

#[test]
fn a_killed_run_leaves_an_instance_that_the_next_run_of_any_mode_removes() {
    if reader(&Scope::default()).is_none() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_tcpscope");
    let mut watch = std::process::Command::new(bin)
        .args(["watch", "-i", "50ms"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("watch");
    let pid = watch.id();
    let deadline = Instant::now() + PATIENCE;
    while common::instances_of(pid).is_empty() {
        assert!(Instant::now() < deadline, "watch made no instance");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = watch.kill(); // SIGKILL: no cleanup runs
    let _ = watch.wait();
    let left = common::instances_of(pid);
    assert_eq!(left.len(), 1, "SIGKILL leaves it behind");
    let out = std::process::Command::new(bin)
        .args(["--once", "1"])
        .output()
        .expect("--once");
    assert!(out.status.success());
    assert!(
        !left[0].exists(),
        "--once removed the killed run's instance"
    );
}

#[test]
fn an_instance_of_a_zombie_is_stale() {
    let Some(r) = reader(&Scope::default()) else {
        return;
    };
    drop(r);
    let Some(root) = common::instances_root() else {
        return;
    };
    // A child that exited and was never waited for: a zombie.
    let mut child = std::process::Command::new("true").spawn().expect("true");
    let pid = child.id();
    let stat = format!("/proc/{pid}/stat");
    let deadline = Instant::now() + PATIENCE;
    let start = loop {
        let text = std::fs::read_to_string(&stat).expect("stat");
        let after = &text[text.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields[0] == "Z" {
            break fields[19].to_string();
        }
        assert!(Instant::now() < deadline, "never a zombie");
        std::thread::sleep(Duration::from_millis(10));
    };
    let dir = root.join(format!("tcpscope-{pid}-{start}-0"));
    std::fs::create_dir(&dir).expect("an instance named after the zombie");
    let r = reader(&Scope::default()).expect("opens");
    assert!(!dir.exists(), "the zombie's instance was removed");
    drop(r);
    let _ = child.wait();
}

/// Runs `script` (after unmounting tracefs) in a mount namespace of its
/// own, so nothing else on the machine is disturbed; the lines it printed
/// and its stderr. `None`, said, where tracing or `unshare` is missing.
fn without_tracefs(script: &str) -> Option<(Vec<String>, String)> {
    reader(&Scope::default())?;
    if std::process::Command::new("unshare")
        .arg("--help")
        .output()
        .is_err()
    {
        eprintln!("skipped: unshare (util-linux) is missing");
        return None;
    }
    let script = format!(
        "umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; \
         {script}"
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    Some((lines, String::from_utf8_lossy(&out.stderr).into_owned()))
}

#[test]
fn tracefs_is_mounted_when_needed_and_unmounted_at_exit() {
    // With no PATH, so no `mount` program is run: the system call is.
    let bin = env!("CARGO_BIN_EXE_tcpscope");
    let script = format!(
        "grep -c ' tracefs ' /proc/self/mounts; \
         PATH=/nonexistent '{bin}' watch -i 50ms >/dev/null & pid=$!; \
         for i in $(seq 50); do grep -q ' tracefs ' /proc/self/mounts && break; sleep 0.1; done; \
         grep -c ' tracefs ' /proc/self/mounts; \
         kill -TERM $pid; wait $pid; echo exit=$?; \
         grep -c ' tracefs ' /proc/self/mounts"
    );
    let Some((lines, stderr)) = without_tracefs(&script) else {
        return;
    };
    assert_eq!(
        lines,
        ["0", "1", "exit=0", "0"],
        "unmounted, mounted by tcpscope, unmounted again: {stderr}"
    );
}

/// A run killed with SIGKILL cannot unmount what it mounted; the next
/// run (any mode, even `--once`) does, and removes its instance.
#[test]
fn a_killed_runs_mount_is_undone_by_the_next_run() {
    let bin = env!("CARGO_BIN_EXE_tcpscope");
    let script = format!(
        "'{bin}' watch -i 50ms >/dev/null & pid=$!; \
         for i in $(seq 50); do ls /sys/kernel/tracing/instances 2>/dev/null | grep -q \"tcpscope-$pid-\" && break; sleep 0.1; done; \
         ls /sys/kernel/tracing/instances | grep -c \"tcpscope-$pid-.*-m$\"; \
         kill -KILL $pid; wait $pid 2>/dev/null; \
         grep -c ' tracefs ' /proc/self/mounts; \
         '{bin}' --once >/dev/null; echo once=$?; \
         grep -c ' tracefs ' /proc/self/mounts"
    );
    let Some((lines, stderr)) = without_tracefs(&script) else {
        return;
    };
    assert_eq!(
        lines,
        ["1", "1", "once=0", "0"],
        "marked as mounted by it, left mounted by the kill, unmounted by the next run: {stderr}"
    );
}

/// The owner a change names, as its PID.
fn caller_pid(c: &Change) -> Option<u32> {
    c.owner.as_ref().and_then(|o| o.pids().next())
}

/// A client in another process: the changes its own calls made (connect,
/// close) name it, found without any walk of /proc; those a segment made
/// name no one, and the server's close names this process.
#[test]
fn changes_made_by_a_call_name_the_calling_process() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let Some(mut r) = reader(&Scope::on_port(Some(port))) else {
        return;
    };
    // It lives on a moment after its close, as most programs do.
    let script = format!(
        "import socket, time\ns = socket.create_connection(('127.0.0.1', {port}))\n\
         print(s.getsockname()[1], flush=True)\nimport sys; sys.stdin.readline()\n\
         s.close()\ntime.sleep(2)\n"
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (the test's client)");
    let (mut server, peer) = listener.accept().expect("accept");
    let client = SocketAddr::from(([127, 0, 0, 1], peer.port()));
    let me = SocketAddr::from(([127, 0, 0, 1], port));
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), b"\n")
        .expect("ask it to close");
    let mut byte = [0u8; 1];
    assert_eq!(
        std::io::Read::read(&mut server, &mut byte).expect("its FIN"),
        0
    );
    drop(server);
    let seen = read_until(&mut r, |seen| {
        steps(seen, me, client).contains(&(TcpState::LastAck, TcpState::Closed))
    });
    let them = child.id();
    let _ = child.kill();
    let _ = child.wait();
    let find = |local, remote, from, to| {
        seen.iter()
            .find(|c| {
                c.key.local == local && c.key.remote == remote && (c.from, c.to) == (from, to)
            })
            .unwrap_or_else(|| panic!("{from:?} -> {to:?} of {local}: {seen:#?}"))
    };
    let portless = SocketAddr::from(([127, 0, 0, 1], 0));
    let connect = find(portless, me, TcpState::Closed, TcpState::SynSent);
    assert_eq!(caller_pid(connect), Some(them), "connect(): {connect:?}");
    let close = find(client, me, TcpState::Established, TcpState::FinWait1);
    assert_eq!(caller_pid(close), Some(them), "close(): {close:?}");
    let accepted = find(me, client, TcpState::SynRecv, TcpState::Established);
    assert_eq!(caller_pid(accepted), None, "a segment's: {accepted:?}");
    let ours = find(me, client, TcpState::CloseWait, TcpState::LastAck);
    assert_eq!(
        caller_pid(ours),
        Some(std::process::id()),
        "our close(): {ours:?}"
    );
}
