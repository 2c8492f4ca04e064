//! The lab: a test server and client whose sockets a person drives call by
//! call. It owns its sockets and nothing else: commands in, events out.
//! Their kernel states are not tracked here; they come from the same
//! socket table as every other socket.

mod actor;
mod conn;
pub mod explain;
pub mod link;
mod listener;
pub mod options;
pub mod places;

pub use explain::{Attempt, LabError};
pub use options::{AcceptMode, OptionChanges, ServerOptions, Target};

use std::fmt;
use std::net::SocketAddr;
use tokio::sync::mpsc;

/// Default most lab connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Longest text one `send` may carry.
pub const MAX_SEND_BYTES: usize = 4096;
/// Read buffer per connection: a peer sending more simply waits.
pub const READ_BUFFER: usize = 4096;

pub type LabId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Listener,
    /// An accepted connection (the server's end).
    Server,
    Client,
}

impl Side {
    pub fn label(self) -> &'static str {
        match self {
            Side::Listener => "listen",
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// Open lab connections, each counted once: a lab client and the server
/// end that accepted it are one connection. What the limit counts.
pub fn open_connections<'a>(sockets: impl IntoIterator<Item = &'a LabSocket>) -> usize {
    let open: Vec<&LabSocket> = sockets.into_iter().filter(|s| s.open).collect();
    let clients: std::collections::HashSet<SocketAddr> = open
        .iter()
        .filter(|s| s.side == Side::Client)
        .map(|s| s.local)
        .collect();
    let lone_servers = open
        .iter()
        .filter(|s| s.side == Side::Server && s.remote.is_none_or(|r| !clients.contains(&r)))
        .count();
    clients.len() + lone_servers
}

/// A socket call, as socket code reads it; what the panel shows as the
/// last call made on a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketCall {
    Listen {
        backlog: u32,
        reuseaddr: bool,
    },
    Connect(SocketAddr),
    Accept,
    Send(usize),
    Recv,
    ShutdownWrite,
    Close,
    /// setsockopt(SO_LINGER, 0) then close(): the kernel sends RST.
    Abort,
}

impl fmt::Display for SocketCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketCall::Listen {
                backlog,
                reuseaddr: true,
            } => write!(f, "setsockopt(SO_REUSEADDR, 1) + listen(backlog={backlog})"),
            SocketCall::Listen { backlog, .. } => write!(f, "listen(backlog={backlog})"),
            SocketCall::Connect(addr) => write!(f, "connect({addr})"),
            SocketCall::Accept => f.write_str("accept()"),
            SocketCall::Send(n) => write!(f, "send({n} bytes)"),
            SocketCall::Recv => f.write_str("recv()"),
            SocketCall::ShutdownWrite => f.write_str("shutdown(SHUT_WR)"),
            SocketCall::Close => f.write_str("close()"),
            SocketCall::Abort => f.write_str("setsockopt(SO_LINGER, 0) + close()"),
        }
    }
}

impl SocketCall {
    /// Whether the call makes the kernel send our FIN.
    pub fn sends_fin(&self) -> bool {
        matches!(self, SocketCall::ShutdownWrite | SocketCall::Close)
    }
}

/// The lab's own bookkeeping for one socket. Deliberately no TCP state:
/// the UI finds the socket's connection in the pipeline (by the kernel's
/// cookie, or by its addresses) and shows the kernel's state for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabSocket {
    pub id: LabId,
    pub side: Side,
    pub local: SocketAddr,
    /// `None` for the listener.
    pub remote: Option<SocketAddr>,
    /// The kernel's socket cookie (Linux): the same as the table reports
    /// for it, TIME_WAIT included.
    pub cookie: Option<u64>,
    pub sent: u64,
    pub received: u64,
    /// The last socket call made on it.
    pub last_call: Option<SocketCall>,
    /// Whether the lab still holds a descriptor for it. After close() the
    /// kernel may keep the connection (FIN_WAIT_2, TIME_WAIT, LAST_ACK).
    pub open: bool,
    pub reading: bool,
    pub echo: bool,
    /// The peer's FIN arrived (recv() returned 0).
    pub peer_closed: bool,
    /// We called shutdown(SHUT_WR).
    pub write_shut: bool,
}

impl LabSocket {
    /// The last call as text, or "" before any.
    pub fn call_text(&self) -> String {
        self.last_call
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabCommand {
    /// Listens with these options (they become the next start's too).
    StartServer(ServerOptions),
    StopServer,
    /// Changes settings: accept mode and hold at once, server options for
    /// the next start.
    Configure(OptionChanges),
    /// Where `Connect` connects: `None` is the lab server.
    SetTarget(Option<Target>),
    /// Take one connection off the accept queue (manual mode).
    AcceptOne,
    /// Connect `count` clients to the target.
    Connect {
        count: usize,
    },
    Send {
        id: LabId,
        text: String,
    },
    /// send() until the peer's window and our send buffer are full.
    Fill {
        id: LabId,
    },
    ShutdownWrite {
        id: LabId,
    },
    Close {
        id: LabId,
    },
    /// SO_LINGER 0 then close(): the kernel sends RST, no TIME_WAIT.
    Abort {
        id: LabId,
    },
    SetReading {
        id: LabId,
        on: bool,
    },
    SetEcho {
        id: LabId,
        on: bool,
    },
    /// SO_KEEPALIVE on, probing after `idle` s of silence, every
    /// `interval` s, giving up after `count` unanswered probes.
    Keepalive {
        id: LabId,
        idle: u32,
        interval: u32,
        count: u32,
    },
}

/// What a command did, for the status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    pub text: String,
    /// The socket whose FIN the call queued (close, shutdown): the UI says
    /// whether it left or waits behind unsent data (Send-Q).
    pub fin_from: Option<LabId>,
}

impl Done {
    pub fn text(text: impl Into<String>) -> Self {
        Done {
            text: text.into(),
            fin_from: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabEvent {
    /// The result of the command with this sequence number.
    Outcome {
        seq: u64,
        result: Result<Done, LabError>,
    },
    /// Something happened without a command (peer closed, reset, …).
    Notice(LabError),
    /// The lab's sockets after a change, ordered by id.
    Sockets(Vec<LabSocket>),
    /// The lab's settings after a change: the only copy there is.
    Settings(LabSettings),
}

/// The running server: where it listens and the options it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    pub addr: SocketAddr,
    pub options: ServerOptions,
}

/// Everything that decides how the lab behaves, owned by its actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabSettings {
    /// Options for the next start.
    pub next: ServerOptions,
    pub running: Option<Running>,
    pub accept: AcceptMode,
    pub hold: bool,
    /// Where clients connect; `None` is the lab server.
    pub target: Option<Target>,
    pub max_connections: usize,
}

impl LabSettings {
    pub fn new(config: &LabConfig) -> Self {
        LabSettings {
            next: config.server.clone(),
            running: None,
            accept: config.accept,
            hold: config.hold,
            target: None,
            max_connections: config.max_connections,
        }
    }

    /// The server's port: where it listens, or will.
    pub fn port(&self) -> u16 {
        self.running
            .as_ref()
            .map_or(self.next.port, |r| r.addr.port())
    }

    pub fn target_label(&self) -> String {
        match &self.target {
            Some(t) => t.to_string(),
            None => "the lab server".to_string(),
        }
    }
}

/// How the lab starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabConfig {
    pub server: ServerOptions,
    pub accept: AcceptMode,
    pub hold: bool,
    pub max_connections: usize,
    /// Where its sockets are made (another namespace for `lab --wire`).
    pub places: places::Places,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            server: ServerOptions::default(),
            accept: AcceptMode::Auto,
            hold: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            places: places::Places::default(),
        }
    }
}

/// The handle the UI (or a test) holds. Dropping it stops the lab and
/// closes every socket it owns.
pub struct Lab {
    commands: mpsc::UnboundedSender<(u64, LabCommand)>,
    next_seq: u64,
}

impl Lab {
    /// Starts the lab on the current tokio runtime.
    pub fn spawn(config: LabConfig) -> (Lab, mpsc::UnboundedReceiver<LabEvent>) {
        let (commands, inbox) = mpsc::unbounded_channel();
        let (events, outbox) = mpsc::unbounded_channel();
        tokio::spawn(actor::run(config, inbox, events));
        (
            Lab {
                commands,
                next_seq: 0,
            },
            outbox,
        )
    }

    /// Queues a command; its `Outcome` event carries the returned number.
    pub fn send(&mut self, command: LabCommand) -> u64 {
        self.next_seq += 1;
        let _ = self.commands.send((self.next_seq, command));
        self.next_seq
    }
}
