//! The netstat2 source against sockets this test opens on loopback:
//! the states must be what the kernel says at each step of a close.

mod common;

use common::{PATIENCE, pair, read_port, state_in, wait_for};
use tcpscope::socket::TcpState;

#[test]
fn both_ends_established_then_four_way_close() {
    let p = pair();
    let port = p.server_addr.port();
    let client_end = |rows: &[_]| state_in(rows, p.client_addr, p.server_addr);
    let server_end = |rows: &[_]| state_in(rows, p.server_addr, p.client_addr);

    let rows = read_port(port);
    assert_eq!(client_end(&rows), Some(TcpState::Established));
    assert_eq!(server_end(&rows), Some(TcpState::Established));
    assert_eq!(
        state_in(&rows, p.server_addr, "0.0.0.0:0".parse().expect("addr")),
        Some(TcpState::Listen)
    );

    drop(p.client);
    let half_closed = wait_for(PATIENCE, || {
        let rows = read_port(port);
        let both = (client_end(&rows), server_end(&rows));
        (both == (Some(TcpState::FinWait2), Some(TcpState::CloseWait))).then_some(both)
    });
    assert!(
        half_closed.is_some(),
        "client FIN_WAIT_2 / server CLOSE_WAIT, got {:?}",
        {
            let rows = read_port(port);
            (client_end(&rows), server_end(&rows))
        }
    );

    drop(p.server);
    let closed = wait_for(PATIENCE, || {
        let rows = read_port(port);
        (client_end(&rows) == Some(TcpState::TimeWait) && server_end(&rows).is_none()).then_some(())
    });
    assert!(closed.is_some(), "client TIME_WAIT and server end gone");
}

#[test]
fn ipv6_loopback_is_reported_too() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: this machine has no ::1");
        return;
    };
    let addr = listener.local_addr().expect("address");
    let client = std::net::TcpStream::connect(addr).expect("connect");
    let local = client.local_addr().expect("client address");
    let rows = read_port(addr.port());
    let row = rows
        .iter()
        .find(|r| r.key.local == local)
        .expect("client end reported");
    assert_eq!(row.state, TcpState::Established);
    assert_eq!(row.key.family, tcpscope::socket::Family::Inet6);
}

#[test]
fn our_own_process_is_named() {
    let p = pair();
    let rows = read_port(p.server_addr.port());
    let row = rows
        .iter()
        .find(|r| r.key.local == p.client_addr)
        .expect("client end reported");
    if cfg!(target_os = "linux") {
        let owner = row.owner.as_deref().expect("an owner");
        assert!(
            owner.pids().any(|p| p == std::process::id()),
            "owner {owner:?}"
        );
        assert!(owner.name().is_some());
    }
}
