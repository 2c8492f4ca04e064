//! The UI's picture of the lab: the lab's own bookkeeping joined with the
//! kernel's state for each socket, looked up in the tracked table by its
//! addresses. Pure: no sockets here, only data.

use crate::lab::{AcceptMode, LabConfig, LabEvent, LabSocket, ServerOptions, Side, Target};
use crate::socket::Conn;
use crate::socket::{SocketKey, TcpState};
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// One line of the lab panel: a lab socket and, if the kernel still has
/// it, its tracked connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabRow {
    pub socket: usize,
    pub conn: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct LabView {
    pub visible: bool,
    pub sockets: Vec<LabSocket>,
    pub rows: Vec<LabRow>,
    pub cursor: usize,
    /// Where the server listens now; `None` when stopped.
    pub server: Option<SocketAddr>,
    /// Options for the next start.
    pub options: ServerOptions,
    pub accept: AcceptMode,
    pub hold: bool,
    /// Where `c` connects; `None` means the lab server.
    pub target: Option<Target>,
    pub max_connections: usize,
}

impl LabView {
    pub fn new(config: &LabConfig, visible: bool) -> Self {
        LabView {
            visible,
            sockets: Vec::new(),
            rows: Vec::new(),
            cursor: 0,
            server: None,
            options: config.server.clone(),
            accept: config.accept,
            hold: config.hold,
            target: None,
            max_connections: config.max_connections,
        }
    }

    /// Takes in a lab event; returns the status line it produces, if any
    /// (`Err` for errors).
    pub fn apply(&mut self, event: LabEvent) -> Option<Result<String, String>> {
        match event {
            LabEvent::Outcome { result, .. } => return Some(result),
            LabEvent::Notice(text) => return Some(Err(text)),
            LabEvent::Sockets(list) => self.sockets = list,
            LabEvent::Server(addr) => {
                self.server = addr;
                // A restart (S twice, or a demo step) keeps the port.
                if let Some(a) = addr {
                    self.options.port = a.port();
                }
            }
        }
        None
    }

    /// Re-joins lab sockets with the kernel's table. A closed socket stays
    /// listed while the kernel still has it (FIN_WAIT_2, TIME_WAIT, …).
    pub fn relink(&mut self, conns: &[Arc<Conn>]) {
        let selected = self.selected().map(|s| s.id);
        let index = ConnIndex::build(conns, !self.sockets.is_empty());
        self.rows = self
            .sockets
            .iter()
            .enumerate()
            .map(|(i, s)| LabRow {
                socket: i,
                conn: index.find(s),
            })
            .filter(|r| self.sockets[r.socket].open || r.conn.is_some_and(|c| !conns[c].is_gone()))
            .collect();
        let found = selected.and_then(|id| {
            self.rows
                .iter()
                .position(|r| self.sockets[r.socket].id == id)
        });
        self.cursor = found
            .unwrap_or(self.cursor)
            .min(self.rows.len().saturating_sub(1));
    }

    pub fn selected_row(&self) -> Option<LabRow> {
        self.rows.get(self.cursor).copied()
    }

    pub fn selected(&self) -> Option<&LabSocket> {
        self.selected_row().map(|r| &self.sockets[r.socket])
    }

    /// The kernel state of a lab row, as the table reports it.
    pub fn state(&self, row: LabRow, conns: &[Arc<Conn>]) -> Option<TcpState> {
        row.conn
            .filter(|&c| !conns[c].is_gone())
            .map(|c| conns[c].state())
    }

    /// Moves the cursor onto the lab socket that is this connection.
    pub fn select_conn(&mut self, conn_index: usize) {
        if let Some(pos) = self.rows.iter().position(|r| r.conn == Some(conn_index)) {
            self.cursor = pos;
        }
    }

    pub fn move_cursor(&mut self, delta: i64) {
        let last = self.rows.len().saturating_sub(1) as i64;
        self.cursor = (self.cursor as i64)
            .saturating_add(delta)
            .clamp(0, last.max(0)) as usize;
    }

    /// The port the table is filtered to in `tcpscope lab`.
    pub fn port(&self) -> u16 {
        self.server.map_or(self.options.port, |a| a.port())
    }

    pub fn target_label(&self) -> String {
        match &self.target {
            Some(t) => t.to_string(),
            None => "the lab server".to_string(),
        }
    }
}

/// Connections by their two ends, plus by (local port, remote) for lab
/// clients bound to an unspecified address.
struct ConnIndex {
    exact: FxHashMap<(SocketAddr, SocketAddr), usize>,
    by_port: FxHashMap<(u16, SocketAddr), usize>,
}

impl ConnIndex {
    fn build(conns: &[Arc<Conn>], needed: bool) -> Self {
        let mut index = ConnIndex {
            exact: FxHashMap::default(),
            by_port: FxHashMap::default(),
        };
        if !needed {
            return index;
        }
        for (i, c) in conns.iter().enumerate() {
            let SocketKey { local, remote, .. } = c.row.key;
            // A live connection wins over a lingering one with the same ends.
            if !c.is_gone() || !index.exact.contains_key(&(local, remote)) {
                index.exact.insert((local, remote), i);
                index.by_port.insert((local.port(), remote), i);
            }
        }
        index
    }

    fn find(&self, s: &LabSocket) -> Option<usize> {
        let remote = s.remote.unwrap_or_else(|| unconnected(s.local));
        if s.local.ip().is_unspecified() && s.side != Side::Listener {
            return self.by_port.get(&(s.local.port(), remote)).copied();
        }
        self.exact.get(&(s.local, remote)).copied()
    }
}

/// How the table writes a listener's remote end.
fn unconnected(local: SocketAddr) -> SocketAddr {
    let ip = match local {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}
