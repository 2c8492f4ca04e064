//! The lab's one owner: a task that holds the listener, the registry of
//! lab sockets and a command channel to each connection task.

use super::conn::{self, ConnCmd, Policy, Report, ReportKind};
use super::explain::{Call, explain};
use super::listener;
use super::options::AcceptMode;
use super::{LabCommand, LabConfig, LabEvent, LabId, LabSocket, Side};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// Socket lists are sent at most this often.
const PUBLISH_EVERY: Duration = Duration::from_millis(50);
/// Closed sockets kept in the list (the kernel may still show them).
const CLOSED_KEPT: usize = 256;
/// How long a manual accept waits for a queued connection.
const ACCEPT_WAIT: Duration = Duration::from_millis(300);

type Inbox = mpsc::UnboundedReceiver<(u64, LabCommand)>;
type Outbox = mpsc::UnboundedSender<LabEvent>;

struct Server {
    id: LabId,
    listener: TcpListener,
}

/// A `Connect` command waiting for all its connects to finish.
struct ConnectBatch {
    seq: u64,
    target: SocketAddr,
    pending: usize,
    ok: usize,
    errors: Vec<String>,
}

struct Actor {
    config: LabConfig,
    events: Outbox,
    report_tx: mpsc::UnboundedSender<Report>,
    server: Option<Server>,
    sockets: BTreeMap<LabId, LabSocket>,
    conns: HashMap<LabId, mpsc::UnboundedSender<(u64, ConnCmd)>>,
    batches: Vec<ConnectBatch>,
    batch_of: HashMap<LabId, u64>,
    /// Ports on which a server end closed first (so TIME_WAIT is likely),
    /// with whether its listener had SO_REUSEADDR.
    closed_first: HashMap<u16, bool>,
    next_id: LabId,
    accept_paused: bool,
    dirty: bool,
}

pub async fn run(config: LabConfig, mut inbox: Inbox, events: Outbox) {
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let mut actor = Actor {
        config,
        events,
        report_tx,
        server: None,
        sockets: BTreeMap::new(),
        conns: HashMap::new(),
        batches: Vec::new(),
        batch_of: HashMap::new(),
        closed_first: HashMap::new(),
        next_id: 0,
        accept_paused: false,
        dirty: true,
    };
    let mut tick = tokio::time::interval(PUBLISH_EVERY);
    loop {
        let auto = actor.config.accept == AcceptMode::Auto && !actor.accept_paused;
        tokio::select! {
            cmd = inbox.recv() => match cmd {
                Some((seq, cmd)) => actor.command(seq, cmd).await,
                None => break,
            },
            Some(report) = reports.recv() => actor.report(report),
            accepted = accept(actor.server.as_ref()), if auto => actor.accepted(accepted, None),
            _ = tick.tick() => {
                actor.accept_paused = false;
                actor.publish();
            }
        }
    }
}

async fn accept(server: Option<&Server>) -> io::Result<(TcpStream, SocketAddr)> {
    match server {
        Some(s) => s.listener.accept().await,
        None => std::future::pending().await,
    }
}

impl Actor {
    fn outcome(&self, seq: u64, result: Result<String, String>) {
        let _ = self.events.send(LabEvent::Outcome { seq, result });
    }

    fn publish(&mut self) {
        if self.dirty {
            self.dirty = false;
            let list = self.sockets.values().cloned().collect();
            let _ = self.events.send(LabEvent::Sockets(list));
        }
    }

    async fn command(&mut self, seq: u64, cmd: LabCommand) {
        match cmd {
            LabCommand::StartServer(opts) => self.start_server(seq, opts),
            LabCommand::StopServer => self.stop_server(seq),
            LabCommand::SetAcceptMode(mode) => {
                self.config.accept = mode;
                self.outcome(seq, Ok(format!("accept mode: {}", mode.label())));
            }
            LabCommand::AcceptOne => self.accept_one(seq).await,
            LabCommand::SetHold(on) => self.set_hold(seq, on),
            LabCommand::Connect { target, count } => match resolve(target).await {
                Ok(addr) => self.connect(seq, addr, count),
                Err(text) => self.outcome(seq, Err(text)),
            },
            LabCommand::Send { id, text } => self.forward(seq, id, ConnCmd::Send(text)),
            LabCommand::ShutdownWrite { id } => self.forward(seq, id, ConnCmd::ShutdownWrite),
            LabCommand::Close { id } => self.close(seq, id, ConnCmd::Close),
            LabCommand::Abort { id } => self.close(seq, id, ConnCmd::Abort),
            LabCommand::SetReading { id, on } => self.forward(seq, id, ConnCmd::SetReading(on)),
            LabCommand::SetEcho { id, on } => self.forward(seq, id, ConnCmd::SetEcho(on)),
        }
        self.dirty = true;
    }

    fn new_id(&mut self) -> LabId {
        self.next_id += 1;
        self.next_id
    }

    fn start_server(&mut self, seq: u64, opts: super::ServerOptions) {
        if let Some(s) = &self.server {
            let at = self
                .sockets
                .get(&s.id)
                .map(|s| s.local.to_string())
                .unwrap_or_default();
            return self.outcome(
                seq,
                Err(format!(
                    "the server is already listening on {at}; stop it first (S)"
                )),
            );
        }
        let addr = SocketAddr::new(opts.bind, opts.port);
        let listener = match listener::open(&opts) {
            Ok(l) => l,
            Err(e) => {
                let time_wait_from = self.closed_first.get(&opts.port).copied();
                let call = Call::Bind {
                    addr,
                    reuseaddr: opts.reuseaddr,
                    time_wait_from,
                };
                return self.outcome(seq, Err(explain(call, &e)));
            }
        };
        let local = listener.local_addr().unwrap_or(addr);
        let id = self.new_id();
        let call = listener::call_text(&opts);
        self.sockets
            .insert(id, lab_socket(id, Side::Listener, local, None, &call));
        self.server = Some(Server { id, listener });
        self.config.server = opts;
        let _ = self.events.send(LabEvent::Server(Some(local)));
        self.outcome(seq, Ok(format!("{call}: listening on {local}")));
    }

    fn stop_server(&mut self, seq: u64) {
        let Some(server) = self.server.take() else {
            return self.outcome(
                seq,
                Err("the server is not running; start it with S".into()),
            );
        };
        if let Some(s) = self.sockets.get_mut(&server.id) {
            s.open = false;
            s.last_call = "close()".into();
        }
        drop(server.listener);
        let _ = self.events.send(LabEvent::Server(None));
        self.outcome(
            seq,
            Ok("close() on the listener: no new connections; accepted ones stay open".into()),
        );
        self.trim_closed();
    }

    async fn accept_one(&mut self, seq: u64) {
        if self.config.accept == AcceptMode::Auto {
            return self.outcome(seq, Err("accept mode is auto: every connection is accepted as it arrives; switch with O, then 'accept manual'".into()));
        }
        let Some(server) = &self.server else {
            return self.outcome(
                seq,
                Err("the server is not running; start it with S".into()),
            );
        };
        match tokio::time::timeout(ACCEPT_WAIT, server.listener.accept()).await {
            Ok(result) => self.accepted(result, Some(seq)),
            Err(_) => self.outcome(
                seq,
                Err("accept(): the accept queue is empty, no connection is waiting".into()),
            ),
        }
    }

    fn accepted(&mut self, result: io::Result<(TcpStream, SocketAddr)>, seq: Option<u64>) {
        let (stream, peer) = match result {
            Ok(pair) => pair,
            Err(e) => {
                // Typically EMFILE: the connection stays queued; retry later
                // instead of spinning on the same error.
                self.accept_paused = true;
                let text = explain(Call::Accept, &e);
                return self.say(seq, Err(text));
            }
        };
        if self.open_connections() >= self.config.max_connections {
            drop(stream);
            let limit = self.config.max_connections;
            return self.say(
                seq,
                Err(format!(
                    "accept(): closed at once, the lab's limit of {limit} connections is reached"
                )),
            );
        }
        let local = stream.local_addr().unwrap_or(peer);
        let id = self.new_id();
        self.sockets.insert(
            id,
            lab_socket(id, Side::Server, local, Some(peer), "accept()"),
        );
        let policy = Policy {
            reading: true,
            echo: true,
            hold: self.config.hold,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.conns.insert(id, tx);
        tokio::spawn(conn::run(id, stream, rx, self.report_tx.clone(), policy));
        self.dirty = true;
        self.say(seq, Ok(format!("accept() → connection #{id} from {peer}")));
    }

    /// An outcome when a command asked, a notice otherwise.
    fn say(&self, seq: Option<u64>, result: Result<String, String>) {
        match (seq, result) {
            (Some(seq), result) => self.outcome(seq, result),
            (None, Err(text)) => {
                let _ = self.events.send(LabEvent::Notice(text));
            }
            (None, Ok(_)) => {}
        }
    }

    fn open_connections(&self) -> usize {
        self.conns.len()
    }

    fn set_hold(&mut self, seq: u64, on: bool) {
        self.config.hold = on;
        for tx in self.conns.values() {
            let _ = tx.send((0, ConnCmd::SetHold(on)));
        }
        let text = if on {
            "hold on: when the peer closes, our end stays open (CLOSE_WAIT) until you close it"
        } else {
            "hold off: when the peer closes, our end closes too"
        };
        self.outcome(seq, Ok(text.into()));
    }

    fn connect(&mut self, seq: u64, target: Option<SocketAddr>, count: usize) {
        let Some(target) = target.or_else(|| self.server_addr()) else {
            return self.outcome(
                seq,
                Err(
                    "the lab server is not running: start it with S, or set a target with T".into(),
                ),
            );
        };
        let limit = self.config.max_connections;
        if count == 0 || self.open_connections() + count > limit {
            let open = self.open_connections();
            return self.outcome(seq, Err(format!(
                "{count} more connections would pass the lab's limit of {limit} ({open} open): close some first"
            )));
        }
        let mut batch = ConnectBatch {
            seq,
            target,
            pending: 0,
            ok: 0,
            errors: Vec::new(),
        };
        for _ in 0..count {
            match self.start_client(target) {
                Ok(id) => {
                    batch.pending += 1;
                    self.batch_of.insert(id, seq);
                }
                Err(e) => {
                    batch
                        .errors
                        .push(explain(Call::Connect { addr: target }, &e));
                    break;
                }
            }
        }
        self.batches.push(batch);
        self.finish_batch(seq);
    }

    fn server_addr(&self) -> Option<SocketAddr> {
        let server = self.server.as_ref()?;
        let local = self.sockets.get(&server.id)?.local;
        // A server on 0.0.0.0 / :: is reached through loopback.
        let ip = match local.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Some(SocketAddr::new(ip, local.port()))
    }

    /// socket() + bind(port 0) now, so the local address is known while
    /// the handshake is in SYN_SENT; connect() runs in the task.
    fn start_client(&mut self, target: SocketAddr) -> io::Result<LabId> {
        let socket = if target.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        let bind_ip = if target.ip().is_loopback() {
            target.ip()
        } else if target.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        socket.bind(SocketAddr::new(bind_ip, 0))?;
        let local = socket.local_addr()?;
        let id = self.new_id();
        let call = format!("connect({target})");
        self.sockets
            .insert(id, lab_socket(id, Side::Client, local, Some(target), &call));
        let (tx, rx) = mpsc::unbounded_channel();
        self.conns.insert(id, tx);
        let policy = Policy {
            reading: true,
            echo: false,
            hold: self.config.hold,
        };
        tokio::spawn(conn::connect_and_run(
            id,
            socket,
            target,
            rx,
            self.report_tx.clone(),
            policy,
        ));
        Ok(id)
    }

    /// Sends the batch's outcome once none of its connects is pending.
    fn finish_batch(&mut self, seq: u64) {
        let Some(at) = self.batches.iter().position(|b| b.seq == seq) else {
            return;
        };
        if self.batches[at].pending > 0 {
            return;
        }
        let b = self.batches.remove(at);
        let result = match (b.ok, b.errors.first()) {
            (0, Some(first)) => Err(first.clone()),
            (ok, Some(first)) => Err(format!(
                "{ok} connected, {} failed: {first}",
                b.errors.len()
            )),
            (1, None) => Ok(format!("connect({}) → connected", b.target)),
            (ok, None) => Ok(format!("connect({}) × {ok} → connected", b.target)),
        };
        self.outcome(b.seq, result);
    }

    fn forward(&mut self, seq: u64, id: LabId, cmd: ConnCmd) {
        if let Err(text) = self.check_open(id) {
            return self.outcome(seq, Err(text));
        }
        if let Some(tx) = self.conns.get(&id) {
            let _ = tx.send((seq, cmd));
        }
    }

    fn close(&mut self, seq: u64, id: LabId, how: ConnCmd) {
        if self.server.as_ref().is_some_and(|s| s.id == id) {
            return self.stop_server(seq);
        }
        self.forward(seq, id, how);
    }

    fn check_open(&self, id: LabId) -> Result<(), String> {
        match self.sockets.get(&id) {
            None => Err(format!("there is no lab socket #{id}")),
            Some(s) if !s.open => Err(format!(
                "socket #{id} is already closed ({}); pick an open one",
                s.last_call
            )),
            Some(s) if s.side == Side::Listener => {
                Err("that is the listener: it only accepts; pick a connection".into())
            }
            Some(_) => Ok(()),
        }
    }

    fn report(&mut self, r: Report) {
        self.dirty = true;
        if let ReportKind::Called { call, result } = r.kind {
            self.called(r.id, r.seq, call, result);
            return;
        }
        let Some(s) = self.sockets.get_mut(&r.id) else {
            return;
        };
        match r.kind {
            ReportKind::Connected { local } => {
                s.local = local;
                self.connect_done(r.id, None);
            }
            ReportKind::ConnectFailed(text) => {
                s.open = false;
                self.connect_done(r.id, Some(text));
            }
            ReportKind::Sent(n) => s.sent += n as u64,
            ReportKind::Received(n) => s.received += n as u64,
            ReportKind::PeerClosed => s.peer_closed = true,
            ReportKind::Policy(p) => (s.reading, s.echo) = (p.reading, p.echo),
            ReportKind::WriteShut => s.write_shut = true,
            ReportKind::Ended => self.ended(r.id),
            ReportKind::Called { .. } => {}
        }
    }

    fn called(
        &mut self,
        id: LabId,
        seq: Option<u64>,
        call: String,
        result: Result<String, String>,
    ) {
        if let Some(s) = self.sockets.get_mut(&id)
            && !call.is_empty()
        {
            s.last_call = call;
        }
        let is_close = self
            .sockets
            .get(&id)
            .is_some_and(|s| s.last_call == "close()");
        if is_close && result.is_ok() {
            self.note_close(id);
        }
        let tagged = result
            .map(|t| format!("#{id} {t}"))
            .map_err(|t| format!("#{id} {t}"));
        self.say(seq, tagged);
    }

    /// A server end that closes before its peer leaves TIME_WAIT on the port.
    fn note_close(&mut self, id: LabId) {
        if let Some(s) = self.sockets.get(&id)
            && s.side == Side::Server
            && !s.peer_closed
        {
            self.closed_first
                .insert(s.local.port(), self.config.server.reuseaddr);
        }
    }

    fn connect_done(&mut self, id: LabId, error: Option<String>) {
        let Some(seq) = self.batch_of.remove(&id) else {
            if let Some(text) = error {
                let _ = self.events.send(LabEvent::Notice(text));
            }
            return;
        };
        if let Some(b) = self.batches.iter_mut().find(|b| b.seq == seq) {
            b.pending -= 1;
            match error {
                Some(text) => b.errors.push(text),
                None => b.ok += 1,
            }
        }
        self.finish_batch(seq);
    }

    fn ended(&mut self, id: LabId) {
        self.conns.remove(&id);
        if let Some(s) = self.sockets.get_mut(&id) {
            s.open = false;
        }
        self.trim_closed();
    }

    fn trim_closed(&mut self) {
        let closed: Vec<LabId> = self
            .sockets
            .values()
            .filter(|s| !s.open)
            .map(|s| s.id)
            .collect();
        for id in closed.iter().take(closed.len().saturating_sub(CLOSED_KEPT)) {
            self.sockets.remove(id);
        }
    }
}

/// Turns a typed target into an address; names resolve with a time limit
/// so a dead resolver cannot stall the lab.
async fn resolve(target: Option<super::Target>) -> Result<Option<SocketAddr>, String> {
    let Some(t) = target else { return Ok(None) };
    if let Ok(ip) = t.host.parse::<IpAddr>() {
        return Ok(Some(SocketAddr::new(ip, t.port)));
    }
    let lookup = tokio::net::lookup_host((t.host.as_str(), t.port));
    match tokio::time::timeout(Duration::from_secs(3), lookup).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .map(Some)
            .ok_or_else(|| format!("'{}' resolves to no address; use an IP address", t.host)),
        Ok(Err(e)) => Err(format!(
            "cannot resolve host '{}': {e}; use an IP address like 127.0.0.1",
            t.host
        )),
        Err(_) => Err(format!(
            "resolving '{}' took over 3 s; use an IP address like 127.0.0.1",
            t.host
        )),
    }
}

fn lab_socket(
    id: LabId,
    side: Side,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    call: &str,
) -> LabSocket {
    LabSocket {
        id,
        side,
        local,
        remote,
        sent: 0,
        received: 0,
        last_call: call.to_string(),
        open: true,
        reading: side != Side::Listener,
        echo: side == Side::Server,
        peer_closed: false,
        write_shut: false,
    }
}
