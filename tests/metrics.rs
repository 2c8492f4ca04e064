//! `tcpscope serve --metrics` against real readers: the exposition passes
//! `promtool check metrics`, and a real Prometheus scrapes it and answers
//! a query with the states of sockets the test opened. Both need
//! Debian's prometheus package (installed by .ci/run); without it the
//! tests say so and skip.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `GET path` on 127.0.0.1:port; the body, if it answered 200.
fn get(port: u16, path: &str, accept: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn serve(port: u16, watched: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args([
            "serve",
            "--metrics",
            &format!("127.0.0.1:{port}"),
            &watched.to_string(),
            "-i",
            "100ms",
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("start tcpscope serve");
    let up = common::wait_for(common::PATIENCE, || get(port, "/metrics", "*/*"));
    assert!(up.is_some(), "serve answers");
    child
}

fn free_port() -> u16 {
    let (reserved, port) = common::reserve_port();
    drop(reserved);
    port
}

/// A listener and one connection on a port of the test's own.
fn sockets() -> (TcpListener, TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (listener, client, server)
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("skipped: no {tool} here (Debian's prometheus package, installed by .ci/run)");
    }
    found
}

#[test]
fn the_exposition_passes_promtool_and_counts_the_sockets() {
    let (listener, _client, _server) = sockets();
    let watched = listener.local_addr().expect("addr").port();
    let port = free_port();
    let mut child = serve(port, watched);
    let line = format!("tcpscope_port_sockets{{port=\"{watched}\",state=\"ESTABLISHED\"}} 2");
    let body = common::wait_for(common::PATIENCE, || {
        get(port, "/metrics", "*/*").filter(|b| b.contains(&line))
    });
    let body = body.unwrap_or_else(|| panic!("{line} in {:?}", get(port, "/metrics", "*/*")));
    assert!(body.contains(&format!(
        "tcpscope_port_sockets{{port=\"{watched}\",state=\"LISTEN\"}} 1"
    )));
    assert!(body.contains("tcpscope_source_up 1"), "{body}");
    let om = get(port, "/metrics", "application/openmetrics-text").expect("OpenMetrics");
    assert!(om.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert_eq!(get(port, "/other", "*/*"), None, "only /metrics");
    if have("promtool") {
        let mut check = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run promtool");
        check
            .stdin
            .take()
            .expect("stdin")
            .write_all(body.as_bytes())
            .expect("feed promtool");
        let out = check.wait_with_output().expect("promtool ends");
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    common::terminate(&mut child);
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        common::terminate(&mut self.0);
    }
}

fn prometheus(dir: &Path, target: u16, web: u16) -> Prometheus {
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tcpscope\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Prometheus(child)
}

#[test]
fn a_real_prometheus_scrapes_it_and_answers_a_query() {
    if !have("prometheus") {
        return;
    }
    let (listener, _client, _server) = sockets();
    let watched = listener.local_addr().expect("addr").port();
    let port = free_port();
    let mut child = serve(port, watched);
    let dir = tempfile::tempdir().expect("tempdir");
    let web = free_port();
    let _prom = prometheus(dir.path(), port, web);
    let query = format!(
        "/api/v1/query?query=tcpscope_port_sockets%7Bport%3D%22{watched}%22%2Cstate%3D%22ESTABLISHED%22%7D"
    );
    let value = common::wait_for(Duration::from_secs(30), || {
        let body = get(web, &query, "application/json")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1]
            .as_str()
            .map(String::from)
    });
    assert_eq!(
        value.as_deref(),
        Some("2"),
        "both ends of the test's connection"
    );
    common::terminate(&mut child);
}

/// The Grafana dashboard in assets/ is valid JSON and asks only for
/// metrics tcpscope serves.
#[test]
fn the_grafana_dashboard_uses_the_served_metrics() {
    let text = include_str!("../assets/grafana/tcpscope-dashboard.json");
    let dash: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    // A server that has seen a listener and a connection open.
    let port = free_port();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let watched = listener.local_addr().expect("addr").port();
    let mut child = serve(port, watched);
    let _client = TcpStream::connect(("127.0.0.1", watched)).expect("connect");
    let served = common::wait_for(common::PATIENCE, || {
        get(port, "/metrics", "*/*").filter(|b| b.contains("tcpscope_transitions_total{"))
    })
    .expect("transitions served");
    common::terminate(&mut child);
    let exprs: Vec<&str> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert!(exprs.len() >= 7, "{exprs:?}");
    for expr in exprs {
        let names = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("tcpscope_"));
        for name in names {
            // The classic format names a counter's family with `_total`.
            assert!(
                served.contains(&format!("# TYPE {name} ")),
                "{name} (in {expr}) is not served"
            );
        }
    }
}

/// `--metrics 127.0.0.1:0`: the port the kernel chose is the one printed.
/// Idle clients beyond the limit are closed at once, and a scrape is still
/// answered while the limit's worth of idle clients hold their places.
#[test]
fn serve_names_its_real_port_and_bounds_its_clients() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["serve", "--metrics", "127.0.0.1:0", "-i", "100ms"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpscope serve");
    let mut said = std::io::BufReader::new(child.stderr.take().expect("its stderr"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut said, &mut line).expect("the first line");
    let port: u16 = line
        .trim()
        .strip_prefix("tcpscope: metrics on http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a real port in {line:?}"));
    assert_ne!(port, 0);
    let body = common::wait_for(common::PATIENCE, || get(port, "/metrics", "*/*"));
    assert!(body.is_some_and(|b| b.contains("tcpscope_sockets")));
    assert_eq!(get(port, "/other", "*/*"), None, "anything else is a 404");

    let limit = tcpscope::output::serve::MAX_CLIENTS;
    let idle: Vec<TcpStream> = (0..limit)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("an idle client"))
        .collect();
    // All of them accepted: the listener's accept queue is empty.
    let accepted = common::wait_for(common::PATIENCE, || {
        let out = Command::new("ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        (text.split_whitespace().nth(1) == Some("0")).then_some(())
    });
    assert!(accepted.is_some(), "the idle clients accepted");
    let mut over = TcpStream::connect(("127.0.0.1", port)).expect("one more");
    over.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert!(
        match over.read(&mut buf) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        },
        "the client over the limit is closed"
    );
    drop(idle);
    let answered = common::wait_for(common::PATIENCE, || get(port, "/metrics", "*/*"));
    assert!(
        answered.is_some(),
        "a scrape answered once the places are free"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `serve` needs no privilege once its sources are open: every thread
/// holds no capability and has no_new_privs, and scrapes still answer.
#[test]
fn serve_holds_no_privilege_after_setup() {
    let (_listener, _client, _server) = sockets();
    let port = free_port();
    let mut child = serve(port, 1);
    let held = common::wait_confined(child.id(), &[0]);
    let scraped = get(port, "/metrics", "*/*");
    let _ = child.kill();
    let _ = child.wait();
    let held = held.unwrap_or_else(|e| panic!("{e}"));
    assert!(!held.is_empty());
    let body = scraped.expect("a scrape after confinement");
    assert!(body.contains("tcpscope_source_up 1"), "{body}");
}
