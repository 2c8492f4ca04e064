//! The capture socket: AF_PACKET, SOCK_DGRAM (packets from the IP header
//! on, whatever the link), every protocol, the port's BPF filter. Each
//! packet carries the kernel's receive time, so segments and state
//! changes (the tracepoint's times) line up to the microsecond.

use super::{CaptureError, Captured, bpf, parse};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, setsockopt, sockopt};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use std::io::{self, IoSliceMut};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// ETH_P_ALL, in network order as the socket call wants it.
const ETH_P_ALL: u16 = 0x0003;
/// How often the thread looks at its stop flag while the wire is quiet.
const POLL: Duration = Duration::from_millis(100);

pub fn spawn(
    port: u16,
    tx: tokio::sync::mpsc::Sender<Captured>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, CaptureError> {
    let socket = open(port)?;
    std::thread::Builder::new()
        .name("tcpscope-capture".into())
        .spawn(move || {
            // The socket is open: reading it needs no privilege.
            crate::source::confine::drop_all_here();
            read(&socket, port, &tx, &stop)
        })
        .map_err(|e| CaptureError::Os(format!("cannot start the capture thread: {e}")))
}

fn open(port: u16) -> Result<Socket, CaptureError> {
    let protocol = Protocol::from(i32::from(ETH_P_ALL.to_be()));
    let socket =
        Socket::new(Domain::PACKET, Type::DGRAM, Some(protocol)).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => CaptureError::NotPermitted,
            _ => CaptureError::Os(format!("cannot open a packet socket: {e}")),
        })?;
    let program: Vec<SockFilter> = bpf::tcp_port(port)
        .into_iter()
        .map(|(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
        .collect();
    socket
        .attach_filter(&program)
        .map_err(|e| CaptureError::Os(format!("the kernel refused the port filter: {e}")))?;
    // A burst of segments must not overflow the queue while we parse.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket
        .set_read_timeout(Some(POLL))
        .map_err(|e| CaptureError::Os(format!("cannot set a read timeout: {e}")))?;
    // Without kernel times, the read time stands in (a few µs later).
    let _ = setsockopt(&socket, sockopt::ReceiveTimestampns, &true);
    Ok(socket)
}

fn read(socket: &Socket, port: u16, tx: &tokio::sync::mpsc::Sender<Captured>, stop: &AtomicBool) {
    let mut buf = vec![0u8; bpf::SNAPLEN as usize];
    let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
    while !stop.load(Ordering::SeqCst) {
        let (n, stamp) = match receive(socket, &mut buf, &mut control) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        let (at, wall) = placed(stamp);
        let Some(header) = parse(&buf[..n], port) else {
            continue;
        };
        let captured = Captured {
            wall,
            at,
            header,
            packet: buf[..n].to_vec(),
        };
        if tx.blocking_send(captured).is_err() {
            return;
        }
    }
}

/// One packet and the kernel's time for it, if it gave one.
fn receive(
    socket: &Socket,
    buf: &mut [u8],
    control: &mut [u8],
) -> io::Result<(usize, Option<SystemTime>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(control),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let stamp = msg.cmsgs().ok().and_then(|mut all| {
        all.find_map(|c| match c {
            ControlMessageOwned::ScmTimestampns(ts) => {
                let nanos = u32::try_from(ts.tv_nsec()).ok()?;
                let secs = u64::try_from(ts.tv_sec()).ok()?;
                Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
            }
            _ => None,
        })
    });
    Ok((msg.bytes, stamp))
}

/// The packet's time on both clocks. Its age is measured on the wall
/// clock just now, so a clock adjusted since start does not shift it.
fn placed(stamp: Option<SystemTime>) -> (Instant, SystemTime) {
    let (now, wall_now) = (Instant::now(), SystemTime::now());
    let Some(stamp) = stamp else {
        return (now, wall_now);
    };
    let age = wall_now.duration_since(stamp).unwrap_or_default();
    (now.checked_sub(age).unwrap_or(now), stamp)
}
