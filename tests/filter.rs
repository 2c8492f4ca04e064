//! Filter expressions with `or`, `not` and parentheses, judged against
//! `ss` with the equivalent expression on the same sockets: listeners,
//! established pairs, a CLOSE_WAIT and a TIME_WAIT on two loopback ports.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

type Rows = BTreeSet<(String, String, String)>;

fn ours(expr: &str) -> Rows {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["--once", "--json", "-f", expr])
        .output()
        .expect("tcpscope");
    assert!(out.status.success(), "{expr}: {out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    rows.as_array()
        .expect("an array")
        .iter()
        .map(|r| (text(&r["local"]), text(&r["remote"]), text(&r["state"])))
        .collect()
}

/// The column ss would print for a state it was asked for by name.
fn ss_state(asked: &str) -> &'static str {
    match asked {
        "close-wait" => "CLOSE-WAIT",
        "established" => "ESTAB",
        "time-wait" => "TIME-WAIT",
        "listening" => "LISTEN",
        _ => "?",
    }
}

/// ss's names for the states, as tcpscope's.
fn state_name(ss: &str) -> String {
    match ss {
        "ESTAB" => "ESTABLISHED",
        "LISTEN" => "LISTEN",
        "TIME-WAIT" => "TIME_WAIT",
        "CLOSE-WAIT" => "CLOSE_WAIT",
        "FIN-WAIT-2" => "FIN_WAIT_2",
        "FIN-WAIT-1" => "FIN_WAIT_1",
        "LAST-ACK" => "LAST_ACK",
        "SYN-SENT" => "SYN_SENT",
        "SYN-RECV" => "SYN_RECV",
        "CLOSING" => "CLOSING",
        other => other,
    }
    .to_string()
}

fn theirs(args: &[&str]) -> Rows {
    let out = Command::new("ss")
        .args(["-tanH"])
        .args(args)
        .output()
        .expect("ss (iproute2)");
    assert!(out.status.success(), "ss {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w: Vec<&str> = l.split_whitespace().collect();
            // With one `state` asked for, ss leaves the column out.
            if let Some(i) = args.iter().position(|a| *a == "state")
                && args.iter().filter(|a| **a == "state").count() == 1
            {
                w.insert(0, ss_state(args[i + 1]));
            }
            // A listener's peer: ss writes port `*`, the JSON 0.
            let remote = w.get(4)?.replace(":*", ":0");
            Some((w.get(3)?.to_string(), remote, state_name(w.first()?)))
        })
        .collect()
}

/// The sockets both tools read, on two ports of their own.
struct Scene {
    a: u16,
    b: u16,
    _keep: Vec<TcpStream>,
    _listeners: Vec<TcpListener>,
}

fn scene() -> Scene {
    let la = TcpListener::bind("127.0.0.1:0").expect("bind");
    let lb = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (a, b) = (
        la.local_addr().expect("a").port(),
        lb.local_addr().expect("b").port(),
    );
    let mut keep = Vec::new();
    // Established on both ports.
    for (l, port) in [(&la, a), (&lb, b)] {
        keep.push(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
        keep.push(l.accept().expect("accept").0);
    }
    // A CLOSE_WAIT on a: the client closes, the server end stays open.
    let c = TcpStream::connect(("127.0.0.1", a)).expect("connect");
    let (held, _) = la.accept().expect("accept");
    drop(c);
    keep.push(held);
    // A TIME_WAIT on b: the server closes first, then the client.
    let mut c = TcpStream::connect(("127.0.0.1", b)).expect("connect");
    drop(lb.accept().expect("accept").0);
    let _ = c.read(&mut [0u8; 1]);
    drop(c);
    // Let the last segments land before either tool reads.
    std::thread::sleep(Duration::from_millis(100));
    Scene {
        a,
        b,
        _keep: keep,
        _listeners: vec![la, lb],
    }
}

fn ports(s: &Scene) -> String {
    format!(
        "( sport = :{a} or dport = :{a} or sport = :{b} or dport = :{b} )",
        a = s.a,
        b = s.b
    )
}

#[test]
fn or_not_and_parentheses_keep_what_ss_keeps() {
    let s = scene();
    let (a, b) = (s.a, s.b);
    let tw = theirs(&["state", "time-wait", &ports(&s)]);
    assert_eq!(tw.len(), 1, "the scene has its TIME_WAIT: {tw:?}");
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("sport {a} or dport {b}"),
            vec![format!("( sport = :{a} or dport = :{b} )")],
        ),
        (
            format!("({a} or {b}) and not state TIME_WAIT"),
            vec!["exclude".into(), "time-wait".into(), ports(&s)],
        ),
        (
            format!("({a} or {b}) and state CLOSE_WAIT"),
            vec!["state".into(), "close-wait".into(), ports(&s)],
        ),
        (
            format!("not (sport {a} or sport {b}) and ({a} or {b})"),
            vec![format!(
                "( dport = :{a} or dport = :{b} ) and not ( sport = :{a} or sport = :{b} )"
            )],
        ),
    ];
    for (expr, ss_args) in cases {
        let args: Vec<&str> = ss_args.iter().map(String::as_str).collect();
        let (mine, ss) = (ours(&expr), theirs(&args));
        assert!(
            !ss.is_empty(),
            "{expr}: ss found nothing, the scene is wrong"
        );
        assert_eq!(mine, ss, "'{expr}' against ss {ss_args:?}");
    }
}

#[test]
fn a_misplaced_parenthesis_is_reported_with_its_place() {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["--once", "-f", "(8080 or 8443 state CLOSE_WAIT"])
        .output()
        .expect("tcpscope");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the '(' at character 1 is never closed: add a ')'"),
        "{err}"
    );
}
