//! The UI's picture of the lab: the actor's sockets and settings as it
//! last published them, each socket linked to its connection in the
//! pipeline. A link is made by the kernel's socket cookie (exact, and kept
//! by a TIME_WAIT successor), or, where there are no cookies, for an open
//! socket by its addresses; once made it sticks to that connection id, so
//! a closed listener never takes over the listener that replaced it on the
//! same port. Pure: no sockets
//! here, only data; rows and the selection are lab socket ids.

use crate::lab::{LabConfig, LabId, LabSettings, LabSocket, Side};
use crate::pipeline::Mirror;
use crate::socket::{Conn, ConnId, TcpState};
use rustc_hash::FxHashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// One line of the lab panel: a lab socket and, if the kernel still has
/// it, its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabRow {
    pub socket: LabId,
    pub conn: Option<ConnId>,
}

#[derive(Clone, Debug)]
pub struct LabView {
    pub sockets: Vec<LabSocket>,
    /// The actor's settings, exactly as it reported them.
    pub settings: LabSettings,
    pub rows: Vec<LabRow>,
    pub selected: Option<LabId>,
    links: FxHashMap<LabId, ConnId>,
}

impl LabView {
    pub fn new(config: &LabConfig) -> Self {
        LabView {
            sockets: Vec::new(),
            settings: LabSettings::new(config),
            rows: Vec::new(),
            selected: None,
            links: FxHashMap::default(),
        }
    }

    pub fn socket(&self, id: LabId) -> Option<&LabSocket> {
        self.sockets.iter().find(|s| s.id == id)
    }

    /// Whether quitting would close something: a server or connections.
    pub fn busy(&self) -> Option<String> {
        let open = crate::lab::open_connections(&self.sockets);
        let server = self.settings.running.as_ref().map(|r| r.addr);
        let sockets = match open {
            1 => "1 lab connection".to_string(),
            n => format!("{n} lab connections"),
        };
        match (server, open) {
            (None, 0) => None,
            (Some(a), 0) => Some(format!("the lab server on {a}")),
            (None, _) => Some(sockets),
            (Some(a), _) => Some(format!("the lab server on {a} and {sockets}")),
        }
    }

    /// Re-links lab sockets with the pipeline's connections (`index` maps
    /// a connection id to its place in `conns`). A closed socket stays
    /// listed while the kernel still has its connection (FIN_WAIT_2,
    /// TIME_WAIT, …).
    pub fn relink(&mut self, conns: &Mirror) {
        let gone = |id: &ConnId| conns.get(*id).is_none_or(|c| c.is_gone());
        let live = |id: &ConnId| conns.get(*id).is_some_and(|c| !c.is_gone());
        let sockets: FxHashMap<LabId, &LabSocket> =
            self.sockets.iter().map(|s| (s.id, s)).collect();
        self.links.retain(|socket, id| {
            // A link by addresses is a guess: an open socket whose guess
            // ended is linked again.
            let by_tuple = sockets
                .get(socket)
                .is_some_and(|s| s.cookie.is_none() && s.open);
            conns.get(*id).is_some() && !(by_tuple && gone(id))
        });
        // Building the lookup reads every connection: only when a socket
        // that can be linked is not.
        let linkable = |s: &&LabSocket| s.cookie.is_some() || s.open;
        let unlinked =
            (self.sockets.iter().filter(linkable)).any(|s| !self.links.contains_key(&s.id));
        if unlinked {
            let lookup = Lookup::build(conns.iter());
            for s in &self.sockets {
                if !self.links.contains_key(&s.id)
                    && let Some(id) = lookup.find(s)
                {
                    self.links.insert(s.id, id);
                }
            }
        }
        let links = &self.links;
        self.rows = self
            .sockets
            .iter()
            .map(|s| LabRow {
                socket: s.id,
                conn: links.get(&s.id).copied(),
            })
            .filter(|r| {
                let open = sockets.get(&r.socket).is_some_and(|s| s.open);
                open || r.conn.as_ref().is_some_and(live)
            })
            .collect();
        if self
            .selected
            .is_none_or(|id| !self.rows.iter().any(|r| r.socket == id))
        {
            self.selected = self.rows.first().map(|r| r.socket);
        }
    }

    /// Position of the selection among the rows.
    pub fn cursor(&self) -> usize {
        self.selected
            .and_then(|id| self.rows.iter().position(|r| r.socket == id))
            .unwrap_or(0)
    }

    pub fn selected_row(&self) -> Option<LabRow> {
        let id = self.selected?;
        self.rows.iter().find(|r| r.socket == id).copied()
    }

    pub fn selected_socket(&self) -> Option<&LabSocket> {
        self.selected.and_then(|id| self.socket(id))
    }

    /// The lab socket linked to connection `conn`.
    pub fn socket_of(&self, conn: ConnId) -> Option<LabId> {
        self.rows
            .iter()
            .find(|r| r.conn == Some(conn))
            .map(|r| r.socket)
    }

    /// The kernel state of a lab row, as the pipeline reports it.
    pub fn state(&self, row: LabRow, conns: &Mirror) -> Option<TcpState> {
        let c = conns.get(row.conn?)?;
        (!c.is_gone()).then(|| c.state())
    }

    pub fn move_cursor(&mut self, delta: i64) {
        let last = self.rows.len().saturating_sub(1) as i64;
        let at = (self.cursor() as i64)
            .saturating_add(delta)
            .clamp(0, last.max(0)) as usize;
        self.selected = self.rows.get(at).map(|r| r.socket);
    }

    /// The port the table is filtered to in `tcpscope lab`.
    pub fn port(&self) -> u16 {
        self.settings.port()
    }
}

/// Connections by cookie, and live ones by their two ends (plus by local
/// port and remote, for lab clients bound to an unspecified address).
struct Lookup {
    by_cookie: FxHashMap<u64, ConnId>,
    exact: FxHashMap<(SocketAddr, SocketAddr), ConnId>,
    by_port: FxHashMap<(u16, SocketAddr), ConnId>,
}

impl Lookup {
    fn build<'a>(conns: impl Iterator<Item = &'a Arc<Conn>>) -> Self {
        let mut l = Lookup {
            by_cookie: FxHashMap::default(),
            exact: FxHashMap::default(),
            by_port: FxHashMap::default(),
        };
        for c in conns {
            if let Some(cookie) = c.row.cookie {
                l.by_cookie.insert(cookie, c.id);
            }
            if !c.is_gone() {
                let k = c.row.key;
                l.exact.insert((k.local, k.remote), c.id);
                l.by_port.insert((k.local.port(), k.remote), c.id);
            }
        }
        l
    }

    fn find(&self, s: &LabSocket) -> Option<ConnId> {
        if let Some(cookie) = s.cookie {
            // Exact; until a reading shows the cookie, no link at all.
            return self.by_cookie.get(&cookie).copied();
        }
        if !s.open {
            // Its addresses may belong to a newer socket by now.
            return None;
        }
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
