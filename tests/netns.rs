//! `--netns` and `--all-netns` on real namespaces the test makes (`ip
//! netns add`), with a connection in each on the same addresses: both
//! shown, told apart by their namespace. Root only.
#![cfg(target_os = "linux")]

mod common;

use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::process::Command;

const NAMES: [&str; 2] = ["tcpscope-test-a", "tcpscope-test-b"];
const PORT: u16 = 7171;

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// Namespaces made for the test, removed at the end (and before, in case
/// a killed run left them).
struct Namespaces;

impl Namespaces {
    fn make() -> Option<Namespaces> {
        for name in NAMES {
            let _ = ip(&["netns", "del", name]);
            if !ip(&["netns", "add", name]) || !ip(&["-n", name, "link", "set", "lo", "up"]) {
                eprintln!("skipped: cannot make a network namespace with ip netns");
                return None;
            }
        }
        Some(Namespaces)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in NAMES {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// A listener and a connection to it on 127.0.0.1:PORT inside `name`.
fn connection_in(name: &str) -> (TcpListener, TcpStream, TcpStream) {
    let ns: OwnedFd = std::fs::File::open(format!("/run/netns/{name}"))
        .expect("open the namespace")
        .into();
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("enter it");
            let listener = TcpListener::bind(("127.0.0.1", PORT)).expect("listen inside");
            let client = TcpStream::connect(("127.0.0.1", PORT)).expect("connect inside");
            let (server, _) = listener.accept().expect("accept inside");
            (listener, client, server)
        })
        .join()
        .expect("the namespace thread")
    })
}

fn once_json(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["--once", "--json"])
        .args(args)
        .output()
        .expect("run tcpscope");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON array")
}

fn rows_of<'a>(rows: &'a [serde_json::Value], ns: &str) -> Vec<&'a serde_json::Value> {
    rows.iter().filter(|r| r["netns"] == ns).collect()
}

#[test]
fn every_namespace_is_shown_and_told_apart() {
    if !common::is_root() {
        eprintln!("skipped: reading other network namespaces needs root");
        return;
    }
    let Some(_namespaces) = Namespaces::make() else {
        return;
    };
    let _a = connection_in(NAMES[0]);
    let _b = connection_in(NAMES[1]);
    let port = PORT.to_string();
    let all = once_json(&["--all-netns", &port]);
    for name in NAMES {
        let rows = rows_of(&all, name);
        let states: Vec<&str> = rows.iter().filter_map(|r| r["state"].as_str()).collect();
        assert_eq!(rows.len(), 3, "{name}: a listener and both ends: {all:?}");
        assert_eq!(
            states.iter().filter(|s| **s == "ESTABLISHED").count(),
            2,
            "{states:?}"
        );
        assert!(states.contains(&"LISTEN"));
    }
    // One namespace alone, by name.
    let one = once_json(&["--netns", NAMES[1], &port]);
    assert_eq!(one.len(), 3, "{one:?}");
    assert!(one.iter().all(|r| r["netns"] == NAMES[1]), "{one:?}");
    // As text, each row says whose it is.
    let out = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["--once", "--all-netns", &port])
        .output()
        .expect("run tcpscope");
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().next().unwrap_or_default();
    let at = |title: &str| header.find(title);
    assert!(
        at("State") < at("Netns") && at("Netns") < at("Recv-Q"),
        "a Netns column after the state: {text}"
    );
    for name in NAMES {
        let rows = text.lines().filter(|l| l.contains(&format!(" {name} ")));
        assert_eq!(rows.count(), 3, "{text}");
    }
}

#[test]
fn a_namespace_that_does_not_exist_is_named_in_the_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["--once", "--netns", "no-such-namespace-here"])
        .output()
        .expect("run tcpscope");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no network namespace 'no-such-namespace-here' (/run/netns/no-such-namespace-here does not exist)"),
        "{err}"
    );
}

/// Where something above root (a container's policy) refuses other
/// processes' namespace files, `--all-netns` says that, not that root is
/// needed, and still shows what it could read.
#[test]
fn a_refusal_above_root_is_not_called_a_need_for_root() {
    if !common::is_root() {
        eprintln!("skipped: the message as root needs root");
        return;
    }
    match std::fs::File::open("/proc/1/ns/net") {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
        _ => {
            eprintln!("skipped: nothing above root refuses /proc/1/ns/net on this machine");
            return;
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["--once", "--all-netns"])
        .output()
        .expect("run tcpscope");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("refused even to root here"), "{err}");
    assert!(!err.contains("needs root"), "{err}");
    assert!(
        !out.stdout.is_empty(),
        "this namespace's table is still printed"
    );
}
