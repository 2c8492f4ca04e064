//! The sock_diag source on this kernel, against sockets the test opens.
#![cfg(target_os = "linux")]

mod common;

use common::{PATIENCE, pair, wait_for};
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use tcpscope::socket::{Family, SocketRow, StateSet, TcpState};
use tcpscope::source::{Cadence, Netstat2Source, Scope, SocketSource, sockdiag::SockDiagSource};

fn sockdiag() -> SockDiagSource {
    SockDiagSource::new(Cadence::Once).expect("sock_diag is available on Linux")
}

fn read(port: u16) -> Vec<SocketRow> {
    sockdiag()
        .dump(&Scope::on_port(Some(port)))
        .expect("dump")
        .rows
}

/// Rows of sockets a process holds (an inode): a port number may also
/// carry TIME_WAITs or orphans that an earlier run left behind.
fn held(rows: Vec<SocketRow>) -> Vec<SocketRow> {
    rows.into_iter().filter(|r| r.inode.is_some()).collect()
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
                .dump(&Scope::on_port(Some(port)))
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
    let rows = held(read(pa));
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
    // A port no socket of ours uses returns none of ours, without error.
    // The port stays bound (not listening, so in no table) while it is
    // read: a freed one could become another test's connection.
    let (_holder, unused) = common::reserve_port();
    assert!(held(read(unused)).is_empty());
}

#[test]
fn a_single_reading_can_leave_states_to_the_kernel() {
    // A listener, one connection, and a TIME_WAIT of a second one.
    let a = pair();
    let port = a.server_addr.port();
    let listener = &a.listener;
    let c = TcpStream::connect(a.server_addr).expect("connect");
    let (s, _) = listener.accept().expect("accept");
    drop(c);
    std::thread::sleep(Duration::from_millis(50));
    drop(s);
    let read = |states: &[TcpState]| {
        let scope = Scope {
            port: Some(port),
            states: Some(StateSet::of(states.iter().copied())),
            ..Scope::default()
        };
        let rows = sockdiag().dump(&scope).expect("dump").rows;
        rows.iter().map(|r| r.state).collect::<BTreeSet<_>>()
    };
    let only = |s: TcpState| BTreeSet::from([s]);
    let time_wait = || (read(&[TcpState::TimeWait]) == only(TcpState::TimeWait)).then_some(());
    assert!(
        wait_for(PATIENCE, time_wait).is_some(),
        "only the TIME_WAIT"
    );
    assert_eq!(read(&[TcpState::Listen]), only(TcpState::Listen));
    assert_eq!(read(&[TcpState::Established]), only(TcpState::Established));
    assert_eq!(
        read(&[TcpState::Listen, TcpState::Established]),
        BTreeSet::from([TcpState::Listen, TcpState::Established])
    );
    assert!(read(&[TcpState::SynSent]).is_empty());
}

#[test]
fn the_kernel_counters_move_with_every_change_of_ours() {
    let mut source = sockdiag();
    source.may_have_changed();
    let a = pair();
    assert!(source.may_have_changed(), "a connection opened");
    a.client
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    // The FIN is a segment: FIN_WAIT_2 and CLOSE_WAIT, no count changed.
    assert!(source.may_have_changed(), "a connection half-closed");
    drop(a);
    assert!(source.may_have_changed(), "a connection closed");
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
    // An IPv4 socket of another test may hold the same port number.
    let rows: Vec<SocketRow> = held(read(addr.port()))
        .into_iter()
        .filter(|r| r.key.family == Family::Inet6)
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
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

#[test]
fn a_time_wait_has_no_owner_and_keeps_its_connections_cookie() {
    let p = pair();
    let port = p.server_addr.port();
    let rows = read(port);
    let est = find(&rows, p.client_addr, p.server_addr)
        .expect("client end")
        .clone();
    assert!(est.uid.is_some() && est.cookie.is_some(), "{est:?}");
    drop(p.client);
    std::thread::sleep(Duration::from_millis(30));
    drop(p.server);
    let tw = wait_for(PATIENCE, || {
        let rows = read(port);
        find(&rows, p.client_addr, p.server_addr)
            .filter(|r| r.state == TcpState::TimeWait)
            .cloned()
    })
    .expect("TIME_WAIT");
    assert_eq!(
        tw.uid, None,
        "the kernel reports no owner for a timewait socket"
    );
    assert_eq!(tw.inode, None);
    assert_eq!(tw.cookie, est.cookie, "one connection, one cookie");
}

#[test]
fn an_orphaned_fin_wait_2_runs_the_fin_timeout() {
    use std::net::Shutdown;
    let p = pair();
    // Half-close: our FIN is acknowledged (FIN_WAIT_2), the peer keeps
    // its end open; then close(): an orphan the kernel finishes alone.
    p.client.shutdown(Shutdown::Write).expect("shutdown");
    std::thread::sleep(Duration::from_millis(30));
    drop(p.client);
    let timer = wait_for(PATIENCE, || {
        let rows = read(p.server_addr.port());
        let r = find(&rows, p.client_addr, p.server_addr)?;
        (r.state == TcpState::FinWait2)
            .then(|| r.timer.clone())
            .flatten()
    })
    .expect("a FIN_WAIT_2 with a timer");
    assert_eq!(timer.kind.name(), "fin_timeout", "not 'timewait'");
    let limit = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fin_timeout")
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(60);
    assert!(timer.remaining_ms <= limit * 1000, "{timer:?}");
    drop(p.server);
}

mod faults {
    //! A receive error in the middle of a dump (ENOBUFS under memory
    //! pressure) must not wedge the table: the reading is retried on a
    //! fresh socket, and if it cannot be read now, the next one is.
    use super::*;
    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tcpscope::pipeline::runner::{Feed, Runner};
    use tcpscope::source::sockdiag::netlink::{self, NetlinkError, Progress};
    use tcpscope::source::sockdiag::{NetlinkIo, kernel_socket};
    use tcpscope::source::{Limit, Sources};

    const ENOBUFS: i32 = 105;

    /// A real netlink socket whose receives fail on the listed calls
    /// (counted across every socket the source opens).
    struct Flaky {
        inner: Box<dyn NetlinkIo>,
        calls: Arc<AtomicUsize>,
        fail: Arc<Vec<usize>>,
    }

    impl NetlinkIo for Flaky {
        fn send(&mut self, request: &[u8]) -> io::Result<()> {
            self.inner.send(request)
        }

        fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.fail.contains(&n) {
                return Err(io::Error::from_raw_os_error(ENOBUFS));
            }
            self.inner.recv(buf)
        }
    }

    fn flaky(fail: Vec<usize>) -> (SockDiagSource, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let (c, fail) = (calls.clone(), Arc::new(fail));
        let opener = Box::new(move || -> io::Result<Box<dyn NetlinkIo>> {
            Ok(Box::new(Flaky {
                inner: kernel_socket()?,
                calls: c.clone(),
                fail: fail.clone(),
            }))
        });
        let source = SockDiagSource::with_io(opener, Cadence::Once).expect("a source");
        (source, calls)
    }

    /// A listener and `n` connections: enough rows for several datagrams.
    fn many(n: usize) -> (TcpListener, Vec<(TcpStream, TcpStream)>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let pairs = (0..n)
            .map(|_| {
                let c = TcpStream::connect(addr).expect("connect");
                (c, listener.accept().expect("accept").0)
            })
            .collect();
        (listener, pairs)
    }

    #[test]
    fn an_abandoned_dump_wedges_its_socket_so_it_must_be_replaced() {
        // What the kernel does, and why a failed dump drops its socket:
        // a socket left mid-dump refuses the next dump with EBUSY.
        let (listener, _pairs) = many(100);
        let port = listener.local_addr().expect("addr").port();
        let program = tcpscope::source::sockdiag::bytecode::either_port(port);
        let mut nl = kernel_socket().expect("netlink");
        let mut buf = vec![0u8; 65536];
        nl.send(&netlink::dump_request(
            netlink::AF_INET,
            0,
            netlink::ALL_STATES,
            &program,
            1,
        ))
        .expect("send");
        let n = nl.recv(&mut buf).expect("first part");
        assert_eq!(
            netlink::parse(&buf[..n], 1, |_| {}),
            Ok(Progress::More),
            "more to come"
        );
        nl.send(&netlink::dump_request(
            netlink::AF_INET,
            0,
            netlink::ALL_STATES,
            &program,
            2,
        ))
        .expect("send");
        let mut answer = Ok(Progress::More);
        while answer == Ok(Progress::More) {
            let n = nl.recv(&mut buf).expect("recv");
            answer = netlink::parse(&buf[..n], 2, |_| {});
        }
        assert_eq!(answer, Err(NetlinkError::Kernel(16)), "EBUSY");
    }

    #[test]
    fn a_receive_error_mid_dump_is_retried_on_a_fresh_socket() {
        let (listener, _pairs) = many(100);
        let port = listener.local_addr().expect("addr").port();
        let scope = Scope::on_port(Some(port));
        let clean = tuples(&held(sockdiag().dump(&scope).expect("clean").rows));
        assert_eq!(clean.len(), 201);
        // The second receive is in the middle of the first dump.
        let (mut source, calls) = flaky(vec![2]);
        let rows = source.dump(&scope).expect("read despite the error").rows;
        assert!(
            calls.load(Ordering::SeqCst) > 3,
            "it read on after the failure"
        );
        let rows = held(rows);
        assert_eq!(rows.len(), clean.len(), "nothing doubled");
        assert_eq!(tuples(&rows), clean, "nothing lost");
        let note = source
            .degradations()
            .into_iter()
            .find(|d| d.limit == Limit::TableRecovered)
            .expect("the recovery is reported");
        assert!(note.why.contains("No buffer space available"), "{note}");
        assert!(!note.why.contains("os error"), "no bare OS error: {note}");
    }

    #[test]
    fn a_reading_that_keeps_failing_is_reported_and_the_next_one_recovers() {
        let (listener, pairs) = many(3);
        let port = listener.local_addr().expect("addr").port();
        // Every attempt of the first reading fails at its first receive.
        let (source, _) = flaky(vec![1, 2, 3, 4]);
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let scope = Scope::on_port(Some(port));
        let runner = Runner::spawn(
            Sources::table_only(Box::new(source)),
            scope,
            Duration::from_millis(50),
            tx,
        )
        .expect("runner");
        let deadline = std::time::Instant::now() + PATIENCE;
        let mut failed = None;
        let rows = loop {
            assert!(std::time::Instant::now() < deadline, "never recovered");
            match rx.try_recv() {
                Ok(Feed::Failed(text)) => failed = Some(text),
                Ok(Feed::Update(u)) => {
                    break u
                        .delta
                        .changed
                        .iter()
                        .filter(|c| c.row.inode.is_some())
                        .map(|c| (c.row.key.label(), c.state()))
                        .collect::<Vec<_>>();
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        drop(runner);
        let failed = failed
            .expect("the failed reading was reported first")
            .to_string();
        assert!(failed.contains("cannot read the socket table"), "{failed}");
        assert!(failed.contains("No buffer space available"), "{failed}");
        assert_eq!(
            rows.len(),
            7,
            "the listener and both ends of three connections: {rows:?}"
        );
        drop(pairs);
    }
}

/// One request reads both families, so the kernel's tables are walked
/// once; a kernel that refuses that request is read family by family.
mod families {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tcpscope::source::sockdiag::netlink::{SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK};
    use tcpscope::source::sockdiag::{NetlinkIo, kernel_socket};

    const EINVAL: i32 = 22;

    /// A real netlink socket that notes each request's type and, if told
    /// to, answers the one-pass request with EINVAL as a kernel without it
    /// would.
    struct Noting {
        inner: Box<dyn NetlinkIo>,
        kinds: Arc<Mutex<Vec<u16>>>,
        refuse: bool,
        refusal: Option<Vec<u8>>,
    }

    impl NetlinkIo for Noting {
        fn send(&mut self, request: &[u8]) -> io::Result<()> {
            let kind = u16::from_ne_bytes([request[4], request[5]]);
            self.kinds.lock().expect("kinds").push(kind);
            if self.refuse && kind == TCPDIAG_GETSOCK {
                self.refusal = Some(error_reply(&request[..16], EINVAL));
                return Ok(());
            }
            self.inner.send(request)
        }

        fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.refusal.take() {
                Some(reply) => {
                    buf[..reply.len()].copy_from_slice(&reply);
                    Ok(reply.len())
                }
                None => self.inner.recv(buf),
            }
        }
    }

    /// NLMSG_ERROR with `-errno`, quoting the request's header.
    fn error_reply(header: &[u8], errno: i32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&36u32.to_ne_bytes());
        out.extend_from_slice(&2u16.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&header[8..12]);
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&(-errno).to_ne_bytes());
        out.extend_from_slice(header);
        out
    }

    fn noting(refuse: bool) -> (SockDiagSource, Arc<Mutex<Vec<u16>>>) {
        let kinds = Arc::new(Mutex::new(Vec::new()));
        let k = kinds.clone();
        let opener = Box::new(move || -> io::Result<Box<dyn NetlinkIo>> {
            Ok(Box::new(Noting {
                inner: kernel_socket()?,
                kinds: k.clone(),
                refuse,
                refusal: None,
            }))
        });
        let source = SockDiagSource::with_io(opener, Cadence::Once).expect("a source");
        (source, kinds)
    }

    /// A connection over IPv4 and one over IPv6 on the same port number.
    fn on_both_families() -> (u16, Vec<TcpListener>, Vec<(TcpStream, TcpStream)>) {
        let v4 = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = v4.local_addr().expect("addr").port();
        let v6 = TcpListener::bind(("::1", port)).expect("bind ::1 on the same port");
        let pairs = [&v4, &v6]
            .iter()
            .map(|l| {
                let c = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
                (c, l.accept().expect("accept").0)
            })
            .collect();
        (port, vec![v4, v6], pairs)
    }

    fn families(rows: &[SocketRow]) -> Vec<(Family, TcpState)> {
        let mut out: Vec<_> = rows.iter().map(|r| (r.key.family, r.state)).collect();
        out.sort();
        out
    }

    fn expected() -> Vec<(Family, TcpState)> {
        use TcpState::{Established, Listen};
        let mut out = vec![(Family::Inet, Listen), (Family::Inet6, Listen)];
        out.extend([(Family::Inet, Established); 2]);
        out.extend([(Family::Inet6, Established); 2]);
        out.sort();
        out
    }

    #[test]
    fn one_request_reads_both_families() {
        let (port, _listeners, _pairs) = on_both_families();
        let (mut source, kinds) = noting(false);
        let rows = held(source.dump(&Scope::on_port(Some(port))).expect("dump").rows);
        assert_eq!(families(&rows), expected());
        assert_eq!(*kinds.lock().expect("kinds"), vec![TCPDIAG_GETSOCK]);
    }

    #[test]
    fn a_kernel_that_refuses_it_is_read_family_by_family() {
        let (port, _listeners, _pairs) = on_both_families();
        let (mut source, kinds) = noting(true);
        let scope = Scope::on_port(Some(port));
        for _ in 0..2 {
            let rows = held(source.dump(&scope).expect("dump").rows);
            assert_eq!(families(&rows), expected());
        }
        let by_family = SOCK_DIAG_BY_FAMILY;
        assert_eq!(
            *kinds.lock().expect("kinds"),
            vec![TCPDIAG_GETSOCK, by_family, by_family, by_family, by_family],
            "refused once, then never asked again"
        );
        assert!(
            source.degradations().is_empty(),
            "a refusal is not a failure: {:?}",
            source.degradations()
        );
    }
}

/// Exact requests: each socket by its ends, the kernel's own lookup, no
/// table walk.
mod exact {
    use super::*;
    use tcpscope::socket::SocketKey;
    use tcpscope::source::Wanted;

    fn wanted(local: SocketAddr, remote: SocketAddr, cookie: Option<u64>) -> Wanted {
        Wanted {
            key: SocketKey::new(Family::Inet, local, remote),
            cookie,
            owner: None,
        }
    }

    #[test]
    fn finds_both_ends_the_listener_and_a_time_wait_and_not_the_rest() {
        let p = pair();
        let (c, s) = (p.client_addr, p.server_addr);
        // A connection whose client closed first: its end is in TIME_WAIT.
        let q = pair();
        let (qc, qs) = (q.client_addr, q.server_addr);
        drop(q.client);
        drop(q.server);
        let time_wait = wait_for(PATIENCE, || {
            let rows = read(qs.port());
            find(&rows, qc, qs)
                .filter(|r| r.state == TcpState::TimeWait)
                .cloned()
        })
        .expect("the closing end reaches TIME_WAIT");
        let unspecified: SocketAddr = "0.0.0.0:0".parse().expect("addr");
        let asked = [
            wanted(c, s, None),
            wanted(s, c, None),
            wanted(s, unspecified, None),
            wanted(qc, qs, time_wait.cookie),
            // A port nobody uses, and a real socket under a wrong cookie.
            wanted(c, "127.0.0.1:1".parse().expect("addr"), None),
            wanted(c, s, Some(1)),
        ];
        let rows = sockdiag().look_up(&asked).expect("answers");
        let states: Vec<Option<TcpState>> =
            rows.iter().map(|r| r.as_ref().map(|r| r.state)).collect();
        assert_eq!(
            states,
            [
                Some(TcpState::Established),
                Some(TcpState::Established),
                Some(TcpState::Listen),
                Some(TcpState::TimeWait),
                None,
                None,
            ]
        );
        let tw = rows[3].as_ref().expect("the TIME_WAIT");
        let timer = tw.timer.as_ref().expect("its countdown");
        assert!(
            timer.remaining_ms > 0 && timer.remaining_ms <= 60_000,
            "{timer:?}"
        );
        let client = rows[0].as_ref().expect("the client end");
        assert_eq!((client.key.local, client.key.remote), (c, s));
        assert!(
            client.inode.is_some() && client.cookie.is_some(),
            "{client:?}"
        );
        drop(p);
    }

    #[test]
    fn many_at_once_answer_in_the_order_asked() {
        let pairs: Vec<_> = (0..300).map(|_| pair()).collect();
        let asked: Vec<Wanted> = pairs
            .iter()
            .flat_map(|p| {
                [
                    wanted(p.client_addr, p.server_addr, None),
                    wanted(p.server_addr, p.client_addr, None),
                ]
            })
            .collect();
        let rows = sockdiag().look_up(&asked).expect("answers");
        assert_eq!(rows.len(), 600);
        for (w, row) in asked.iter().zip(&rows) {
            let row = row
                .as_ref()
                .unwrap_or_else(|| panic!("{:?} not found", w.key));
            assert_eq!((row.key.local, row.key.remote), (w.key.local, w.key.remote));
        }
    }
}

/// `K` in the view: the kernel destroys one socket, as `ss -K` does.
mod destroy {
    use super::*;
    use std::io::{ErrorKind, Read, Write};
    use tcpscope::source::sockdiag::destroy;
    use tcpscope::source::sockdiag::destroy::DestroyError;

    #[test]
    fn the_owner_gets_econnaborted_and_the_peer_a_reset() {
        if !common::is_root() {
            eprintln!("skipped: destroying a socket needs CAP_NET_ADMIN (run the tests as root)");
            return;
        }
        let mut a = pair();
        let port = a.server_addr.port();
        let rows = read(port);
        let client = find(&rows, a.client_addr, a.server_addr).expect("the client end");
        assert!(client.cookie.is_some(), "sock_diag gives the cookie");
        destroy(&client.key, client.cookie).expect("destroyed");
        let mut byte = [0u8; 1];
        let owner = a
            .client
            .read(&mut byte)
            .expect_err("the owner's call fails");
        assert_eq!(owner.kind(), ErrorKind::ConnectionAborted, "{owner}");
        let peer = a.server.read(&mut byte).expect_err("the peer was reset");
        assert_eq!(peer.kind(), ErrorKind::ConnectionReset, "{peer}");
        let _ = a.server.write(b"x");
        let ends = |rows: &[SocketRow]| find(rows, a.client_addr, a.server_addr).is_some();
        assert!(!ends(&held(read(port))), "the client end left the table");
        assert_eq!(
            destroy(&client.key, client.cookie),
            Err(DestroyError::Gone),
            "a second time: nothing to destroy"
        );
    }

    #[test]
    fn a_newer_socket_on_the_same_ends_is_not_hit_by_an_old_cookie() {
        if !common::is_root() {
            eprintln!("skipped: destroying a socket needs CAP_NET_ADMIN (run the tests as root)");
            return;
        }
        let a = pair();
        let rows = read(a.server_addr.port());
        let client = find(&rows, a.client_addr, a.server_addr).expect("the client end");
        let stale = client.cookie.map(|c| c.wrapping_add(1));
        assert_eq!(destroy(&client.key, stale), Err(DestroyError::Gone));
        let still = read(a.server_addr.port());
        assert!(
            find(&still, a.client_addr, a.server_addr).is_some(),
            "untouched"
        );
    }
}
