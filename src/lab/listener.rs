//! socket(), setsockopt(SO_REUSEADDR), bind(), listen(backlog): the
//! server's first four calls, with the options the user chose.

use super::SocketCall;
use super::options::ServerOptions;
use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

pub fn open(opts: &ServerOptions) -> io::Result<TcpListener> {
    let addr = SocketAddr::new(opts.bind, opts.port);
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
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
