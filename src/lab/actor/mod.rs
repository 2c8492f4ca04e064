//! The lab's one owner: a task that holds the listener, the registry of
//! lab sockets, a command channel to each connection task, and the lab's
//! settings, which it publishes whenever they change: there is no other
//! copy to drift.

use crate::lab::conn::{self, ConnCmd, Policy, Report, ReportKind};
use crate::lab::explain::{Attempt, LabError};
use crate::lab::listener;
use crate::lab::options::{AcceptMode, OptionChanges};
use crate::lab::{
    Done, LabCommand, LabConfig, LabEvent, LabId, LabSettings, LabSocket, Running, ServerOptions,
    Side, SocketCall,
};
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
type Outcome = Result<Done, LabError>;

struct Server {
    id: LabId,
    listener: TcpListener,
}

struct Actor {
    settings: LabSettings,
    places: crate::lab::places::Places,
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
    /// Whether the last server started had SO_REUSEADDR.
    listener_reuseaddr: bool,
    next_id: LabId,
    accept_paused: bool,
    dirty: bool,
}

pub async fn run(config: LabConfig, mut inbox: Inbox, events: Outbox) {
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let mut actor = Actor {
        settings: LabSettings::new(&config),
        places: config.places.clone(),
        events,
        report_tx,
        server: None,
        sockets: BTreeMap::new(),
        conns: HashMap::new(),
        batches: Vec::new(),
        batch_of: HashMap::new(),
        closed_first: HashMap::new(),
        listener_reuseaddr: false,
        next_id: 0,
        accept_paused: false,
        dirty: true,
    };
    actor.publish_settings();
    let mut tick = tokio::time::interval(PUBLISH_EVERY);
    // Idle, it does not tick at all; the first tick after is at once.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let auto = actor.settings.accept == AcceptMode::Auto && !actor.accept_paused;
        tokio::select! {
            cmd = inbox.recv() => match cmd {
                Some((seq, cmd)) => actor.command(seq, cmd).await,
                None => break,
            },
            Some(report) = reports.recv() => actor.report(report),
            accepted = accept(actor.server.as_ref()), if auto => actor.accepted(accepted, None),
            _ = tick.tick(), if actor.dirty || actor.accept_paused => {
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

fn refused(text: impl Into<String>) -> Outcome {
    Err(LabError::refused(text))
}

impl Actor {
    fn outcome(&self, seq: u64, result: Outcome) {
        let _ = self.events.send(LabEvent::Outcome { seq, result });
    }

    fn publish(&mut self) {
        if self.dirty {
            self.dirty = false;
            let list = self.sockets.values().cloned().collect();
            let _ = self.events.send(LabEvent::Sockets(list));
        }
    }

    fn publish_settings(&self) {
        let _ = self.events.send(LabEvent::Settings(self.settings.clone()));
    }

    async fn command(&mut self, seq: u64, cmd: LabCommand) {
        match cmd {
            LabCommand::StartServer(opts) => self.start_server(seq, opts),
            LabCommand::StopServer => self.stop_server(seq),
            LabCommand::Configure(changes) => self.configure(seq, changes),
            LabCommand::SetTarget(target) => {
                self.settings.target = target;
                self.publish_settings();
                let to = self.settings.target_label();
                self.outcome(seq, Ok(Done::text(format!("clients connect to {to}"))));
            }
            LabCommand::AcceptOne => self.accept_one(seq).await,
            LabCommand::Connect { count } => match resolve(self.settings.target.clone()).await {
                Ok(addr) => self.connect(seq, addr, count),
                Err(text) => self.outcome(seq, refused(text)),
            },
            LabCommand::Send { id, text } => self.forward(seq, id, ConnCmd::Send(text)),
            LabCommand::Fill { id } => self.forward(seq, id, ConnCmd::Fill),
            LabCommand::ShutdownWrite { id } => self.forward(seq, id, ConnCmd::ShutdownWrite),
            LabCommand::Close { id } => self.close(seq, id, ConnCmd::Close),
            LabCommand::Abort { id } => self.close(seq, id, ConnCmd::Abort),
            LabCommand::SetReading { id, on } => self.forward(seq, id, ConnCmd::SetReading(on)),
            LabCommand::SetEcho { id, on } => self.forward(seq, id, ConnCmd::SetEcho(on)),
            LabCommand::Keepalive {
                id,
                idle,
                interval,
                count,
            } => self.forward(seq, id, ConnCmd::Keepalive([idle, interval, count])),
        }
        self.dirty = true;
    }

    fn new_id(&mut self) -> LabId {
        self.next_id += 1;
        self.next_id
    }

    /// Every change at once: accept mode and hold now, server options for
    /// the next start.
    fn configure(&mut self, seq: u64, c: OptionChanges) {
        let n = &mut self.settings.next;
        n.bind = c.bind.unwrap_or(n.bind);
        n.port = c.port.unwrap_or(n.port);
        n.backlog = c.backlog.unwrap_or(n.backlog);
        n.reuseaddr = c.reuseaddr.unwrap_or(n.reuseaddr);
        n.buffers = c.buffers.unwrap_or(n.buffers);
        let mut said = Vec::new();
        if let Some(mode) = c.accept {
            self.settings.accept = mode;
            said.push(format!("accept {}", mode.label()));
        }
        if let Some(on) = c.hold {
            self.set_hold(on);
            said.push(hold_text(on).to_string());
        }
        let server_changed = c.bind.is_some()
            || c.port.is_some()
            || c.backlog.is_some()
            || c.reuseaddr.is_some()
            || c.buffers.is_some();
        if server_changed {
            let when = if self.server.is_some() {
                "at the next start (S twice)"
            } else {
                "when the server starts (S)"
            };
            said.push(format!(
                "server options: {} — used {when}",
                self.settings.next
            ));
        }
        self.publish_settings();
        self.outcome(seq, Ok(Done::text(said.join("; "))));
    }

    fn start_server(&mut self, seq: u64, opts: ServerOptions) {
        if let Some(r) = &self.settings.running {
            let text = format!(
                "the server is already listening on {}; stop it first (S)",
                r.addr
            );
            return self.outcome(seq, refused(text));
        }
        self.settings.next = opts.clone();
        let addr = SocketAddr::new(opts.bind, opts.port);
        let listener = match listener::open(&opts, &self.places) {
            Ok(l) => l,
            Err(e) => {
                let call = Attempt::Bind {
                    addr,
                    reuseaddr: opts.reuseaddr,
                    time_wait_from: self.closed_first.get(&opts.port).copied(),
                };
                self.publish_settings();
                return self.outcome(seq, Err(LabError::os(call, &e)));
            }
        };
        let local = listener.local_addr().unwrap_or(addr);
        let id = self.new_id();
        let call = listener::call(&opts);
        let mut socket = lab_socket(id, Side::Listener, local, None, call.clone());
        socket.cookie = crate::source::identity::socket_cookie(socket2::SockRef::from(&listener));
        self.sockets.insert(id, socket);
        self.server = Some(Server { id, listener });
        self.listener_reuseaddr = opts.reuseaddr;
        // A restart (S twice) keeps the port the kernel picked.
        self.settings.next.port = local.port();
        self.settings.running = Some(Running {
            addr: local,
            options: ServerOptions {
                port: local.port(),
                ..opts
            },
        });
        self.publish_settings();
        self.outcome(seq, Ok(Done::text(format!("{call}: listening on {local}"))));
    }

    fn stop_server(&mut self, seq: u64) {
        let Some(server) = self.server.take() else {
            return self.outcome(seq, refused("the server is not running; start it with S"));
        };
        if let Some(s) = self.sockets.get_mut(&server.id) {
            s.open = false;
            s.last_call = Some(SocketCall::Close);
        }
        drop(server.listener);
        self.settings.running = None;
        self.publish_settings();
        let text = "close() on the listener: no new connections; accepted ones stay open";
        self.outcome(seq, Ok(Done::text(text)));
        self.trim_closed();
    }

    async fn accept_one(&mut self, seq: u64) {
        if self.settings.accept == AcceptMode::Auto {
            return self.outcome(seq, refused("accept mode is auto: every connection is accepted as it arrives; switch with m (or O, then 'accept manual')"));
        }
        let Some(server) = &self.server else {
            return self.outcome(seq, refused("the server is not running; start it with S"));
        };
        match tokio::time::timeout(ACCEPT_WAIT, server.listener.accept()).await {
            Ok(result) => self.accepted(result, Some(seq)),
            Err(_) => self.outcome(
                seq,
                refused("accept(): the accept queue is empty, no connection is waiting"),
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
                return self.say(seq, Err(LabError::os(Attempt::Accept, &e)));
            }
        };
        // A connection from one of our own clients is already counted.
        let ours = self.sockets.values().any(|s| s.open && s.local == peer);
        if !ours && self.open_connections() >= self.settings.max_connections {
            drop(stream);
            let limit = self.settings.max_connections;
            let text = format!(
                "accept(): closed at once, the lab's limit of {limit} connections is reached"
            );
            return self.say(seq, refused(text));
        }
        let local = stream.local_addr().unwrap_or(peer);
        let id = self.new_id();
        let mut socket = lab_socket(id, Side::Server, local, Some(peer), SocketCall::Accept);
        socket.cookie = crate::source::identity::socket_cookie(socket2::SockRef::from(&stream));
        self.sockets.insert(id, socket);
        let policy = Policy {
            reading: true,
            echo: true,
            hold: self.settings.hold,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.conns.insert(id, tx);
        tokio::spawn(conn::run(id, stream, rx, self.report_tx.clone(), policy));
        self.dirty = true;
        self.say(
            seq,
            Ok(Done::text(format!(
                "accept() → connection #{id} from {peer}"
            ))),
        );
    }

    /// An outcome when a command asked, a notice otherwise.
    fn say(&self, seq: Option<u64>, result: Outcome) {
        match (seq, result) {
            (Some(seq), result) => self.outcome(seq, result),
            (None, Err(e)) => {
                let _ = self.events.send(LabEvent::Notice(e));
            }
            (None, Ok(_)) => {}
        }
    }

    fn open_connections(&self) -> usize {
        crate::lab::open_connections(self.sockets.values())
    }

    fn set_hold(&mut self, on: bool) {
        self.settings.hold = on;
        for tx in self.conns.values() {
            let _ = tx.send((0, ConnCmd::SetHold(on)));
        }
    }

    fn forward(&mut self, seq: u64, id: LabId, cmd: ConnCmd) {
        if let Err(e) = self.check_open(id) {
            return self.outcome(seq, Err(e));
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

    fn check_open(&self, id: LabId) -> Result<(), LabError> {
        match self.sockets.get(&id) {
            None => Err(LabError::refused(format!("there is no lab socket #{id}"))),
            Some(s) if !s.open => Err(LabError::refused(format!(
                "socket #{id} is already closed ({}); pick an open one",
                s.call_text()
            ))),
            Some(s) if s.side == Side::Listener => Err(LabError::refused(
                "that is the listener: it only accepts; pick a connection",
            )),
            Some(_) => Ok(()),
        }
    }

    fn report(&mut self, r: Report) {
        self.dirty = true;
        if let ReportKind::Called { call, result } = r.kind {
            return self.called(r.id, r.seq, call, result);
        }
        let Some(s) = self.sockets.get_mut(&r.id) else {
            return;
        };
        match r.kind {
            ReportKind::Connected { local, cookie } => {
                (s.local, s.cookie) = (local, cookie);
                self.connect_done(r.id, None);
            }
            ReportKind::ConnectFailed(err) => {
                s.open = false;
                self.connect_done(r.id, Some(err));
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

    fn called(&mut self, id: LabId, seq: Option<u64>, call: Option<SocketCall>, result: Outcome) {
        let closed = call == Some(SocketCall::Close) && result.is_ok();
        if let (Some(s), Some(call)) = (self.sockets.get_mut(&id), call) {
            s.last_call = Some(call);
        }
        if closed {
            self.note_close(id);
        }
        let tagged = result.map(|d| Done {
            text: format!("#{id} {}", d.text),
            ..d
        });
        self.say(seq, tagged);
    }

    /// A server end that closes before its peer leaves TIME_WAIT on the port.
    fn note_close(&mut self, id: LabId) {
        if let Some(s) = self.sockets.get(&id)
            && s.side == Side::Server
            && !s.peer_closed
        {
            self.closed_first
                .insert(s.local.port(), self.listener_reuseaddr);
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

fn hold_text(on: bool) -> &'static str {
    if on {
        "hold on: when the peer closes, our end stays open (CLOSE_WAIT) until you close it"
    } else {
        "hold off: when the peer closes, our end closes too"
    }
}

fn lab_socket(
    id: LabId,
    side: Side,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    call: SocketCall,
) -> LabSocket {
    LabSocket {
        id,
        side,
        local,
        remote,
        cookie: None,
        sent: 0,
        received: 0,
        last_call: Some(call),
        open: true,
        reading: side != Side::Listener,
        echo: side == Side::Server,
        peer_closed: false,
        write_shut: false,
    }
}
