//! The binary as a script sees it: exit codes, messages, text and JSON.

mod common;

use assert_cmd::Command;
use common::{PATIENCE, pair, wait_for};
use serde_json::Value;

fn tcpscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tcpscope"))
}

fn json_once(port: u16) -> Vec<Value> {
    let out = tcpscope()
        .args(["--once", "--json", &port.to_string()])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    v.as_array().expect("a JSON array").clone()
}

fn state_of(sockets: &[Value], local: &str, remote: &str) -> Option<String> {
    sockets
        .iter()
        .find(|s| s["local"] == local && s["remote"] == remote)
        .and_then(|s| s["state"].as_str().map(String::from))
}

#[test]
fn json_once_follows_a_close_through_the_states() {
    let p = pair();
    let port = p.server_addr.port();
    let (c, s) = (p.client_addr.to_string(), p.server_addr.to_string());

    let sockets = json_once(port);
    assert_eq!(state_of(&sockets, &c, &s).as_deref(), Some("ESTABLISHED"));
    assert_eq!(state_of(&sockets, &s, &c).as_deref(), Some("ESTABLISHED"));
    let fields = [
        "proto", "family", "local", "remote", "state", "recv_q", "send_q", "timer", "timer_ms",
        "uid", "inode", "pids", "process",
    ];
    for f in fields {
        assert!(sockets[0].get(f).is_some(), "field {f} missing");
    }
    assert!(sockets.iter().all(|s| {
        let (l, r) = (
            s["local"].as_str().unwrap_or(""),
            s["remote"].as_str().unwrap_or(""),
        );
        l.ends_with(&format!(":{port}")) || r.ends_with(&format!(":{port}"))
    }));

    drop(p.client);
    let half = wait_for(PATIENCE, || {
        let sockets = json_once(port);
        (state_of(&sockets, &c, &s).as_deref() == Some("FIN_WAIT_2")
            && state_of(&sockets, &s, &c).as_deref() == Some("CLOSE_WAIT"))
        .then_some(())
    });
    assert!(half.is_some(), "FIN_WAIT_2 / CLOSE_WAIT in --json");

    drop(p.server);
    let tw = wait_for(PATIENCE, || {
        (state_of(&json_once(port), &c, &s).as_deref() == Some("TIME_WAIT")).then_some(())
    });
    assert!(tw.is_some(), "TIME_WAIT in --json");
}

#[test]
fn text_once_has_one_heading_per_state() {
    let p = pair();
    let port = p.server_addr.port();
    // Only the states of our sockets: an earlier run may have left a
    // TIME_WAIT on this port number.
    let out = tcpscope()
        .args(["--once", "-f", &format!("{port} state LISTEN,ESTABLISHED")])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("LISTEN (1)\n"), "{text}");
    assert!(text.contains("ESTABLISHED (2)\n"), "{text}");
    assert!(
        text.find("LISTEN (1)") < text.find("ESTABLISHED (2)"),
        "lifecycle order"
    );
    assert!(text.contains(&format!("{}  ", p.client_addr)), "{text}");
    assert!(
        text.contains("0.0.0.0:*"),
        "unconnected remote like netstat: {text}"
    );
    assert!(text.trim_end().ends_with("3 sockets"), "{text}");
}

#[test]
fn filter_narrows_the_once_output() {
    let p = pair();
    let port = p.server_addr.port().to_string();
    let out = tcpscope()
        .args([
            "--once",
            "--json",
            "-f",
            &format!("sport {port} state LISTEN"),
        ])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 1, "{arr:?}");
    assert_eq!(arr[0]["state"], "LISTEN");
    drop(p);
}

fn usage_error(args: &[&str], expected: &str) {
    let out = tcpscope().args(args).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(expected), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_gets_a_message_and_exit_code_2() {
    usage_error(&["0"], "port 0 is not a real port: use 1-65535");
    usage_error(&["70000"], "port 70000 is out of range: use 1-65535");
    usage_error(&["http"], "'http' is not a port number");
    usage_error(
        &["-i", "5ms"],
        "interval 5ms is too short: use at least 10ms",
    );
    usage_error(
        &["-i", "soon"],
        "'soon' is not an interval: write it like 100ms, 1s or 2.5s",
    );
    usage_error(
        &["-f", "state FOO"],
        "unknown state 'FOO': use one of LISTEN",
    );
    usage_error(
        &["--once", "-f", "sport"],
        "'sport' needs a value, e.g. 'sport 8080'",
    );
}

#[test]
fn the_live_view_without_a_terminal_suggests_once() {
    let out = tcpscope().arg("8080").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("--once"), "{err}");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    // More JSON than a pipe buffer holds, so the write really hits EPIPE.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut held = Vec::new();
    for _ in 0..150 {
        let client = std::net::TcpStream::connect(addr).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        held.push((client, server));
    }
    let script = format!(
        "set -o pipefail; '{}' --once --json {} | head -c1 >/dev/null",
        env!("CARGO_BIN_EXE_tcpscope"),
        addr.port()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .expect("run bash");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status.code());
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn demos_are_listed_and_a_bad_name_is_explained() {
    let out = tcpscope().arg("demo").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "handshake",
        "client-close",
        "simultaneous-close",
        "fin-wait-1",
    ] {
        assert!(text.contains(name), "{text}");
    }
    usage_error(
        &["demo", "no-such-demo"],
        "'no-such-demo' is neither a demo (handshake",
    );
}

#[test]
fn a_filter_naming_a_process_looks_owners_up_without_p() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let p = pair();
    let port = p.server_addr.port();
    let me = std::process::id();
    let out = tcpscope()
        .args(["--once", "--json", "-f", &format!("{port} pid {me}")])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 3, "our listener and both ends: {arr:?}");
    assert!(
        arr.iter()
            .all(|s| s["pids"].as_array().is_some_and(|p| p.contains(&me.into())))
    );
    drop(p);
}

#[test]
fn a_process_name_cannot_write_to_the_terminal() {
    if !cfg!(target_os = "linux") {
        return;
    }
    // A program calling itself ESC[2J (clear screen) holds a listener.
    let script = "import ctypes, socket, sys, time\n\
        ctypes.CDLL(None).prctl(15, b'\\x1b[2J', 0, 0, 0)\n\
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
        print(s.getsockname()[1], flush=True); time.sleep(30)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut port,
    )
    .expect("the port");
    let out = tcpscope()
        .args(["--once", "-p", port.trim()])
        .output()
        .expect("run");
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\x1b'),
        "an escape reached the terminal: {text:?}"
    );
    assert!(text.contains("/?[2J"), "the name, made harmless: {text}");
}

#[test]
fn a_low_open_files_limit_is_a_message_not_a_crash() {
    if !cfg!(unix) {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_tcpscope");
    let run = |limit: u32, args: &str| {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit -Sn {limit} && ulimit -Hn {limit} && exec '{bin}' {args}"
            ))
            .output()
            .expect("bash")
    };
    for args in ["--once", "watch 1", "--once --json 1"] {
        let out = run(20, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args}: {err}");
        assert!(
            err.contains("too many open files: the limit is 20 (ulimit -n)"),
            "{args}: {err}"
        );
        assert!(!err.contains("panicked"), "{args}: {err}");
    }
    // Enough to start: a soft limit below what it needs is raised.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -Sn 16 && exec '{bin}' --once --json 1"))
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_demo_file_with_an_absurd_wait_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("long.demo");
    std::fs::write(&path, "title: t\nstep: wait 18446744073709551615ms\n").expect("write");
    usage_error(
        &["demo", path.to_str().expect("utf-8"), "--check"],
        "line 2: wait 18446744073709551615ms is too long",
    );
}

/// `--remote` is the live view of another host: asking for a one-shot
/// table or local capture with it is refused, not silently done locally.
#[test]
fn remote_refuses_what_only_makes_sense_here() {
    for extra in [&["--once"][..], &["--pcap", "x.pcap"], &["--all-netns"]] {
        let out = tcpscope()
            .args(["--remote", "somehost", "8080"])
            .args(extra)
            .output()
            .expect("run tcpscope");
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot be used with"), "{extra:?}: {err}");
    }
}

/// `--source netstat2` reads only this namespace: with an option that
/// reads others it is refused, naming both, instead of half ignored.
#[test]
fn netstat2_with_other_namespaces_is_refused() {
    let cases: [&[&str]; 4] = [
        &["--once", "--netns", "x", "--source", "netstat2"],
        &["watch", "--all-netns", "--source", "netstat2"],
        &["record", "-", "--netns", "x", "--source", "netstat2"],
        &["lab", "--wire", "--source", "netstat2"],
    ];
    for args in cases {
        let out = tcpscope().args(args).output().expect("run tcpscope");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--source netstat2 cannot read other namespaces"),
            "{err}"
        );
        assert!(err.contains("leave --source out"), "{err}");
    }
}

/// `--log FILE` keeps what a bug report needs: the options, the reading
/// and how the run ended; a log that cannot be written is refused at once.
#[test]
fn the_debug_log_says_what_the_run_did() {
    let p = pair();
    let port = p.server_addr.port().to_string();
    let dir = tempfile::tempdir().expect("a directory");
    let log = dir.path().join("run.log");
    let log_arg = log.to_string_lossy().to_string();
    tcpscope()
        .args(["--once", "--log", &log_arg, &port])
        .assert()
        .success();
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(text.contains("tcpscope started"), "{text}");
    assert!(text.contains(&format!("\"{port}\"")), "the options: {text}");
    assert!(
        text.contains("one reading") && text.contains("rows=3"),
        "{text}"
    );
    let out = tcpscope()
        .args(["--once", "--log", "/no-such-directory/run.log"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("/no-such-directory/run.log") && stderr.contains("directory you can write"),
        "{stderr}"
    );
}
