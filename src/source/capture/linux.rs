//! The capture socket: AF_PACKET, SOCK_DGRAM (packets from the IP header
//! on, whatever the link), every protocol, the port's BPF filter.

use super::{CaptureError, Captured, bpf, parse};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use std::io::{self, Read};
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
        .spawn(move || read(&socket, port, &tx, &stop))
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
    Ok(socket)
}

fn read(socket: &Socket, port: u16, tx: &tokio::sync::mpsc::Sender<Captured>, stop: &AtomicBool) {
    let mut buf = vec![0u8; bpf::SNAPLEN as usize];
    let mut reader = socket;
    while !stop.load(Ordering::SeqCst) {
        let n = match reader.read(&mut buf) {
            Ok(n) => n,
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
        let (at, wall) = (Instant::now(), SystemTime::now());
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
