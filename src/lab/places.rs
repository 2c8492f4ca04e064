//! Where the lab makes its sockets: in this network namespace, or, for
//! the slow-motion link (`lab --wire`), the listener in one namespace and
//! the clients in another, so that every segment between them crosses the
//! link.

use super::Side;
use std::fmt;
use std::io;
use std::sync::Arc;
use tokio::net::TcpSocket;

/// Makes a socket for a side of the lab (`true`: IPv4).
pub type Maker = Arc<dyn Fn(Side, bool) -> io::Result<TcpSocket> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Places {
    maker: Option<Maker>,
}

impl Places {
    /// Sockets made by `maker` (in the namespace it picks for a side).
    pub fn elsewhere(maker: Maker) -> Self {
        Places { maker: Some(maker) }
    }

    /// Whether sockets are made in other namespaces.
    pub fn is_elsewhere(&self) -> bool {
        self.maker.is_some()
    }

    pub fn socket(&self, side: Side, v4: bool) -> io::Result<TcpSocket> {
        match &self.maker {
            Some(make) => make(side, v4),
            None if v4 => TcpSocket::new_v4(),
            None => TcpSocket::new_v6(),
        }
    }
}

impl fmt::Debug for Places {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_elsewhere() {
            "Places(namespaces)"
        } else {
            "Places(here)"
        })
    }
}

impl PartialEq for Places {
    fn eq(&self, other: &Self) -> bool {
        match (&self.maker, &other.maker) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for Places {}
