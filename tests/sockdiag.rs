//! The sock_diag source on this kernel, against sockets the test opens.
#![cfg(target_os = "linux")]

mod common;

use common::{PATIENCE, pair, wait_for};
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use tcpscope::socket::{Family, SocketRow, TcpState};
use tcpscope::source::{Cadence, Netstat2Source, Scope, SocketSource, sockdiag::SockDiagSource};

fn sockdiag() -> SockDiagSource {
    SockDiagSource::new(Cadence::Once).expect("sock_diag is available on Linux")
}

fn read(port: u16) -> Vec<SocketRow> {
    sockdiag()
        .dump(&Scope { port: Some(port) })
        .expect("dump")
        .rows
}

fn find(rows: &[SocketRow], local: SocketAddr, remote: SocketAddr) -> Option<&SocketRow> {
    rows.iter()
        .find(|r| r.key.local == local && r.key.remote == remote)
}

fn tuples(rows: &[SocketRow]) -> BTreeSet<(SocketAddr, SocketAddr, TcpState)> {
    rows.iter()
        .map(|r| (r.key.local, r.key.remote, r.state))
        .collect()
}

#[test]
fn agrees_with_netstat2_across_a_close() {
    // Three connections on one listener, driven to different states.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut ends = Vec::new();
    for _ in 0..3 {
        let c = TcpStream::connect(addr).expect("connect");
        let (s, _) = listener.accept().expect("accept");
        ends.push((c, s));
    }
    let (c0, s0) = ends.remove(0);
    drop(c0); // c0 FIN_WAIT_2, s0 CLOSE_WAIT
    let (c1, s1) = ends.remove(0);
    drop(c1);
    std::thread::sleep(Duration::from_millis(50));
    drop(s1); // c1 TIME_WAIT
    let port = addr.port();
    let agreed = wait_for(PATIENCE, || {
        let ours = tuples(&read(port));
        let theirs = tuples(
            &Netstat2Source::with_cadence(Cadence::Once)
                .dump(&Scope { port: Some(port) })
                .ok()?
                .rows,
        );
        let states: BTreeSet<TcpState> = ours.iter().map(|t| t.2).collect();
        let want = [
            TcpState::Listen,
            TcpState::Established,
            TcpState::FinWait2,
            TcpState::CloseWait,
            TcpState::TimeWait,
        ];
        (ours == theirs && want.iter().all(|s| states.contains(s))).then_some(ours)
    });
    assert!(
        agreed.is_some(),
        "sockdiag and netstat2 never agreed on all five states"
    );
    drop((s0, ends));
}

#[test]
fn the_kernel_filter_returns_only_the_port_asked_for() {
    let a = pair();
    let b = pair();
    let (pa, pb) = (a.server_addr.port(), b.server_addr.port());
    let rows = read(pa);
    assert_eq!(
        rows.len(),
        3,
        "listener + both ends of one connection: {rows:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.key.local.port() == pa || r.key.remote.port() == pa)
    );
    assert!(
        !rows
            .iter()
            .any(|r| r.key.local.port() == pb || r.key.remote.port() == pb)
    );
    // The client end matches on its remote (dport), the server end on its local (sport).
    assert!(
        find(&rows, a.client_addr, a.server_addr).is_some(),
        "dport match"
    );
    assert!(
        find(&rows, a.server_addr, a.client_addr).is_some(),
        "sport match"
    );
    // A port nobody uses returns nothing, without error.
    let unused = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    assert!(read(unused).is_empty());
}

#[test]
fn the_kernel_filter_works_for_ipv6() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: this machine has no ::1");
        return;
    };
    let addr = listener.local_addr().expect("addr");
    let client = TcpStream::connect(addr).expect("connect");
    let (_server, _) = listener.accept().expect("accept");
    let rows = read(addr.port());
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.key.family == Family::Inet6));
    let local = client.local_addr().expect("local");
    assert_eq!(
        find(&rows, local, addr).map(|r| r.state),
        Some(TcpState::Established)
    );
}

#[test]
fn listen_queue_and_unread_data_show_in_the_queues() {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let bind: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    socket.bind(&bind.into()).expect("bind");
    socket.listen(2).expect("listen(2)");
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr().expect("addr");
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(TcpStream::connect(addr).expect("connect"));
    }
    let unconnected: SocketAddr = "0.0.0.0:0".parse().expect("addr");
    let queue = wait_for(PATIENCE, || {
        let rows = read(addr.port());
        let l = find(&rows, addr, unconnected)?;
        (l.recv_q == Some(3)).then_some((l.recv_q, l.send_q))
    });
    // Linux queues backlog + 1 before it calls the accept queue full.
    assert_eq!(
        queue,
        Some((Some(3), Some(2))),
        "LISTEN Recv-Q = queued, Send-Q = backlog"
    );

    let (server, peer) = listener.accept().expect("accept");
    use std::io::Write;
    let mut writer = clients
        .iter()
        .find(|c| c.local_addr().ok() == Some(peer))
        .expect("the accepted client is one of ours");
    writer.write_all(b"0123456789").expect("write");
    let _keep = server;
    let unread = wait_for(PATIENCE, || {
        let rows = read(addr.port());
        let s = find(&rows, addr, peer)?;
        (s.recv_q == Some(10)).then_some(())
    });
    assert!(
        unread.is_some(),
        "10 unread bytes in the accepted socket's Recv-Q"
    );
}

#[test]
fn a_fresh_time_wait_counts_down_from_the_kernel_expiry() {
    let p = pair();
    let (client, server_addr, client_addr) = (p.client, p.server_addr, p.client_addr);
    drop(client);
    std::thread::sleep(Duration::from_millis(30));
    drop(p.server);
    let first = wait_for(PATIENCE, || {
        let rows = read(server_addr.port());
        let r = find(&rows, client_addr, server_addr)?;
        (r.state == TcpState::TimeWait)
            .then(|| r.timer.clone())
            .flatten()
    })
    .expect("a TIME_WAIT with a timer");
    assert_eq!(first.kind.name(), "timewait");
    assert!(
        (55_000..=60_000).contains(&first.remaining_ms),
        "{} ms",
        first.remaining_ms
    );
    std::thread::sleep(Duration::from_millis(1100));
    let rows = read(server_addr.port());
    let second = find(&rows, client_addr, server_addr)
        .and_then(|r| r.timer.clone())
        .expect("still in TIME_WAIT");
    assert!(
        second.remaining_ms < first.remaining_ms,
        "{} then {}",
        first.remaining_ms,
        second.remaining_ms
    );
    assert!(
        first.remaining_ms - second.remaining_ms >= 900,
        "about a second later"
    );
}

#[test]
fn details_return_tcp_info_for_one_connection() {
    let p = pair();
    let rows = read(p.server_addr.port());
    let row = find(&rows, p.client_addr, p.server_addr).expect("client end");
    let details = sockdiag()
        .details(&row.key)
        .expect("details dump")
        .expect("tcp_info for it");
    assert!(details.snd_cwnd > 0 && details.snd_mss > 0, "{details:?}");
    assert!(details.congestion.is_some());
    drop(p.listener);
}
