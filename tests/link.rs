//! The slow-motion link on real kernels: a connection between its two
//! namespaces, delayed, stepped segment by segment, with a segment
//! dropped, and nothing left behind when the process holding it is
//! killed. The link needs root (namespaces, TUN devices); elsewhere the
//! tests say why they skip.
#![cfg(target_os = "linux")]

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};
use tcpscope::socket::segment::{Flags, Header};
use tcpscope::source::capture;
use tcpscope::source::link::{
    DEVICE, Direction, Fate, LinkConfig, LinkControl, Namespace, Passage, SERVER_ADDR, SlowLink,
};

/// Any port will do: nothing else lives in the link's namespaces.
const PORT: u16 = 7070;
/// Tells the test binary, run again, to be the process that holds a link.
const HOLD: &str = "TCPSCOPE_TEST_HOLD_WIRE";

fn server_addr() -> SocketAddr {
    SocketAddr::from((SERVER_ADDR, PORT))
}

/// A link, or `None` (with the reason printed) where it cannot be made.
fn wire(delay: Duration, step: bool) -> Option<SlowLink> {
    if !common::is_root() {
        eprintln!("skipped: the slow-motion link needs root (network namespaces, TUN devices)");
        return None;
    }
    Some(SlowLink::create(LinkConfig { delay, step }).expect("create the link"))
}

fn listen(wire: &SlowLink) -> TcpListener {
    wire.server
        .run(|| TcpListener::bind(server_addr()))
        .expect("enter the server namespace")
        .expect("listen in the server namespace")
}

fn connect(ns: &Namespace) -> std::io::Result<TcpStream> {
    ns.run(|| TcpStream::connect_timeout(&server_addr(), Duration::from_secs(30)))
        .expect("enter the client namespace")
}

/// `ss -tan` as seen from inside `ns`.
fn ss_in(ns: &Namespace) -> String {
    let out = ns
        .run(|| Command::new("ss").arg("-tan").output())
        .expect("enter the namespace")
        .expect("run ss");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The states `ss` shows inside `ns` for sockets on the test's port.
fn states(ns: &Namespace) -> Vec<String> {
    let suffix = format!(":{PORT}");
    ss_in(ns)
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w.ends_with(&suffix)))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn has_state(ns: &Namespace, state: &str) -> bool {
    states(ns).iter().any(|s| s == state)
}

fn until(what: &str, mut probe: impl FnMut() -> bool) {
    common::wait_for(common::PATIENCE, || probe().then_some(()))
        .unwrap_or_else(|| panic!("waited in vain for {what}"));
}

fn header(p: &Passage) -> Header {
    capture::parse(&p.packet, PORT).expect("a TCP segment of the test's port")
}

fn flags_are(p: &Passage, bits: u8) -> bool {
    header(p).flags == Flags(bits)
}

/// Every passage reported so far, added to `seen`.
fn drain(wire: &mut SlowLink, seen: &mut Vec<Passage>) {
    while let Ok(p) = wire.passages.try_recv() {
        seen.push(p);
    }
}

/// The oldest waiting packet, once one waits.
fn first_waiting(control: &LinkControl) -> Passage {
    let waiting = common::wait_for(common::PATIENCE, || control.waiting().into_iter().next());
    waiting.expect("a packet waits on the link")
}

#[test]
fn a_handshake_crosses_the_link_and_the_host_sees_none_of_it() {
    let Some(mut wire) = wire(Duration::ZERO, false) else {
        return;
    };
    let listener = listen(&wire);
    let mut client = connect(&wire.client).expect("connect across the link");
    let (mut server, _) = listener.accept().expect("accept");
    client.write_all(b"ping").expect("send");
    let mut got = [0u8; 4];
    server.read_exact(&mut got).expect("receive");
    assert_eq!(&got, b"ping");

    let mut seen = Vec::new();
    let delivered = |seen: &[Passage], dir, bits| {
        seen.iter()
            .any(|p| p.fate == Fate::Delivered && p.direction == dir && flags_are(p, bits))
    };
    until("the handshake's reports", || {
        drain(&mut wire, &mut seen);
        delivered(&seen, Direction::ServerToClient, Flags::SYN | Flags::ACK)
    });
    assert!(delivered(&seen, Direction::ClientToServer, Flags::SYN));

    let host = Command::new("ss").arg("-tan").output().expect("run ss");
    let host = String::from_utf8_lossy(&host.stdout);
    assert!(!host.contains("198.18.0.2"), "the host sees it:\n{host}");
    let inside = ss_in(&wire.client);
    assert!(
        inside.contains(&format!("198.18.0.2:{PORT}")),
        "the client namespace does not:\n{inside}"
    );
    assert!(has_state(&wire.server, "ESTAB"));
}

#[test]
fn a_delay_on_each_crossing_slows_the_handshake_by_a_round_trip() {
    let Some(wire) = wire(Duration::from_millis(300), false) else {
        return;
    };
    let _listener = listen(&wire);
    let started = Instant::now();
    connect(&wire.client).expect("connect across the slow link");
    let took = started.elapsed();
    eprintln!("connect() over a 300 ms link took {took:?}");
    assert!(took >= Duration::from_millis(550), "too fast: {took:?}");
}

#[test]
fn step_mode_moves_the_handshake_one_segment_at_a_time() {
    let Some(wire) = wire(Duration::ZERO, true) else {
        return;
    };
    let control = wire.control();
    let _listener = listen(&wire);
    std::thread::scope(|s| {
        let connecting = s.spawn(|| connect(&wire.client));

        let syn = first_waiting(&control);
        assert_eq!(control.waiting().len(), 1);
        assert_eq!(syn.direction, Direction::ClientToServer);
        assert!(flags_are(&syn, Flags::SYN));
        assert!(has_state(&wire.client, "SYN-SENT"));
        assert!(!has_state(&wire.server, "SYN-RECV"));

        assert!(control.release_next());
        until("SYN-RECV on the server", || {
            has_state(&wire.server, "SYN-RECV")
        });
        let syn_ack = first_waiting(&control);
        assert_eq!(syn_ack.direction, Direction::ServerToClient);
        assert!(flags_are(&syn_ack, Flags::SYN | Flags::ACK));
        assert!(has_state(&wire.client, "SYN-SENT"));

        assert!(control.release_next());
        until("ESTAB on the client", || has_state(&wire.client, "ESTAB"));
        let ack = first_waiting(&control);
        assert_eq!(ack.direction, Direction::ClientToServer);
        assert!(flags_are(&ack, Flags::ACK));
        assert!(has_state(&wire.server, "SYN-RECV"));

        assert!(control.release_next());
        until("ESTAB on the server", || has_state(&wire.server, "ESTAB"));
        let joined = connecting.join().expect("the connecting thread");
        joined.expect("connect once the handshake is through");
    });
}

#[test]
fn a_dropped_syn_is_sent_again_by_the_clients_kernel() {
    let Some(mut wire) = wire(Duration::ZERO, true) else {
        return;
    };
    let control = wire.control();
    let _listener = listen(&wire);
    std::thread::scope(|s| {
        let connecting = s.spawn(|| connect(&wire.client));
        let first = first_waiting(&control);
        assert!(flags_are(&first, Flags::SYN));
        control.drop_next();
        let again = common::wait_for(common::PATIENCE, || {
            control.waiting().into_iter().find(|p| p.seq != first.seq)
        })
        .expect("the SYN comes again");
        assert!(flags_are(&again, Flags::SYN));
        assert_eq!(header(&again).seq, header(&first).seq, "the same SYN");
        let gap = again.at.duration_since(first.at);
        eprintln!("the SYN came again after {gap:?}");
        assert!(gap >= Duration::from_millis(900), "too soon: {gap:?}");
        control.set_step(false);
        let joined = connecting.join().expect("the connecting thread");
        joined.expect("connect once the link lets packets through");
    });
    let mut seen = Vec::new();
    drain(&mut wire, &mut seen);
    let dropped: Vec<&Passage> = seen.iter().filter(|p| p.fate == Fate::Dropped).collect();
    assert_eq!(dropped.len(), 1, "one drop: {dropped:?}");
    assert!(flags_are(dropped[0], Flags::SYN));
}

/// Run by the tests below in a process of its own: holds a link, says
/// which namespaces it made (or why it could not), and waits to be killed.
#[test]
#[ignore = "a helper: the tests below run it in a process of their own"]
fn hold_a_link_until_killed() {
    if std::env::var_os(HOLD).is_none() {
        return;
    }
    let wire = match SlowLink::create(LinkConfig::default()) {
        Ok(wire) => wire,
        Err(why) => {
            println!("refused: {why}");
            return;
        }
    };
    let inode = |ns: &Namespace| ns.inode().expect("the namespace's inode");
    println!("ready: {} {}", inode(&wire.client), inode(&wire.server));
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The holder, started through `prefix` (a command and its arguments, to
/// run it as another user), and the rest of the line it answers with
/// ("ready" or "refused") once it does.
fn hold(prefix: &[&str]) -> (std::process::Child, String, String) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = match prefix.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    cmd.args(["--exact", "hold_a_link_until_killed", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(HOLD, "1");
    let (mut child, lines) = common::spawn_lines(&mut cmd);
    let answer = common::wait_for(Duration::from_secs(30), || {
        let line = lines.recv_timeout(Duration::from_millis(100)).ok()?;
        // libtest's "test … ... " comes first on the line.
        ["ready: ", "refused: "].iter().find_map(|word| {
            let (_, rest) = line.split_once(word)?;
            Some((word.trim_end_matches(": ").to_string(), rest.to_string()))
        })
    });
    let Some((word, rest)) = answer else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the holder never answered");
    };
    (child, word, rest)
}

/// `net:[inode]` for every network namespace a process or one of its
/// descriptors refers to now.
fn namespaces_in_use() -> HashSet<String> {
    let mut found = HashSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for proc in procs.flatten() {
        for sub in ["task", "fd"] {
            let Ok(entries) = std::fs::read_dir(proc.path().join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let link = match sub {
                    "task" => entry.path().join("ns/net"),
                    _ => entry.path(),
                };
                if let Ok(target) = std::fs::read_link(link) {
                    found.insert(target.to_string_lossy().into_owned());
                }
            }
        }
    }
    found
}

fn lsns_net() -> String {
    let out = Command::new("lsns")
        .args(["-t", "net", "-n", "-o", "NS"])
        .output()
        .expect("run lsns");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_killed_process_leaves_no_namespace_and_no_device() {
    if !common::is_root() {
        eprintln!("skipped: the slow-motion link needs root (network namespaces, TUN devices)");
        return;
    }
    let (mut child, word, inodes) = hold(&[]);
    let in_use = namespaces_in_use();
    child.kill().expect("SIGKILL the holder");
    child.wait().expect("reap the holder");
    assert_eq!(word, "ready", "{inodes}");
    let held: Vec<String> = inodes
        .split_whitespace()
        .map(|inode| format!("net:[{inode}]"))
        .collect();
    assert_eq!(held.len(), 2, "two namespaces: {inodes}");
    assert!(
        held.iter().all(|ns| in_use.contains(ns)),
        "not held: {held:?}"
    );

    until("the namespaces to go", || {
        let in_use = namespaces_in_use();
        held.iter().all(|ns| !in_use.contains(ns))
    });
    let listed = lsns_net();
    for ns in &held {
        let inode = ns.trim_start_matches("net:[").trim_end_matches(']');
        assert!(!listed.lines().any(|l| l.trim() == inode), "lsns: {ns}");
    }
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(!links.contains(DEVICE), "a device on the host:\n{links}");
}

#[test]
fn dropping_the_link_lets_its_namespaces_go() {
    let Some(wire) = wire(Duration::ZERO, false) else {
        return;
    };
    let inode = |ns: &Namespace| format!("net:[{}]", ns.inode().expect("inode"));
    let held = [inode(&wire.client), inode(&wire.server)];
    assert!(held.iter().all(|ns| namespaces_in_use().contains(ns)));
    drop(wire);
    let in_use = namespaces_in_use();
    assert!(held.iter().all(|ns| !in_use.contains(ns)), "{held:?}");
}

#[test]
fn without_root_it_says_root_is_needed() {
    if !common::is_root() {
        eprintln!("skipped: needs root to drop to an unprivileged user");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: no setpriv here (util-linux)");
        return;
    }
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
    ];
    let exe = std::env::current_exe().expect("the test binary");
    let runs = Command::new(nobody[0])
        .args(&nobody[1..])
        .arg(exe)
        .arg("--list")
        .output()
        .is_ok_and(|out| out.status.success());
    if !runs {
        eprintln!("skipped: the unprivileged user cannot run the test binary here");
        return;
    }
    let (mut child, word, why) = hold(&nobody);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(word, "refused", "{why}");
    assert_eq!(
        why,
        "the slow-motion link needs root (it creates network namespaces and TUN devices): run tcpscope as root"
    );
}
