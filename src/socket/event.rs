//! What happened to a connection: it appeared, changed state, or ended.
//! The pipeline emits these in order per connection, with monotonic times.

use super::cause::Cause;
use super::conn::{Conn, ConnId};
use super::row::{Owner, SocketKey};
use super::state::TcpState;
use super::summary::Summary;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    New,
    State { from: TcpState, to: TcpState },
    Gone,
}

impl EventKind {
    /// The name in `watch` output and the event stream.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::New => "new",
            EventKind::State { .. } => "state",
            EventKind::Gone => "gone",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: Instant,
    pub wall: SystemTime,
    pub id: ConnId,
    pub key: SocketKey,
    /// The state the connection is in after the event (last state if gone).
    pub state: TcpState,
    pub kind: EventKind,
    /// Who held the connection, when known (kept after the owner let go,
    /// so a process's TIME_WAITs still count as its own).
    pub owner: Option<Arc<Owner>>,
    /// Why it happened: for `new`, why the first state began; for `gone`,
    /// why the connection ended.
    pub cause: Cause,
    /// On `gone`: the connection's whole life.
    pub summary: Option<Arc<Summary>>,
}

impl Event {
    /// An event about `conn` as it is now.
    pub fn of(conn: &Conn, kind: EventKind, at: Instant, wall: SystemTime) -> Event {
        Event {
            at,
            wall,
            id: conn.id,
            key: conn.row.key,
            state: conn.row.state,
            kind,
            owner: conn.row.owner.clone(),
            cause: conn
                .timeline
                .last()
                .map(|p| p.cause.clone())
                .unwrap_or_default(),
            summary: None,
        }
    }

    /// `from` and `to` as the NDJSON contract spells them.
    pub fn states(&self) -> (Option<TcpState>, Option<TcpState>) {
        match self.kind {
            EventKind::New => (None, Some(self.state)),
            EventKind::State { from, to } => (Some(from), Some(to)),
            EventKind::Gone => (Some(self.state), None),
        }
    }
}
