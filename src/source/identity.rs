//! The kernel's identity for a socket this process holds: its cookie, the
//! same number sock_diag reports for it (and for its TIME_WAIT successor).

/// The socket's cookie (SO_COOKIE, Linux 4.12+); `None` elsewhere.
#[cfg(target_os = "linux")]
pub fn socket_cookie(socket: socket2::SockRef<'_>) -> Option<u64> {
    socket.cookie().ok()
}

#[cfg(not(target_os = "linux"))]
pub fn socket_cookie(_socket: socket2::SockRef<'_>) -> Option<u64> {
    None
}
