//! `-r`: host names from the system's resolver and service names from
//! /etc/services, with the test's own hosts and services files bind-mounted
//! over the system's in a mount namespace of its own (the sockets are in
//! the same network namespace as the test). Never the outside network.
//! Root only (the mount namespace); elsewhere it says why it skips.

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::Command;

/// `tcpscope ARGS` with `hosts` and `services` as the system's files.
fn with_files(hosts: &str, services: &str, args: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (h, s) = (dir.path().join("hosts"), dir.path().join("services"));
    std::fs::write(&h, hosts).expect("hosts");
    std::fs::write(&s, services).expect("services");
    let script = format!(
        "mount --bind {} /etc/hosts && mount --bind {} /etc/services && exec \"$0\" \"$@\"",
        h.display(),
        s.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script, env!("CARGO_BIN_EXE_tcpscope")])
        .args(args)
        .output()
        .expect("unshare (util-linux)");
    assert!(out.status.success(), "{args:?}: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn names_from_the_hosts_and_services_files_appear_with_r() {
    if !common::is_root() {
        eprintln!(
            "skipped: a mount namespace for the test's hosts file needs root (CI runs as root)"
        );
        return;
    }
    let listener = TcpListener::bind("127.0.0.5:0").expect("bind 127.0.0.5");
    let port = listener.local_addr().expect("addr").port();
    let _client = TcpStream::connect(("127.0.0.5", port)).expect("connect");
    let _server = listener.accept().expect("accept");
    let hosts = "127.0.0.1 localhost\n127.0.0.5 teachers-box\n";
    let services = format!("# the test's own\nlab-demo {port}/tcp\n");
    let p = port.to_string();

    let (json, _) = with_files(hosts, &services, &["--once", "--json", "-r", &p]);
    let rows: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let rows = rows.as_array().expect("array");
    let listening = rows
        .iter()
        .find(|r| r["state"] == "LISTEN")
        .unwrap_or_else(|| panic!("the listener: {json}"));
    assert_eq!(
        listening["local"],
        format!("127.0.0.5:{port}"),
        "numbers stay: {json}"
    );
    assert_eq!(listening["local_host"], "teachers-box", "{json}");
    assert!(
        listening.get("remote_host").is_none(),
        "a listener's peer has no name: {json}"
    );
    let client = rows
        .iter()
        .find(|r| r["remote"] == format!("127.0.0.5:{port}"))
        .unwrap_or_else(|| panic!("the client: {json}"));
    assert_eq!(client["remote_host"], "teachers-box", "{json}");
    assert_eq!(client["local_host"], "localhost", "{json}");

    let (text, _) = with_files(hosts, &services, &["--once", "-r", &p]);
    assert!(text.contains("teachers-box:lab-demo"), "{text}");
    let (plain, _) = with_files(hosts, &services, &["--once", &p]);
    assert!(
        !plain.contains("teachers-box"),
        "numbers unless asked: {plain}"
    );
    assert!(plain.contains(&format!("127.0.0.5:{port}")), "{plain}");
}
