//! The forwarder: one thread that waits on both TUN devices and the
//! wake-up at once, takes every packet onto the link, and writes each to
//! the other end when the link lets it go.

use super::{Direction, Fate, Passage, Shared};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::Sender;
use tun_rs::SyncDevice;

/// How often a quiet forwarder looks at its stop flag anyway, in case a
/// wake-up was lost.
const QUIET: Duration = Duration::from_millis(100);
/// Larger than any packet a TUN device of the link's MTU hands over.
const BUFFER: usize = 65_536;
/// Packets taken from one device in a row, so that a flood one way does
/// not hold up what is due the other way.
const BATCH: usize = 64;

/// What the forwarder owns: both devices and the read end of its wake-up.
pub struct Ends {
    pub client: SyncDevice,
    pub server: SyncDevice,
    pub wake: Arc<OwnedFd>,
}

pub fn spawn(ends: Ends, shared: Arc<Shared>, tx: Sender<Passage>) -> io::Result<JoinHandle<()>> {
    let forwarder = Forwarder {
        ends,
        shared,
        tx,
        buf: vec![0u8; BUFFER],
    };
    std::thread::Builder::new()
        .name("tcpscope-link".into())
        .spawn(move || {
            // Both devices are open: moving packets needs no privilege.
            crate::source::confine::drop_all_here();
            forwarder.run()
        })
}

struct Forwarder {
    ends: Ends,
    shared: Arc<Shared>,
    tx: Sender<Passage>,
    buf: Vec<u8>,
}

impl Forwarder {
    fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            let ready = self.wait();
            self.take_in(ready);
            self.let_go();
        }
    }

    /// Sleeps until a device has a packet, a held one is due, or a
    /// control call wakes it; which devices have packets (client, server).
    fn wait(&self) -> (bool, bool) {
        let now = Instant::now();
        let due = self.shared.link().next_due();
        let timeout = due.map_or(QUIET, |d| d.saturating_duration_since(now).min(QUIET));
        let spec = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [
            PollFd::new(&self.ends.client, PollFlags::IN),
            PollFd::new(&self.ends.server, PollFlags::IN),
            PollFd::new(&*self.ends.wake, PollFlags::IN),
        ];
        if poll(&mut fds, Some(&spec)).is_err() {
            return (false, false);
        }
        let readable = |fd: &PollFd<'_>| !fd.revents().is_empty();
        let ready = (readable(&fds[0]), readable(&fds[1]));
        if readable(&fds[2]) {
            let mut sink = [0u8; 8];
            let _ = rustix::io::read(&*self.ends.wake, &mut sink);
        }
        ready
    }

    /// Every packet the lab made up and every one waiting on the ready
    /// devices, onto the link.
    fn take_in(&mut self, (client, server): (bool, bool)) {
        let injected = std::mem::take(
            &mut *self
                .shared
                .injected
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (direction, packet) in injected {
            let (at, wall) = (Instant::now(), SystemTime::now());
            let passages = self.shared.link().arrive(direction, packet, at, wall);
            for p in passages {
                self.report(p);
            }
        }
        if client {
            self.take_from(Direction::ClientToServer);
        }
        if server {
            self.take_from(Direction::ServerToClient);
        }
    }

    fn take_from(&mut self, direction: Direction) {
        for _ in 0..BATCH {
            let n = match source(&self.ends, direction).recv(&mut self.buf) {
                Ok(n) => n,
                // WouldBlock: all taken. Anything else: nothing to take
                // (an interrupted read is tried again on the next round).
                Err(_) => return,
            };
            let packet = self.buf[..n].to_vec();
            let (at, wall) = (Instant::now(), SystemTime::now());
            let passages = self.shared.link().arrive(direction, packet, at, wall);
            for p in passages {
                self.report(p);
            }
        }
    }

    /// Writes every packet whose time has come to the other end.
    fn let_go(&mut self) {
        let ready = self
            .shared
            .link()
            .take_ready(Instant::now(), SystemTime::now());
        for mut p in ready {
            if p.fate == Fate::Delivered && target(&self.ends, p.direction).send(&p.packet).is_err()
            {
                // The other kernel refused it (no room in its queue): lost
                // on the way, as on a real link.
                p.fate = Fate::Dropped;
            }
            self.report(p);
        }
    }

    /// Never blocks: a consumer that falls behind loses reports, not
    /// packets.
    fn report(&self, passage: Passage) {
        if self.tx.try_send(passage).is_err() {
            self.shared.unreported.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The device a packet going this way comes from.
fn source(ends: &Ends, direction: Direction) -> &SyncDevice {
    match direction {
        Direction::ClientToServer => &ends.client,
        Direction::ServerToClient => &ends.server,
    }
}

/// The device a packet going this way is written to.
fn target(ends: &Ends, direction: Direction) -> &SyncDevice {
    match direction {
        Direction::ClientToServer => &ends.server,
        Direction::ServerToClient => &ends.client,
    }
}
