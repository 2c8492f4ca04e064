//! The lab driven headlessly: each test sends the commands a person would
//! press and checks what the kernel's socket table says, through the
//! project's own source, for the 4-tuples the lab reports.

mod common;

use common::{read_port, state_in};
use std::net::SocketAddr;
use std::time::Duration;
use tcpscope::lab::{
    Lab, LabCommand, LabConfig, LabEvent, LabSocket, ServerOptions, Side, SocketCall,
};
use tcpscope::socket::TcpState;
use tokio::sync::mpsc::UnboundedReceiver;

const PATIENCE: Duration = Duration::from_secs(5);

struct Harness {
    lab: Lab,
    events: UnboundedReceiver<LabEvent>,
    sockets: Vec<LabSocket>,
    server: Option<SocketAddr>,
    settings: Option<tcpscope::lab::LabSettings>,
    notices: Vec<String>,
}

impl Harness {
    fn new(config: LabConfig) -> Self {
        let (lab, events) = Lab::spawn(config);
        Harness {
            lab,
            events,
            sockets: Vec::new(),
            server: None,
            settings: None,
            notices: Vec::new(),
        }
    }

    fn absorb(&mut self, ev: LabEvent) -> Option<(u64, Result<String, String>)> {
        match ev {
            LabEvent::Sockets(list) => self.sockets = list,
            LabEvent::Settings(s) => {
                self.server = s.running.as_ref().map(|r| r.addr);
                self.settings = Some(s);
            }
            LabEvent::Notice(e) => self.notices.push(e.to_string()),
            LabEvent::Outcome { seq, result } => {
                let result = result.map(|d| d.text).map_err(|e| e.to_string());
                return Some((seq, result));
            }
        }
        None
    }

    /// Sends a command and waits for its outcome.
    async fn run(&mut self, cmd: LabCommand) -> Result<String, String> {
        let seq = self.lab.send(cmd);
        loop {
            let ev = tokio::time::timeout(PATIENCE, self.events.recv())
                .await
                .expect("the lab answers in time")
                .expect("the lab is alive");
            if let Some((s, result)) = self.absorb(ev)
                && s == seq
            {
                return result;
            }
        }
    }

    /// Lets the socket list catch up.
    async fn settle(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(150);
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            self.absorb(ev);
        }
    }

    async fn start(&mut self, opts: ServerOptions) -> SocketAddr {
        let text = self
            .run(LabCommand::StartServer(opts))
            .await
            .expect("server starts");
        assert!(text.contains("listen(backlog="), "{text}");
        self.server.expect("server address reported")
    }

    async fn connect(&mut self, count: usize) {
        self.run(LabCommand::Connect { count })
            .await
            .expect("connects");
        self.settle().await;
    }

    /// Starts the server with `opts`, connects one client; returns the
    /// port and the two ends.
    async fn one_connection(&mut self, opts: ServerOptions) -> (u16, LabSocket, LabSocket) {
        let port = self.start(opts).await.port();
        self.connect(1).await;
        let (client, end) = self.ends();
        (port, client, end)
    }

    fn of_side(&self, side: Side) -> Vec<LabSocket> {
        self.sockets
            .iter()
            .filter(|s| s.side == side)
            .cloned()
            .collect()
    }

    /// The single client and the server end connected to it.
    fn ends(&self) -> (LabSocket, LabSocket) {
        let client = self.of_side(Side::Client).pop().expect("a client");
        let server = self
            .of_side(Side::Server)
            .into_iter()
            .find(|s| s.remote == Some(client.local))
            .expect("the server end of that client");
        (client, server)
    }
}

fn kernel_state(port: u16, s: &LabSocket) -> Option<TcpState> {
    state_in(&read_port(port), s.local, s.remote.expect("a connection"))
}

async fn wait_states(port: u16, want: &[(&LabSocket, Option<TcpState>)]) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let rows = read_port(port);
        let got: Vec<_> = want
            .iter()
            .map(|(s, _)| state_in(&rows, s.local, s.remote.expect("connection")))
            .collect();
        let expected: Vec<_> = want.iter().map(|(_, st)| *st).collect();
        if got == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kernel states {got:?}, wanted {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lab listener's (Recv-Q, Send-Q) from the sock_diag source, which
/// reports queues (netstat2 does not).
#[cfg(target_os = "linux")]
fn listen_queue(port: u16) -> (Option<u32>, Option<u32>) {
    use tcpscope::source::{Cadence, Scope, SocketSource, sockdiag::SockDiagSource};
    let mut source = SockDiagSource::new(Cadence::Once).expect("sock_diag");
    let rows = source.dump(&Scope::on_port(Some(port))).expect("dump").rows;
    let l = rows
        .iter()
        .find(|r| r.state == TcpState::Listen)
        .expect("the LISTEN row");
    (l.recv_q, l.send_q)
}

/// Recv-Q of the listener on `port`, as `ss` shows it.
fn ss_listen_queue(port: u16) -> Option<u32> {
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1)?.parse().ok()
}

fn id(s: &LabSocket) -> u32 {
    s.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_makes_both_ends_established() {
    let mut h = Harness::new(LabConfig::default());
    let server = h.start(ServerOptions::default()).await;
    assert!(server.ip().is_loopback(), "binds 127.0.0.1 by default");
    assert_ne!(server.port(), 0, "port 0 picked a real port");
    h.connect(1).await;
    let (client, end) = h.ends();
    assert_eq!(client.last_call, Some(SocketCall::Connect(server)));
    assert_eq!(end.last_call, Some(SocketCall::Accept));
    wait_states(
        server.port(),
        &[
            (&client, Some(TcpState::Established)),
            (&end, Some(TcpState::Established)),
        ],
    )
    .await;
    let listener = h.of_side(Side::Listener).pop().expect("listener");
    assert_eq!(
        state_in(
            &read_port(server.port()),
            listener.local,
            "0.0.0.0:0".parse().expect("addr")
        ),
        Some(TcpState::Listen)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_close_with_hold_then_server_close() {
    let mut h = Harness::new(LabConfig {
        hold: true,
        ..LabConfig::default()
    });
    let (port, client, end) = h.one_connection(ServerOptions::default()).await;
    let text = h
        .run(LabCommand::Close { id: id(&client) })
        .await
        .expect("close");
    assert!(text.contains("close()"), "{text}");
    wait_states(
        port,
        &[
            (&client, Some(TcpState::FinWait2)),
            (&end, Some(TcpState::CloseWait)),
        ],
    )
    .await;
    h.settle().await;
    assert!(h.ends().1.peer_closed, "the server end saw recv() return 0");

    h.run(LabCommand::Close { id: id(&end) })
        .await
        .expect("server close");
    wait_states(port, &[(&client, Some(TcpState::TimeWait)), (&end, None)]).await;
    h.settle().await;
    let (c, s) = h.ends();
    assert_eq!(
        (c.call_text().as_str(), s.call_text().as_str()),
        ("close()", "close()")
    );
    assert!(!c.open && !s.open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_closes_first_then_restart_needs_reuseaddr() {
    let mut h = Harness::new(LabConfig {
        hold: false,
        ..LabConfig::default()
    });
    let reuse = ServerOptions {
        reuseaddr: true,
        ..ServerOptions::default()
    };
    let (port, client, end) = h.one_connection(reuse.clone()).await;
    h.run(LabCommand::Close { id: id(&end) })
        .await
        .expect("server close");
    // Hold is off: the client closes when it sees the FIN.
    wait_states(port, &[(&end, Some(TcpState::TimeWait)), (&client, None)]).await;

    h.run(LabCommand::StopServer).await.expect("stop");
    let fixed = ServerOptions { port, ..reuse };
    let without = ServerOptions {
        reuseaddr: false,
        ..fixed.clone()
    };
    let err = h
        .run(LabCommand::StartServer(without))
        .await
        .expect_err("bind must fail");
    assert!(err.contains("Address already in use"), "{err}");
    assert!(
        err.contains("TIME_WAIT") && err.contains("SO_REUSEADDR"),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
    let ok = h
        .run(LabCommand::StartServer(fixed))
        .await
        .expect("SO_REUSEADDR lets it bind");
    assert!(ok.contains("SO_REUSEADDR"), "{ok}");
    assert_eq!(
        kernel_state(port, &end),
        Some(TcpState::TimeWait),
        "still in TIME_WAIT beside the new listener"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_explains_linux_needs_reuseaddr_on_both_servers() {
    let mut h = Harness::new(LabConfig {
        hold: false,
        ..LabConfig::default()
    });
    let (port, _, end) = h.one_connection(ServerOptions::default()).await;
    h.run(LabCommand::Close { id: id(&end) })
        .await
        .expect("server close");
    wait_states(port, &[(&end, Some(TcpState::TimeWait))]).await;
    h.run(LabCommand::StopServer).await.expect("stop");
    let again = ServerOptions {
        port,
        reuseaddr: true,
        ..ServerOptions::default()
    };
    let err = h
        .run(LabCommand::StartServer(again))
        .await
        .expect_err("the old server lacked it");
    assert!(err.contains("both need it"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_sends_rst_and_leaves_no_time_wait() {
    let mut h = Harness::new(LabConfig::default());
    let (port, client, end) = h.one_connection(ServerOptions::default()).await;
    let text = h
        .run(LabCommand::Abort { id: id(&client) })
        .await
        .expect("abort");
    assert!(
        text.contains("setsockopt(SO_LINGER, 0) + close()"),
        "{text}"
    );
    wait_states(port, &[(&client, None), (&end, None)]).await;
    h.settle().await;
    assert_eq!(h.ends().0.last_call, Some(SocketCall::Abort));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_still_delivers_data_the_other_way() {
    let mut h = Harness::new(LabConfig::default());
    let (port, client, end) = h.one_connection(ServerOptions::default()).await;
    h.run(LabCommand::ShutdownWrite { id: id(&client) })
        .await
        .expect("shutdown");
    wait_states(
        port,
        &[
            (&client, Some(TcpState::FinWait2)),
            (&end, Some(TcpState::CloseWait)),
        ],
    )
    .await;
    let text = h
        .run(LabCommand::Send {
            id: id(&end),
            text: "hello".into(),
        })
        .await
        .expect("send after peer's FIN");
    assert_eq!(text, format!("#{} send(5 bytes)", end.id));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while h.ends().0.received < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "client never received the 5 bytes"
        );
        h.settle().await;
    }
    let (c, s) = h.ends();
    assert_eq!((c.received, s.sent), (5, 5));
    assert!(c.write_shut);
    let refused = h
        .run(LabCommand::Send {
            id: id(&client),
            text: "x".into(),
        })
        .await;
    assert!(
        refused
            .expect_err("no sending after SHUT_WR")
            .contains("shutdown(SHUT_WR)")
    );
}

/// Linux: the queue sizes come from sock_diag.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_one_with_manual_accept_queues_then_drains() {
    let mut h = Harness::new(LabConfig {
        accept: tcpscope::lab::AcceptMode::Manual,
        ..LabConfig::default()
    });
    let opts = ServerOptions {
        backlog: 1,
        ..ServerOptions::default()
    };
    let port = h.start(opts).await.port();
    // Not awaited as a batch: some of these cannot complete while the queue is full.
    let seq = h.lab.send(LabCommand::Connect { count: 4 });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let clients = loop {
        h.settle().await;
        let clients = h.of_side(Side::Client);
        let rows = read_port(port);
        let states: Vec<_> = clients
            .iter()
            .map(|c| state_in(&rows, c.local, c.remote.expect("remote")))
            .collect();
        let waiting = states
            .iter()
            .filter(|s| **s == Some(TcpState::SynSent))
            .count();
        if clients.len() == 4 && waiting >= 1 {
            break clients;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no client waits in SYN_SENT: {states:?}"
        );
    };
    assert!(h.of_side(Side::Server).is_empty(), "nothing accepted yet");
    // The LISTEN row: Recv-Q is the accept queue, Send-Q the backlog; Linux
    // queues backlog + 1 before it counts the queue as full (handshakes
    // finishing at once on two CPUs can both pass that check), and the
    // queue holds still while the waiting SYNs are dropped: `ss` agrees.
    let (queued, backlog) = listen_queue(port);
    assert_eq!(backlog, Some(1));
    assert!(queued.is_some_and(|q| (2..=4).contains(&q)), "{queued:?}");
    assert_eq!(queued, ss_listen_queue(port), "what ss shows");
    // Accepting drains the queue; every client ends ESTABLISHED with a server end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while h.of_side(Side::Server).len() < 4 {
        let _ = h.run(LabCommand::AcceptOne).await;
        h.settle().await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue never drained"
        );
    }
    for c in &clients {
        assert_eq!(kernel_state(port, c), Some(TcpState::Established));
    }
    assert_eq!(listen_queue(port).0, Some(0), "accepting drained the queue");
    let _ = seq;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_actions_are_explained_and_harmless() {
    let mut h = Harness::new(LabConfig {
        max_connections: 3,
        ..LabConfig::default()
    });
    let err = h
        .run(LabCommand::Connect { count: 1 })
        .await
        .expect_err("no server");
    assert!(err.contains("start it with S"), "{err}");
    let port = h.start(ServerOptions::default()).await.port();
    let err = h
        .run(LabCommand::StartServer(ServerOptions::default()))
        .await
        .expect_err("already running");
    assert!(err.contains("already listening"), "{err}");
    let err = h
        .run(LabCommand::Connect { count: 4 })
        .await
        .expect_err("over the limit");
    assert!(err.contains("limit of 3"), "{err}");
    h.connect(1).await;
    let (client, _) = h.ends();
    h.run(LabCommand::Close { id: id(&client) })
        .await
        .expect("close");
    h.settle().await;
    let err = h
        .run(LabCommand::Close { id: id(&client) })
        .await
        .expect_err("already closed");
    assert!(err.contains("already closed (close())"), "{err}");
    let err = h
        .run(LabCommand::Send {
            id: 999,
            text: "x".into(),
        })
        .await
        .expect_err("no such socket");
    assert!(err.contains("no lab socket #999"), "{err}");
    // Connection refused, explained, on a port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let target = Some(tcpscope::lab::Target {
        host: "127.0.0.1".into(),
        port: free,
    });
    h.run(LabCommand::SetTarget(target))
        .await
        .expect("a target");
    let err = h
        .run(LabCommand::Connect { count: 1 })
        .await
        .expect_err("refused");
    assert!(
        err.contains("Connection refused") && err.contains("nothing is listening"),
        "{err}"
    );
    // The lab still works.
    assert_eq!(kernel_state(port, &h.ends().1), Some(TcpState::CloseWait));
}

/// Small buffers, a peer that stops reading, and a full window: the FIN
/// waits behind data, so the closer stays in FIN_WAIT_1 until the peer
/// reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_window_holds_fin_wait_1_until_the_peer_reads() {
    let mut h = Harness::new(LabConfig::default());
    let opts = ServerOptions {
        buffers: Some(4096),
        ..ServerOptions::default()
    };
    let (port, client, end) = h.one_connection(opts).await;
    h.run(LabCommand::SetReading {
        id: id(&end),
        on: false,
    })
    .await
    .expect("server stops reading");
    // No echo: data sent back to a closed socket would be answered with RST.
    h.run(LabCommand::SetEcho {
        id: id(&end),
        on: false,
    })
    .await
    .expect("echo off");
    let filled = h
        .run(LabCommand::Fill { id: id(&client) })
        .await
        .expect("fill");
    assert!(filled.contains("window"), "{filled}");
    h.run(LabCommand::Close { id: id(&client) })
        .await
        .expect("close");
    // Still FIN_WAIT_1 a good while later: the FIN cannot leave.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kernel_state(port, &client), Some(TcpState::FinWait1));
    assert_eq!(
        kernel_state(port, &end),
        Some(TcpState::Established),
        "no FIN has arrived"
    );
    h.run(LabCommand::SetReading {
        id: id(&end),
        on: true,
    })
    .await
    .expect("server reads");
    wait_states(
        port,
        &[
            (&client, Some(TcpState::FinWait2)),
            (&end, Some(TcpState::CloseWait)),
        ],
    )
    .await;
}

/// The same trick the other way round: the passive closer's FIN waits
/// behind data to a half-closed client that does not read, so LAST_ACK
/// lasts until the client reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_window_holds_last_ack_until_the_peer_reads() {
    let mut h = Harness::new(LabConfig::default());
    let opts = ServerOptions {
        buffers: Some(4096),
        ..ServerOptions::default()
    };
    let (port, client, end) = h.one_connection(opts).await;
    h.run(LabCommand::SetReading {
        id: id(&client),
        on: false,
    })
    .await
    .expect("client stops reading");
    h.run(LabCommand::ShutdownWrite { id: id(&client) })
        .await
        .expect("client half-closes");
    wait_states(
        port,
        &[
            (&client, Some(TcpState::FinWait2)),
            (&end, Some(TcpState::CloseWait)),
        ],
    )
    .await;
    h.run(LabCommand::Fill { id: id(&end) })
        .await
        .expect("fill");
    h.run(LabCommand::Close { id: id(&end) })
        .await
        .expect("server closes");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kernel_state(port, &end), Some(TcpState::LastAck));
    h.run(LabCommand::SetReading {
        id: id(&client),
        on: true,
    })
    .await
    .expect("client reads");
    wait_states(port, &[(&end, None), (&client, Some(TcpState::TimeWait))]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_and_the_server_end_it_reached_count_once() {
    let mut h = Harness::new(LabConfig {
        max_connections: 3,
        ..LabConfig::default()
    });
    h.start(ServerOptions::default()).await;
    h.run(LabCommand::Connect { count: 3 })
        .await
        .expect("three connections fit a limit of three");
    let err = h
        .run(LabCommand::Connect { count: 1 })
        .await
        .expect_err("a fourth does not");
    assert!(err.contains("limit of 3 (3 open)"), "{err}");
}

/// A service that answers every connection with a RST.
fn resetting_service() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let t = std::thread::spawn(move || {
        for _ in 0..8 {
            let Ok((s, _)) = l.accept() else { return };
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            drop(s);
        }
    });
    (addr, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_reset_by_the_peer_free_their_slots() {
    let mut h = Harness::new(LabConfig {
        max_connections: 4,
        ..LabConfig::default()
    });
    let (addr, service) = resetting_service();
    let target = Some(tcpscope::lab::Target {
        host: "127.0.0.1".into(),
        port: addr.port(),
    });
    h.run(LabCommand::SetTarget(target)).await.expect("target");
    let mut said = Vec::new();
    for round in 1..=2 {
        // Connected, then reset at once: the lab closes them itself. (A
        // reset that beats connect() is that connect's error instead.)
        if let Err(e) = h.run(LabCommand::Connect { count: 4 }).await {
            said.push(e);
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            h.settle().await;
            let clients = h.of_side(Side::Client);
            if clients.len() == 4 * round && clients.iter().all(|s| !s.open) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{clients:#?}");
        }
    }
    assert_eq!(
        h.of_side(Side::Client).len(),
        8,
        "eight connects fit a limit of four"
    );
    said.extend(h.notices.iter().cloned());
    assert!(said.iter().any(|n| n.contains("reset")), "{said:?}");
    let _ = service.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_listen_with_manual_accept_is_what_the_lab_reports() {
    use tcpscope::demo::{self, Instruction};
    let mut h = Harness::new(LabConfig::default());
    let call = Instruction::Listen {
        backlog: 1,
        reuseaddr: false,
        buffers: None,
        manual: true,
        hold: false,
    };
    for cmd in
        demo::commands(&call, &[], 0, std::net::Ipv4Addr::LOCALHOST.into()).expect("commands")
    {
        h.run(cmd).await.expect("listens");
    }
    h.settle().await;
    let s = h.settings.clone().expect("the lab reported its settings");
    assert_eq!(s.accept, tcpscope::lab::AcceptMode::Manual);
    assert!(!s.hold);
    assert_eq!(s.running.map(|r| r.options.backlog), Some(1));
    let listener = h.of_side(Side::Listener);
    if cfg!(target_os = "linux") {
        assert!(listener.iter().all(|l| l.cookie.is_some()), "{listener:?}");
    }
}
