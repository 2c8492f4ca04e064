//! TCP segments of one port as they cross the wire: an `AF_PACKET` socket
//! (Linux, root or CAP_NET_RAW) with a kernel BPF filter for the port,
//! read on a thread of its own; each packet parsed (etherparse) and
//! numbered (`socket::segment`). The raw packets are kept too, for pcap.

pub mod bpf;
#[cfg(target_os = "linux")]
mod linux;
pub mod pcap;

use crate::socket::segment::{Flags, Header};
use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

/// One captured packet: its TCP header's numbers and the packet itself
/// (from the IP header on).
#[derive(Clone, Debug)]
pub struct Captured {
    pub wall: SystemTime,
    pub at: std::time::Instant,
    pub header: Header,
    pub packet: Vec<u8>,
}

/// Why segments cannot be captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureError {
    NotPermitted,
    Unsupported,
    Os(String),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::NotPermitted => {
                f.write_str("capturing segments needs root (or CAP_NET_RAW): run tcpscope as root")
            }
            CaptureError::Unsupported => {
                f.write_str("capturing segments needs Linux (an AF_PACKET socket)")
            }
            CaptureError::Os(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for CaptureError {}

/// A running capture: segments arrive on `segments`; dropping it stops
/// the thread.
pub struct Capture {
    pub segments: tokio::sync::mpsc::Receiver<Captured>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.segments.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts capturing the TCP segments to or from `port`.
#[cfg(target_os = "linux")]
pub fn start(port: u16) -> Result<Capture, CaptureError> {
    let (tx, segments) = tokio::sync::mpsc::channel(10_000);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thread = linux::spawn(port, tx, stop.clone())?;
    Ok(Capture {
        segments,
        stop,
        thread: Some(thread),
    })
}

#[cfg(not(target_os = "linux"))]
pub fn start(_port: u16) -> Result<Capture, CaptureError> {
    Err(CaptureError::Unsupported)
}

/// The TCP header of an IP packet to or from `port`; `None` for anything
/// else (a packet queued before the kernel filter was attached).
pub fn parse(packet: &[u8], port: u16) -> Option<Header> {
    let ip = etherparse::IpSlice::from_slice(packet).ok()?;
    let payload = ip.payload();
    if payload.ip_number != etherparse::IpNumber::TCP || payload.fragmented {
        return None;
    }
    let tcp = etherparse::TcpSlice::from_slice(payload.payload).ok()?;
    let (sport, dport) = (tcp.source_port(), tcp.destination_port());
    if sport != port && dport != port {
        return None;
    }
    let bits = [
        (tcp.fin(), Flags::FIN),
        (tcp.syn(), Flags::SYN),
        (tcp.rst(), Flags::RST),
        (tcp.psh(), Flags::PSH),
        (tcp.ack(), Flags::ACK),
    ];
    let flags = bits.iter().filter(|(on, _)| *on).fold(0, |f, (_, b)| f | b);
    Some(Header {
        from: SocketAddr::new(ip.source_addr(), sport),
        to: SocketAddr::new(ip.destination_addr(), dport),
        flags: Flags(flags),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        len: u32::try_from(tcp.payload().len()).unwrap_or(u32::MAX),
        win: tcp.window_size(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let builder = etherparse::PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 2], 64)
            .tcp(sport, dport, 1000, 512)
            .syn()
            .ack(77);
        let mut out = Vec::new();
        builder.write(&mut out, payload).expect("a packet builds");
        out
    }

    #[test]
    fn reads_the_tcp_header_of_the_port_and_nothing_else() {
        let h = parse(&packet(40000, 8080, b"hello"), 8080).expect("to the port");
        assert_eq!(h.from, "127.0.0.1:40000".parse().expect("addr"));
        assert_eq!(h.to, "127.0.0.2:8080".parse().expect("addr"));
        assert_eq!(h.flags.names(), ["SYN", "ACK"]);
        assert_eq!((h.seq, h.ack, h.len, h.win), (1000, 77, 5, 512));
        assert!(
            parse(&packet(40000, 8081, b""), 8080).is_none(),
            "another port"
        );
        assert!(parse(&[0x45, 0, 0], 8080).is_none(), "cut short");
    }
}
