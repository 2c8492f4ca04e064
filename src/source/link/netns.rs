//! The link's two ends on Linux: an anonymous network namespace each,
//! made by a thread of its own with unshare(2) and held by a descriptor
//! of it (no name under /run/netns, so nothing outlives the process), with
//! `lo` up and a point-to-point TUN device to the other end.

use super::schedule::Link;
use super::{DEVICE, LinkError, Passage, Role, Shared, Started, forward};
use nix::sched::{CloneFlags, setns, unshare};
use rustix::event::{EventfdFlags, eventfd};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use tun_rs::{DeviceBuilder, SyncDevice};

/// A descriptor of the namespace: it lives while this does.
pub type Handle = OwnedFd;

/// The loopback device's index: the first device of every namespace.
const LOOPBACK_INDEX: i32 = 1;
const RTM_NEWLINK: u16 = 16;
const NLM_F_REQUEST_ACK: u16 = 0x1 | 0x4;
const IFF_UP: u32 = 0x1;
/// The link carries ordinary Ethernet-sized packets.
const MTU: u16 = 1500;

/// Both ends, the wake-up and the forwarder, running.
pub(super) fn start(
    link: Link,
    tx: tokio::sync::mpsc::Sender<Passage>,
) -> Result<Started, LinkError> {
    if !Path::new("/dev/net/tun").exists() {
        return Err(LinkError::TunMissing);
    }
    let (client, client_dev) = end(Role::Client)?;
    let (server, server_dev) = end(Role::Server)?;
    let wake_fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
        .map_err(|e| LinkError::os("create the forwarder's wake-up", &e.into()))?;
    let wake_fd = Arc::new(wake_fd);
    let waker = wake_fd.clone();
    let shared = Arc::new(Shared {
        link: Mutex::new(link),
        wake: Arc::new(move || {
            let _ = rustix::io::write(&*waker, &1u64.to_ne_bytes());
        }),
        stop: AtomicBool::new(false),
        unreported: AtomicU64::new(0),
        injected: Mutex::new(Vec::new()),
    });
    let ends = forward::Ends {
        client: client_dev,
        server: server_dev,
        wake: wake_fd,
    };
    let forwarder = forward::spawn(ends, shared.clone(), tx)
        .map_err(|e| LinkError::os("start the forwarder thread", &e))?;
    Ok(Started {
        client,
        server,
        shared,
        forwarder,
    })
}

/// A new namespace for `role`, set up, with its TUN device.
fn end(role: Role) -> Result<(OwnedFd, SyncDevice), LinkError> {
    let spawned = std::thread::Builder::new()
        .name(format!("tcpscope-netns-{}", role.name()))
        .spawn(move || -> Result<(OwnedFd, SyncDevice), LinkError> {
            // Only this thread moves: the rest of the process stays put.
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| LinkError::os("create a network namespace", &e.into()))?;
            let ns = std::fs::File::open("/proc/thread-self/ns/net")
                .map_err(|e| LinkError::os("open the new network namespace", &e))?;
            set_up(role).map(|dev| (OwnedFd::from(ns), dev))
        })
        .map_err(|e| LinkError::os("start a thread for a network namespace", &e))?;
    spawned
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Inside the new namespace: `lo` up, no IPv6, the TUN device up.
fn set_up(role: Role) -> Result<SyncDevice, LinkError> {
    let doing = format!("bring up lo in the {} namespace", role.name());
    loopback_up().map_err(|e| LinkError::os(&doing, &e))?;
    quiet_ipv6();
    device(role)
}

/// The TUN device: the role's address, the other end as its peer (which
/// also routes the peer through it).
fn device(role: Role) -> Result<SyncDevice, LinkError> {
    let dev = DeviceBuilder::new()
        .name(DEVICE)
        // A /16 rather than a point-to-point /32: the made-up clients of
        // the lab's SYN flood (198.18.1.x) are answered across the link.
        .ipv4(role.address(), 16, None)
        .mtu(MTU)
        .enable(true)
        .build_sync()
        .map_err(|e| device_error(role, &e))?;
    let doing = format!("make the {} TUN device non-blocking", role.name());
    dev.set_nonblocking(true)
        .map_err(|e| LinkError::os(&doing, &e))?;
    Ok(dev)
}

fn device_error(role: Role, err: &io::Error) -> LinkError {
    // ENOENT, ENXIO, ENODEV: the node is there but no driver answers.
    if matches!(err.raw_os_error(), Some(2 | 6 | 19)) {
        return LinkError::TunMissing;
    }
    let doing = format!("create the {} TUN device {DEVICE}", role.name());
    LinkError::os(&doing, err)
}

/// The link carries only what the lab sends: without IPv6 the kernel
/// sends no router solicitations or multicast reports of its own, which
/// would otherwise wait in step mode among the lab's packets. A kernel
/// without IPv6 has nothing to turn off.
fn quiet_ipv6() {
    for scope in ["all", "default"] {
        let knob = format!("/proc/sys/net/ipv6/conf/{scope}/disable_ipv6");
        let _ = std::fs::write(knob, "1");
    }
}

/// RTM_NEWLINK with IFF_UP for `lo`, on a route netlink socket of the
/// calling thread's namespace; the kernel's acknowledgement.
fn loopback_up() -> io::Result<()> {
    let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.send(&link_up_request(LOOPBACK_INDEX), 0)?;
    let mut buf = vec![0u8; 4096];
    let n = socket.recv(&mut &mut buf[..], 0)?;
    let mut code = None;
    crate::source::sockdiag::netlink::parse_answers(&buf[..n.min(buf.len())], |_, answer| {
        code = answer.err();
    })
    .map_err(io::Error::other)?;
    match code {
        Some(0) => Ok(()),
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
        None => Err(io::Error::other("the kernel did not acknowledge")),
    }
}

/// nlmsghdr + ifinfomsg: set IFF_UP on the device with this index.
fn link_up_request(index: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.extend_from_slice(&32u32.to_ne_bytes());
    out.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    out.extend_from_slice(&NLM_F_REQUEST_ACK.to_ne_bytes());
    out.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    out.extend_from_slice(&[0, 0]); // AF_UNSPEC, padding
    out.extend_from_slice(&0u16.to_ne_bytes()); // device type: any
    out.extend_from_slice(&index.to_ne_bytes());
    out.extend_from_slice(&IFF_UP.to_ne_bytes()); // flags
    out.extend_from_slice(&IFF_UP.to_ne_bytes()); // which flags change
    out
}

/// `f` on a thread that has entered the namespace.
pub(crate) fn run<T: Send>(ns: &OwnedFd, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        let inside = s.spawn(|| -> io::Result<T> {
            setns(ns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            Ok(f())
        });
        inside
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

pub(crate) fn inode(ns: &OwnedFd) -> io::Result<u64> {
    Ok(rustix::fs::fstat(ns).map_err(io::Error::from)?.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_request_is_one_whole_netlink_message() {
        let req = link_up_request(7);
        assert_eq!(req.len(), 32);
        assert_eq!(u32::from_ne_bytes([req[0], req[1], req[2], req[3]]), 32);
        assert_eq!(i32::from_ne_bytes([req[20], req[21], req[22], req[23]]), 7);
    }
}
