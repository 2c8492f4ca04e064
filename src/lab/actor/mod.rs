//! The lab's one owner: a task that holds the listener, the registry of
//! lab sockets and a command channel to each connection task.

use crate::lab::conn::{self, ConnCmd, Policy, Report, ReportKind};
use crate::lab::explain::{Call, explain};
use crate::lab::listener;
use crate::lab::options::AcceptMode;
use crate::lab::{LabCommand, LabConfig, LabEvent, LabId, LabSocket, Side};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Socket lists are sent at most this often.
const PUBLISH_EVERY: Duration = Duration::from_millis(50);
/// Closed sockets kept in the list (the kernel may still show them).
const CLOSED_KEPT: usize = 256;
/// How long a manual accept waits for a queued connection.
const ACCEPT_WAIT: Duration = Duration::from_millis(300);

mod clients;

use clients::{ConnectBatch, resolve};

type Inbox = mpsc::UnboundedReceiver<(u64, LabCommand)>;
type Outbox = mpsc::UnboundedSender<LabEvent>;

struct Server {
    id: LabId,
    listener: TcpListener,
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
            LabCommand::Fill { id } => self.forward(seq, id, ConnCmd::Fill),
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
