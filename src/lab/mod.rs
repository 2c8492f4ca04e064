//! The lab: a test server and client whose sockets a person drives call by
//! call. It owns its sockets and nothing else: commands in, events out.
//! Their kernel states are not tracked here; they come from the same
//! socket table as every other socket.

mod actor;
mod conn;
pub mod explain;
mod listener;
pub mod options;

pub use options::{AcceptMode, ServerOptions, Target};

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

/// The lab's own bookkeeping for one socket. Deliberately no TCP state:
/// the UI looks that up in the kernel's table by `local` and `remote`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabSocket {
    pub id: LabId,
    pub side: Side,
    pub local: SocketAddr,
    /// `None` for the listener.
    pub remote: Option<SocketAddr>,
    pub sent: u64,
    pub received: u64,
    /// The last socket call made on it, as socket code reads.
    pub last_call: String,
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabCommand {
    StartServer(ServerOptions),
    StopServer,
    SetAcceptMode(AcceptMode),
    /// Take one connection off the accept queue (manual mode).
    AcceptOne,
    /// When the peer closes, keep our end open (CLOSE_WAIT) until closed by hand.
    SetHold(bool),
    /// Connect `count` clients to `target` (the lab server when `None`).
    Connect {
        target: Option<Target>,
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabEvent {
    /// The result of the command with this sequence number: a line for the
    /// status bar, or the explained error.
    Outcome {
        seq: u64,
        result: Result<String, String>,
    },
    /// Something happened without a command (peer closed, accepted, …).
    Notice(String),
    /// The lab's sockets after a change, ordered by id.
    Sockets(Vec<LabSocket>),
    /// The listener's address after a (re)start, `None` once stopped.
    Server(Option<SocketAddr>),
}

/// How the lab behaves; the UI shows these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabConfig {
    pub server: ServerOptions,
    pub accept: AcceptMode,
    pub hold: bool,
    pub max_connections: usize,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            server: ServerOptions::default(),
            accept: AcceptMode::Auto,
            hold: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
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
