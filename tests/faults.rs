//! The real binary with faults injected into its system calls by strace:
//! a netlink receive that fails now and then must never freeze the table.
//! Skipped, with the reason, where strace is missing (.ci/run installs it).
#![cfg(target_os = "linux")]

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn strace() -> Option<Command> {
    let found = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: strace is not installed (apt-get install strace)");
        return None;
    }
    let mut cmd = Command::new("strace");
    // Follow threads; report nothing; fail recvfrom (netlink replies)
    // with ENOBUFS on the calls `when` picks.
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=recvfrom"]);
    Some(cmd)
}

#[test]
fn once_reads_the_whole_table_despite_a_failed_receive() {
    let Some(mut cmd) = strace() else { return };
    let p = common::pair();
    let port = p.server_addr.port().to_string();
    let out = cmd
        .args(["-e", "inject=recvfrom:error=ENOBUFS:when=1"])
        .arg(env!("CARGO_BIN_EXE_tcpscope"))
        // Our sockets' states only: an earlier run may have left a
        // TIME_WAIT on this port number.
        .args([
            "--once",
            "--json",
            "-f",
            &format!("{port} state LISTEN,ESTABLISHED"),
        ])
        .output()
        .expect("run under strace");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        rows.as_array().map(Vec::len),
        Some(3),
        "listener and both ends: {rows}"
    );
}

#[test]
fn watch_keeps_reporting_while_receives_fail_now_and_then() {
    let Some(mut cmd) = strace() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Every 5th receive from the 3rd on fails: dumps fail over and over.
    cmd.args(["-e", "inject=recvfrom:error=ENOBUFS:when=3+5"])
        .arg(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["watch", &port.to_string(), "--json", "-i", "30ms"])
        .args(["--source", "sockdiag"])
        .stderr(Stdio::null());
    let (mut child, rx) = common::spawn_lines(&mut cmd);
    std::thread::sleep(Duration::from_millis(800));
    // Three connections, one after another: each must show up.
    let mut held = Vec::new();
    for _ in 0..3 {
        let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let key = format!("{} -> 127.0.0.1:{port}", c.local_addr().expect("addr"));
        held.push((c, listener.accept().expect("accept")));
        let deadline = Instant::now() + common::PATIENCE;
        let seen = loop {
            if Instant::now() > deadline {
                break false;
            }
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
                && line.contains(&key)
            {
                break true;
            }
        };
        assert!(seen, "the table froze: {key} never reported");
    }
    common::terminate(&mut child);
}
