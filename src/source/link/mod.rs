//! A slow-motion link between two network namespaces of this process.
//!
//! Two fresh, anonymous network namespaces ("client" and "server"), each
//! with a TUN device; a forwarder thread moves every IP packet from one
//! device to the other, so packets can be delayed, held until released
//! one at a time (step mode), or dropped, while real kernels run TCP on
//! both ends. Nothing is named outside the process: when it ends, however
//! it ends, the kernel removes both namespaces and their devices.
//! IPv4 only: IPv6 is off in both namespaces, so that no packet the
//! kernels send of their own accord waits among the lab's.
//!
//! Root only. An unprivileged user namespace would give the rights, but
//! the kernel lets only a single-threaded process enter a new one, and
//! tcpscope has threads long before a lab starts.

// Only the Linux forwarder drives the link; elsewhere it is built for its tests.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod schedule;

#[cfg(target_os = "linux")]
mod forward;
#[cfg(target_os = "linux")]
pub(crate) mod netns;
#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(target_os = "linux")]
use self::netns as sys;
#[cfg(not(target_os = "linux"))]
use self::unsupported as sys;

use self::schedule::Link;
use super::Waker;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The client end's address, in its namespace.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The server end's address, in its namespace.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The TUN device's name in each namespace (never seen on the host).
pub const DEVICE: &str = "tcpscope0";
/// Passages the consumer may fall behind by before some go unreported.
const REPORT_BUFFER: usize = 4096;

/// How the link starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkConfig {
    /// How long every packet stays on the link.
    pub delay: Duration,
    /// Whether packets wait for [`LinkControl::release_next`].
    pub step: bool,
}

/// Which end of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Client,
    Server,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }

    pub fn address(self) -> Ipv4Addr {
        match self {
            Role::Client => CLIENT_ADDR,
            Role::Server => SERVER_ADDR,
        }
    }

    /// The other end's address: the device's point-to-point peer.
    pub fn peer(self) -> Ipv4Addr {
        match self {
            Role::Client => SERVER_ADDR,
            Role::Server => CLIENT_ADDR,
        }
    }
}

/// Which way a packet crosses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    /// `client→server`, for a pane.
    pub fn label(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client→server",
            Direction::ServerToClient => "server→client",
        }
    }
}

/// What happened to a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// It entered the link and now waits (for its delay or a step).
    Arrived,
    /// It reached the other end's kernel.
    Delivered,
    /// The link lost it on purpose.
    Dropped,
}

/// One packet at one moment of its crossing. Parse it with
/// [`crate::source::capture::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Passage {
    /// The packet's number on this link: its `Arrived` and its
    /// `Delivered` or `Dropped` passages share it.
    pub seq: u64,
    /// When this happened to it.
    pub at: Instant,
    pub wall: SystemTime,
    pub direction: Direction,
    /// The packet from its IP header on.
    pub packet: Vec<u8>,
    pub fate: Fate,
}

/// Why the link could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(
        "the slow-motion link needs root (it creates network namespaces and TUN devices): run tcpscope as root"
    )]
    NotPermitted,
    #[error(
        "the slow-motion link needs the TUN driver, and /dev/net/tun is missing: load it with `modprobe tun` (as root)"
    )]
    TunMissing,
    #[error("the slow-motion link needs Linux (network namespaces and TUN devices)")]
    Unsupported,
    #[error("cannot {doing}: {cause}")]
    Os { doing: String, cause: String },
}

impl LinkError {
    /// An OS error while `doing` something; a refusal means root is needed.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn os(doing: &str, err: &io::Error) -> LinkError {
        match err.kind() {
            io::ErrorKind::PermissionDenied => LinkError::NotPermitted,
            _ => LinkError::Os {
                doing: doing.to_string(),
                cause: super::error::os_words(err),
            },
        }
    }
}

/// One end's network namespace, alive while this value is.
pub struct Namespace {
    role: Role,
    handle: sys::Handle,
}

impl Namespace {
    pub fn role(&self) -> Role {
        self.role
    }

    /// "client" or "server".
    pub fn name(&self) -> &'static str {
        self.role.name()
    }

    pub fn address(&self) -> Ipv4Addr {
        self.role.address()
    }

    /// Runs `f` on a short-lived thread inside this namespace: sockets it
    /// creates, and processes it starts, belong to the namespace for good,
    /// whichever thread uses them later.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        sys::run(&self.handle, f)
    }

    /// The namespace's inode number, as `lsns` and `/proc/*/ns/net` show it.
    pub fn inode(&self) -> io::Result<u64> {
        sys::inode(&self.handle)
    }
}

/// What the forwarder and every [`LinkControl`] share.
struct Shared {
    link: Mutex<Link>,
    /// Wakes the forwarder so a change takes effect now.
    wake: Waker,
    stop: AtomicBool,
    /// Passages the consumer's channel had no room for.
    unreported: AtomicU64,
    /// Packets made up by the lab, to enter the link as if sent.
    injected: Mutex<Vec<(Direction, Vec<u8>)>>,
}

impl Shared {
    fn link(&self) -> MutexGuard<'_, Link> {
        // The link holds plain data, always whole between calls: a panic
        // elsewhere while it was locked leaves nothing half-done.
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn change(&self, f: impl FnOnce(&mut Link)) {
        f(&mut self.link());
        (self.wake)();
    }
}

/// Steers a running link from any thread.
#[derive(Clone)]
pub struct LinkControl {
    shared: Arc<Shared>,
}

impl LinkControl {
    /// Every packet is let go `delay` after it arrived, from now on also
    /// the ones already on the link.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.change(|l| l.set_delay(delay));
    }

    /// In step mode packets wait for [`Self::release_next`]; leaving it
    /// lets them go (after their delay).
    pub fn set_step(&self, on: bool) {
        self.shared.change(|l| l.set_step(on));
    }

    /// Lets the oldest waiting packet (of both directions) through now;
    /// whether one was waiting.
    pub fn release_next(&self) -> bool {
        let released = self.shared.link().release_next();
        (self.shared.wake)();
        released
    }

    /// Drops the oldest waiting packet in step mode, or else the next one
    /// to arrive.
    pub fn drop_next(&self) {
        self.shared.change(Link::drop_next);
    }

    /// While on, every packet is dropped: the link is dead.
    pub fn drop_all(&self, on: bool) {
        self.shared.change(|l| l.set_drop_all(on));
    }

    /// The packets on the link now, oldest first.
    pub fn waiting(&self) -> Vec<Passage> {
        self.shared.link().waiting()
    }

    /// Puts a packet made up by the lab on the link, as if the end it
    /// comes from had sent it (`direction`): delayed, held or dropped
    /// like any other.
    pub fn inject(&self, direction: Direction, packet: Vec<u8>) {
        self.shared
            .injected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((direction, packet));
        (self.shared.wake)();
    }

    /// Passages that could not be reported because the receiver was full.
    pub fn unreported(&self) -> u64 {
        self.shared.unreported.load(Ordering::Relaxed)
    }
}

/// The link: both namespaces and the forwarder between them. Dropping it
/// stops the forwarder and closes every descriptor, so the namespaces and
/// their devices go.
pub struct SlowLink {
    pub client: Namespace,
    pub server: Namespace,
    /// Every packet's arrival, delivery or drop, in order.
    pub passages: tokio::sync::mpsc::Receiver<Passage>,
    control: LinkControl,
    forwarder: Option<JoinHandle<()>>,
}

impl SlowLink {
    /// Makes both namespaces and their devices and starts the forwarder.
    pub fn create(config: LinkConfig) -> Result<SlowLink, LinkError> {
        let (tx, passages) = tokio::sync::mpsc::channel(REPORT_BUFFER);
        let link = Link::new(config.delay, config.step);
        let started = sys::start(link, tx)?;
        Ok(SlowLink {
            client: Namespace {
                role: Role::Client,
                handle: started.client,
            },
            server: Namespace {
                role: Role::Server,
                handle: started.server,
            },
            passages,
            control: LinkControl {
                shared: started.shared,
            },
            forwarder: Some(started.forwarder),
        })
    }

    pub fn control(&self) -> LinkControl {
        self.control.clone()
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.control.shared.stop.store(true, Ordering::SeqCst);
        (self.control.shared.wake)();
        if let Some(forwarder) = self.forwarder.take() {
            let _ = forwarder.join();
        }
    }
}

/// What the platform part hands back once the link runs.
struct Started {
    client: sys::Handle,
    server: sys::Handle,
    shared: Arc<Shared>,
    forwarder: JoinHandle<()>,
}
