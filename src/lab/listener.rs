//! socket(), setsockopt(SO_REUSEADDR), bind(), listen(backlog): the
//! server's first four calls, with the options the user chose.

use super::options::ServerOptions;
use super::places::Places;
use super::{Side, SocketCall};
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub fn open(opts: &ServerOptions, places: &Places) -> io::Result<TcpListener> {
    let addr = SocketAddr::new(opts.bind, opts.port);
    let socket = places.socket(Side::Listener, addr.is_ipv4())?;
    socket.set_reuseaddr(opts.reuseaddr)?;
    if let Some(n) = opts.buffers {
        // Set before listen(): accepted sockets inherit them.
        socket.set_recv_buffer_size(n)?;
        socket.set_send_buffer_size(n)?;
    }
    socket.bind(addr)?;
    socket.listen(opts.backlog)
}

/// The call as socket code reads it, for the lab panel.
pub fn call(opts: &ServerOptions) -> SocketCall {
    SocketCall::Listen {
        backlog: opts.backlog,
        reuseaddr: opts.reuseaddr,
    }
}
