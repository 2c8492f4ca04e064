//! The lab across the slow-motion link (`lab --wire`, `wire:` demos): the
//! listener in one network namespace, the clients in another, every
//! segment between them crossing a link tcpscope forwards itself, so it
//! can be delayed, held, or dropped. The table reads both namespaces.

use super::Side;
use super::places::Places;
use crate::socket::crossings::{Fate, SegmentLog};
use crate::source::link::{self, LinkConfig, LinkControl, Passage, SlowLink};
use crate::source::namespaced::{Member, Namespaced};
use crate::source::{Cadence, Scope, SourceError, SourceKind, Sources};
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpSocket;

/// The one-way delay a link starts with: slow enough to watch SYN_SENT
/// and SYN_RECV, short enough that a round trip (twice this) stays under
/// the kernel's first retransmission timeout (1 s), so nothing repeats.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(400);

/// What can be asked of the link, by a key, a demo's `wire` step or the
/// lab: one call type for all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOrder {
    /// Every segment from now on takes this long to cross.
    Delay(u64),
    /// Step mode: segments wait until released.
    Hold(bool),
    /// Lets the next N waiting segments through.
    Release(usize),
    /// The next segment is lost.
    DropNext,
    /// While down, every segment is lost.
    Down(bool),
    /// N SYNs from made-up clients, straight to the server.
    Flood(usize),
}

/// The link and what the view needs of it.
pub struct LabLink {
    slow: Arc<SlowLink>,
    /// How it started: the view shows it.
    pub delay: Duration,
    pub step: bool,
    /// Every packet's passage, for the segments pane and the pcap file.
    pub passages: tokio::sync::mpsc::Receiver<Passage>,
    pub control: LinkControl,
}

/// Why the link did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum SteerError {
    /// A release with nothing waiting: news, not a failure.
    #[error("no segment waits on the link: make a call (c connects, x closes)")]
    NothingWaiting,
    #[error("cannot send made-up SYNs: {0}")]
    Flood(std::io::Error),
}

impl LabLink {
    /// Makes both namespaces and the link between them (root).
    pub fn create(delay: Duration, step: bool) -> Result<LabLink, link::LinkError> {
        let mut slow = SlowLink::create(LinkConfig { delay, step })?;
        // The receiver goes to the view; the namespaces stay shared by
        // the socket maker.
        let (_, empty) = tokio::sync::mpsc::channel(1);
        let passages = std::mem::replace(&mut slow.passages, empty);
        let control = slow.control();
        Ok(LabLink {
            slow: Arc::new(slow),
            delay,
            step,
            passages,
            control,
        })
    }

    /// Where the server listens: its end of the link.
    pub fn server_ip() -> IpAddr {
        IpAddr::V4(link::SERVER_ADDR)
    }

    /// Listener and accepted sockets in the server's namespace, clients in
    /// the client's.
    pub fn places(&self) -> Places {
        let slow = self.slow.clone();
        Places::elsewhere(Arc::new(move |side: Side, v4: bool| {
            if !v4 {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the lab's link carries IPv4 only",
                ));
            }
            let ns = match side {
                Side::Client => &slow.client,
                Side::Listener | Side::Server => &slow.server,
            };
            let made = ns.run(|| {
                socket2::Socket::new(
                    socket2::Domain::IPV4,
                    socket2::Type::STREAM.nonblocking(),
                    Some(socket2::Protocol::TCP),
                )
            })??;
            Ok(TcpSocket::from_std_stream(std::net::TcpStream::from(made)))
        }))
    }

    /// The table of this namespace (with the tracepoint, which sees every
    /// namespace) and of both ends of the link, each read from inside it.
    pub fn sources(&self, kind: SourceKind, scope: &Scope) -> Result<Sources, SourceError> {
        let mut sources = crate::source::open(kind, Cadence::Live, scope)?;
        let inside = |ns: &link::Namespace| -> Result<Member, SourceError> {
            let source = ns
                .run(|| crate::source::sockdiag::open(Cadence::Live))
                .map_err(|e| {
                    SourceError::Unavailable(format!(
                        "cannot enter the {} namespace: {e}",
                        ns.name()
                    ))
                })??;
            Ok(Member {
                netns: Some(ns.name()),
                source,
            })
        };
        let members = vec![inside(&self.slow.client)?, inside(&self.slow.server)?];
        let host = std::mem::replace(&mut sources.table, Box::new(Namespaced::new(Vec::new())));
        let mut all = vec![Member {
            netns: None,
            source: host,
        }];
        all.extend(members);
        sources.table = Box::new(Namespaced::new(all));
        Ok(sources)
    }

    /// Does `call` on the link: the one place keys, demos and `--check`
    /// steer it. Says what it did; `Release` lets through only segments
    /// already waiting (a demo that must wait for one waits first).
    pub fn steer(&self, call: LinkOrder, lab_port: u16) -> Result<String, SteerError> {
        let c = &self.control;
        let on_off = |on: bool, yes: &str, no: &str| if on { yes } else { no }.to_string();
        Ok(match call {
            LinkOrder::Delay(ms) => {
                c.set_delay(Duration::from_millis(ms));
                format!("every segment now takes {ms}ms to cross")
            }
            LinkOrder::Hold(on) => {
                c.set_step(on);
                format!("step mode {}", on_off(on, "on", "off"))
            }
            LinkOrder::Release(n) => {
                let released = (0..n).filter(|_| c.release_next()).count();
                if released == 0 {
                    return Err(SteerError::NothingWaiting);
                }
                format!("{released} segment(s) let through")
            }
            LinkOrder::DropNext => {
                c.drop_next();
                "the next segment will be lost".into()
            }
            LinkOrder::Down(on) => {
                c.drop_all(on);
                format!("link {}", on_off(on, "down", "up"))
            }
            LinkOrder::Flood(n) => {
                let sent = self.flood(n, lab_port).map_err(SteerError::Flood)?;
                format!("{sent} SYNs from made-up clients")
            }
        })
    }

    /// `n` SYNs to the server's `port` from made-up clients on the link's
    /// network (198.18.1.x), entering the link as the client's segments
    /// do; nobody will answer the server's SYN+ACKs. Returns how many.
    pub fn flood(&self, n: usize, port: u16) -> io::Result<usize> {
        for i in 0..n {
            let host = u8::try_from(i % 250 + 1).unwrap_or(1);
            let from = [198, 18, 1 + (i / 250) as u8, host];
            let sport = 40_000 + (i % 20_000) as u16;
            let isn = 0x5eed_0000_u32.wrapping_add(i as u32 * 7919);
            let syn = etherparse::PacketBuilder::ipv4(from, link::SERVER_ADDR.octets(), 64)
                .tcp(sport, port, isn, 64_240)
                .syn();
            let mut packet = Vec::with_capacity(syn.size(0));
            syn.write(&mut packet, &[])
                .map_err(|e| io::Error::other(format!("cannot build a SYN: {e}")))?;
            self.control.inject(link::Direction::ClientToServer, packet);
        }
        Ok(n)
    }

    /// Runs `f` inside the namespace of that name ("client", "server").
    pub fn inside<T: Send>(&self, name: &str, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let ns = if name == self.slow.client.name() {
            &self.slow.client
        } else {
            &self.slow.server
        };
        ns.run(f)
    }

    /// `/proc/net/netstat` as the server's namespace counts: SYN cookies,
    /// listen queue overflows and drops happen there.
    pub fn server_counters(&self) -> io::Result<String> {
        self.slow
            .server
            .run(|| std::fs::read_to_string("/proc/thread-self/net/netstat"))?
    }
}

/// Records one passage in `log`: a packet entering the link is sent, one
/// leaving it arrived (or was lost). Returns the packet when it entered.
pub fn record(log: &mut SegmentLog, p: &Passage, port: u16) -> bool {
    let Some(h) = crate::source::capture::parse(&p.packet, port) else {
        return false;
    };
    match p.fate {
        link::Fate::Arrived => {
            log.record(h, p.at, p.wall, Fate::InFlight);
            true
        }
        link::Fate::Delivered => {
            log.settle(h, Fate::Delivered, p.at, p.wall);
            false
        }
        link::Fate::Dropped => {
            log.settle(h, Fate::Dropped, p.at, p.wall);
            false
        }
    }
}
