//! The tracepoint source on this kernel. Needs root (CI runs as root);
//! elsewhere each test says why it skips.
#![cfg(target_os = "linux")]

mod common;

use common::{PATIENCE, pair};
use std::time::Instant;
use tcpscope::socket::{SocketKey, TcpState};
use tcpscope::source::sockdiag::SockDiagSource;
use tcpscope::source::trace::{TraceSession, TracedChange, TracedSource};
use tcpscope::source::{Cadence, Scope, SocketSource};
use tcpscope::track::Tracker;

fn session() -> Option<TraceSession> {
    match TraceSession::open() {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn steps(
    changes: &[TracedChange],
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) -> Vec<(TcpState, TcpState)> {
    changes
        .iter()
        .filter(|c| c.key.local == local && c.key.remote == remote)
        .map(|c| (c.from, c.to))
        .collect()
}

#[test]
fn the_handshake_is_reported_step_by_step() {
    let Some(trace) = session() else { return };
    let instance = trace.instance().to_path_buf();
    assert!(instance.is_dir());
    let p = pair();
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        seen.extend(trace.drain());
        let client = steps(&seen, p.client_addr, p.server_addr);
        let server = steps(&seen, p.server_addr, p.client_addr);
        if client.contains(&(TcpState::SynSent, TcpState::Established))
            && server
                == [
                    (TcpState::Listen, TcpState::SynRecv),
                    (TcpState::SynRecv, TcpState::Established),
                ]
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "client {client:?}, server {server:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(trace.lost(), 0);
    drop(trace);
    assert!(!instance.exists(), "the tracing instance is removed");
}

#[test]
fn the_merged_timeline_of_an_active_close_ends_in_time_wait() {
    let Some(trace) = session() else { return };
    let p = pair();
    let scope = Scope {
        port: Some(p.server_addr.port()),
    };
    let inner = SockDiagSource::new(Cadence::Once).expect("sock_diag");
    let mut source = TracedSource::new(Box::new(inner), trace);
    let mut tracker = Tracker::new();
    let mut read = |tracker: &mut Tracker| {
        let transitions = source.transitions(&scope);
        tracker.apply_transitions(&transitions);
        let snap = source.snapshot(&scope).expect("reading");
        tracker.apply(snap);
    };
    read(&mut tracker);
    drop(p.client);
    std::thread::sleep(std::time::Duration::from_millis(30));
    drop(p.server);
    let key = |t: &Tracker| {
        t.get(&SocketKey::new(
            tcpscope::socket::Family::Inet,
            p.client_addr,
            p.server_addr,
        ))
        .cloned()
    };
    let deadline = Instant::now() + PATIENCE;
    let conn = loop {
        read(&mut tracker);
        if let Some(c) = key(&tracker).filter(|c| c.state() == TcpState::TimeWait) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "never reached TIME_WAIT: {:?}",
            key(&tracker)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let states: Vec<TcpState> = conn.timeline.iter().map(|ph| ph.state).collect();
    assert_eq!(
        &states[states.len() - 3..],
        [TcpState::FinWait1, TcpState::FinWait2, TcpState::TimeWait],
        "{states:?}"
    );
    assert!(
        conn.timeline
            .windows(2)
            .all(|w| w[0].entered <= w[1].entered),
        "in time order"
    );
}
