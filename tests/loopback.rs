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

/// A parent and its forked child share a listener; then the parent exits.
#[test]
#[cfg(target_os = "linux")]
fn a_socket_shared_with_a_forked_child_names_both_and_then_the_survivor() {
    use std::io::{BufRead, BufReader, Write};
    use tcpscope::socket::SocketRow;
    use tcpscope::source::ProcNames;
    let script = "import os, socket, sys, time\n\
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
        child = os.fork()\n\
        if child == 0:\n    time.sleep(30); os._exit(0)\n\
        print(s.getsockname()[1], os.getpid(), child, flush=True)\n\
        sys.stdin.readline()\n";
    let mut parent = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(parent.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port and pids");
    let nums: Vec<u32> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (port, parent_pid, child_pid) = (nums[0] as u16, nums[1], nums[2]);
    let mut row: SocketRow = read_port(port)
        .into_iter()
        .find(|r| r.state == TcpState::Listen)
        .expect("the shared listener");
    let mut names = ProcNames::refreshing_every(std::time::Duration::from_millis(100));
    let pids = |names: &mut ProcNames, row: &mut SocketRow| {
        names.fill(std::slice::from_mut(row));
        let mut p: Vec<u32> = row.owner.iter().flat_map(|o| o.pids()).collect();
        p.sort();
        p
    };
    let both = {
        let mut v = vec![parent_pid, child_pid];
        v.sort();
        v
    };
    let seen = wait_for(PATIENCE, || {
        (pids(&mut names, &mut row) == both).then_some(())
    });
    assert!(seen.is_some(), "both processes named: {:?}", row.owner);
    assert!(row.pid_label().contains('+'), "{}", row.pid_label());
    // The parent exits; the child still holds the socket.
    if let Some(mut stdin) = parent.stdin.take() {
        let _ = stdin.write_all(b"\n");
    }
    let _ = parent.wait();
    let seen = wait_for(PATIENCE, || {
        (pids(&mut names, &mut row) == [child_pid]).then_some(())
    });
    let _ = std::process::Command::new("kill")
        .arg(child_pid.to_string())
        .status();
    assert!(
        seen.is_some(),
        "only the survivor is named now: {:?}",
        row.owner
    );
}
