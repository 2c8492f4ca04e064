//! Every built-in demo, played on real sockets without a terminal, reaches
//! the states it promises, step by step. Checked through the project's own
//! sources: the tracepoint as well as polling when running as root (then
//! the short states are checked too), polling alone otherwise.
#![cfg(target_os = "linux")]

mod common;

use tcpscope::demo::{self, runner};
use tcpscope::source::sockdiag::SockDiagSource;
use tcpscope::source::trace::{TraceReader, TraceSession, filter};
use tcpscope::source::{Cadence, ChangeSource, Scope, Sources};

/// The table, plus the tracepoint when this process may read it.
fn sources(port: u16) -> (Sources, Option<std::path::PathBuf>) {
    let table = Box::new(SockDiagSource::new(Cadence::Once).expect("sock_diag"));
    let mut sources = Sources::table_only(table);
    // TCPSCOPE_TEST_POLLING_ONLY=1 plays the demos as a non-root user would.
    if std::env::var_os("TCPSCOPE_TEST_POLLING_ONLY").is_some() {
        eprintln!("polling only was asked for: short states are not checked");
        return (sources, None);
    }
    let scope = Scope::on_port(Some(port));
    match TraceSession::open(&filter(&scope), None) {
        Ok(session) => {
            let dir = session.instance().to_path_buf();
            let reader = TraceReader::new(session).expect("ring buffers");
            sources.changes = Some(Box::new(reader) as Box<dyn ChangeSource>);
            (sources, Some(dir))
        }
        Err(why) => {
            eprintln!("polling only ({why}): short states are not checked");
            (sources, None)
        }
    }
}

async fn play(name: &str) {
    let scenario = demo::load(name).expect("a built-in demo");
    let port =
        tcpscope::settings::free_port("127.0.0.1".parse().expect("ip")).expect("a free port");
    let (sources, instance) = sources(port);
    let results = runner::play(&scenario, sources, port, None)
        .await
        .expect("the pipeline runs");
    let report: Vec<String> = results.iter().map(runner::describe).collect();
    assert_eq!(
        results.len(),
        scenario.steps.len(),
        "{name} stopped early:\n{}",
        report.join("\n")
    );
    assert!(
        results.iter().all(|r| r.result.is_ok()),
        "{name}:\n{}",
        report.join("\n")
    );
    if let Some(dir) = instance {
        assert!(
            !dir.exists(),
            "{name}: the tracing instance is removed afterwards"
        );
    }
}

macro_rules! demo_test {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            play($name).await;
        }
    )*};
}

demo_test! {
    handshake => "handshake",
    client_close => "client-close",
    server_close_restart => "server-close-restart",
    close_wait_leak => "close-wait-leak",
    half_close => "half-close",
    reset => "reset",
    backlog => "backlog",
    fin_wait_1 => "fin-wait-1",
    last_ack => "last-ack",
    simultaneous_close => "simultaneous-close",
}

/// A demo across the slow-motion link, through the real command: `demo
/// NAME --check` creates the link (root), plays every step, and checks
/// the states and the segments each step promises.
fn check_on_the_wire(name: &str) {
    if !common::is_root() {
        eprintln!("skipped: the slow-motion link needs root (network namespaces, TUN devices)");
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["demo", name, "--check"])
        .output()
        .expect("run tcpscope demo --check");
    let text = String::from_utf8_lossy(&out.stdout);
    let steps = demo::load(name).expect("a built-in demo").steps.len();
    assert!(
        out.status.success(),
        "{name}:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.ends_with(": ok")).count(),
        steps,
        "{text}"
    );
}

macro_rules! wire_demo_test {
    ($($test:ident => $name:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            check_on_the_wire($name);
        }
    )*};
}

wire_demo_test! {
    slow_handshake => "slow-handshake",
    slow_close => "slow-close",
    lost_syn => "lost-syn",
    lost_final_ack => "lost-final-ack",
    simultaneous_close_wire => "simultaneous-close-wire",
    keepalive => "keepalive",
    syn_backlog => "syn-backlog",
}

#[test]
fn a_wire_step_without_a_wire_line_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nowire.demo");
    std::fs::write(&path, "title: t\nstep: listen\nstep: wire drop-next\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["demo", path.to_str().expect("utf-8 path"), "--check"])
        .output()
        .expect("run tcpscope demo --check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "line 3 (wire drop-next): a wire step needs a 'wire:' line at the top of the demo"
        ),
        "{text}"
    );
}

#[test]
fn a_malformed_scenario_file_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.demo");
    std::fs::write(&path, "title: bad\nstep: listen\nstep: connect two\n").expect("write");
    let err = demo::load(path.to_str().expect("utf-8 path")).expect_err("malformed");
    assert!(
        err.contains("line 3: 'two' is not a number of clients"),
        "{err}"
    );
    let err = demo::load("no-such-demo").expect_err("unknown");
    assert!(err.contains("handshake"), "lists the built-in demos: {err}");
}

/// Escape sequences and NUL in a scenario file never reach the terminal:
/// not through a parse error, not through `--check`'s report.
#[test]
fn control_characters_in_a_scenario_file_are_never_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostile = dir.path().join("hostile.demo");
    std::fs::write(
        &hostile,
        "title: t\nstep: \x1b]2;PWNED\x07\x1b[2J\0listen\n",
    )
    .expect("write");
    let checked = dir.path().join("checked.demo");
    std::fs::write(
        &checked,
        "title: t\nstep: listen\nexpect: error \x1b]2;PWNED\x07\n",
    )
    .expect("write");
    for file in [&hostile, &checked] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpscope"))
            .arg("demo")
            .arg(file)
            .arg("--check")
            .output()
            .expect("run tcpscope demo --check");
        let said = [out.stdout, out.stderr].concat();
        let text = String::from_utf8_lossy(&said);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains("line "), "the line is named: {text}");
        assert!(
            !said.iter().any(|b| matches!(b, 0x1b | 0x07 | 0)),
            "a control character echoed: {text:?}"
        );
    }
}
