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
    let session = match TraceSession::open(&filter(scope)) {
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
        let scope = Scope {
            port: Some(server.port()),
        };
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
fn the_pipeline_shows_an_active_close_into_time_wait_at_the_kernels_times() {
    use tcpscope::pipeline::runner::{Feed, Runner};
    let p = pair();
    let scope = Scope {
        port: Some(p.server_addr.port()),
    };
    let Some(r) = reader(&scope) else { return };
    let table = tcpscope::source::sockdiag::SockDiagSource::new(tcpscope::source::Cadence::Once)
        .expect("sock_diag");
    let sources = tcpscope::source::Sources {
        table: Box::new(table),
        changes: Some(Box::new(r)),
        notes: Vec::new(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let runner = Runner::spawn(sources, scope, Duration::from_millis(50), tx).expect("runner");
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
            .conns
            .iter()
            .find(|c| c.row.key == key && c.state() == TcpState::TimeWait);
        if let Some(c) = found {
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
    assert!(
        conn.timeline[1..].iter().all(|p| p.entry == Entry::Exact),
        "{conn:#?}"
    );
    assert!(
        conn.timeline
            .windows(2)
            .all(|w| w[0].entered <= w[1].entered)
    );
    let timer = conn.row.timer.as_ref().expect("the TIME_WAIT countdown");
    assert_eq!(timer.kind.name(), "timewait");
}
