//! A consumer's copy of the pipeline's connections, kept by applying its
//! deltas: each update costs what changed, not the size of the table.

use super::Delta;
use crate::socket::{Conn, ConnId};
use rustc_hash::FxHashMap;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct Mirror {
    conns: FxHashMap<ConnId, Arc<Conn>>,
    /// The connection to show for each pair of addresses: the live one,
    /// else the one that ended last.
    by_tuple: FxHashMap<(SocketAddr, SocketAddr), ConnId>,
}

impl Mirror {
    /// Applies a delta, telling `each` every connection it changed or
    /// removed: the version it replaced (if any) and the new one (if any).
    pub fn apply(&mut self, delta: &Delta, mut each: impl FnMut(Option<&Conn>, Option<&Conn>)) {
        for conn in &delta.changed {
            let old = self.conns.insert(conn.id, conn.clone());
            self.place(conn);
            each(old.as_deref(), Some(conn));
        }
        for id in &delta.removed {
            let Some(old) = self.conns.remove(id) else {
                continue;
            };
            let tuple = (old.row.key.local, old.row.key.remote);
            if self.by_tuple.get(&tuple) == Some(id) {
                self.by_tuple.remove(&tuple);
            }
            each(Some(&old), None);
        }
    }

    fn place(&mut self, conn: &Arc<Conn>) {
        let tuple = (conn.row.key.local, conn.row.key.remote);
        let shown = self.by_tuple.get(&tuple).and_then(|id| self.conns.get(id));
        let better = match shown {
            None => true,
            Some(s) if s.id == conn.id => true,
            // A live connection wins; among ended ones, the newer.
            Some(s) => (!conn.is_gone(), conn.id) > (!s.is_gone(), s.id),
        };
        if better {
            self.by_tuple.insert(tuple, conn.id);
        }
    }

    pub fn get(&self, id: ConnId) -> Option<&Arc<Conn>> {
        self.conns.get(&id)
    }

    /// The connection between these two addresses: the live one if there
    /// is one, else the one that ended last.
    pub fn between(&self, local: SocketAddr, remote: SocketAddr) -> Option<&Arc<Conn>> {
        let id = self.by_tuple.get(&(local, remote))?;
        self.conns.get(id)
    }

    /// Every connection, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Conn>> {
        self.conns.values()
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}
