//! The client side of the lab: connect() one or many, each in its own
//! task, and one outcome per command once all its connects are done.

use super::{Actor, lab_socket, refused};
use crate::lab::conn::{self, Policy};
use crate::lab::explain::{Attempt, LabError};
use crate::lab::{Done, LabEvent, LabId, Side, SocketCall};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::mpsc;

/// A `Connect` command waiting for all its connects to finish.
pub(super) struct ConnectBatch {
    seq: u64,
    target: SocketAddr,
    pending: usize,
    ok: usize,
    errors: Vec<LabError>,
}

impl Actor {
    pub(super) fn connect(&mut self, seq: u64, target: Option<SocketAddr>, count: usize) {
        let Some(target) = target.or_else(|| self.server_addr()) else {
            let text = "the lab server is not running: start it with S, or set a target with T";
            return self.outcome(seq, refused(text));
        };
        let limit = self.settings.max_connections;
        let open = self.open_connections();
        if count == 0 || open + count > limit {
            let text = format!(
                "{count} more connections would pass the lab's limit of {limit} ({open} open): close some first"
            );
            return self.outcome(seq, refused(text));
        }
        let mut batch = ConnectBatch {
            seq,
            target,
            pending: 0,
            ok: 0,
            errors: Vec::new(),
        };
        for _ in 0..count {
            match self.start_client(target) {
                Ok(id) => {
                    batch.pending += 1;
                    self.batch_of.insert(id, seq);
                }
                Err(e) => {
                    batch
                        .errors
                        .push(LabError::os(Attempt::Connect { addr: target }, &e));
                    break;
                }
            }
        }
        self.batches.push(batch);
        self.finish_batch(seq);
    }

    fn server_addr(&self) -> Option<SocketAddr> {
        let local = self.settings.running.as_ref()?.addr;
        // A server on 0.0.0.0 / :: is reached through loopback.
        let ip = match local.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Some(SocketAddr::new(ip, local.port()))
    }

    /// socket() + bind(port 0) now, so the local address is known while
    /// the handshake is in SYN_SENT; connect() runs in the task.
    fn start_client(&mut self, target: SocketAddr) -> io::Result<LabId> {
        let socket = self.places.socket(Side::Client, target.is_ipv4())?;
        let bind_ip = if target.ip().is_loopback() {
            target.ip()
        } else if target.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        if let Some(n) = self.settings.next.buffers {
            socket.set_recv_buffer_size(n)?;
            socket.set_send_buffer_size(n)?;
        }
        socket.bind(SocketAddr::new(bind_ip, 0))?;
        let local = socket.local_addr()?;
        let id = self.new_id();
        let call = SocketCall::Connect(target);
        self.sockets
            .insert(id, lab_socket(id, Side::Client, local, Some(target), call));
        let (tx, rx) = mpsc::unbounded_channel();
        self.conns.insert(id, tx);
        let policy = Policy {
            reading: true,
            echo: false,
            hold: self.settings.hold,
        };
        tokio::spawn(conn::connect_and_run(
            id,
            socket,
            target,
            rx,
            self.report_tx.clone(),
            policy,
        ));
        Ok(id)
    }

    /// Sends the batch's outcome once none of its connects is pending.
    fn finish_batch(&mut self, seq: u64) {
        let Some(at) = self.batches.iter().position(|b| b.seq == seq) else {
            return;
        };
        if self.batches[at].pending > 0 {
            return;
        }
        let b = self.batches.remove(at);
        let result = match (b.ok, b.errors.first()) {
            (0, Some(first)) => Err(first.clone()),
            (ok, Some(first)) => Err(LabError::refused(format!(
                "{ok} connected, {} failed: {first}",
                b.errors.len()
            ))),
            (1, None) => Ok(Done::text(format!("connect({}) → connected", b.target))),
            (ok, None) => Ok(Done::text(format!(
                "connect({}) × {ok} → connected",
                b.target
            ))),
        };
        self.outcome(b.seq, result);
    }

    pub(super) fn connect_done(&mut self, id: LabId, error: Option<LabError>) {
        let Some(seq) = self.batch_of.remove(&id) else {
            if let Some(e) = error {
                let _ = self.events.send(LabEvent::Notice(e));
            }
            return;
        };
        if let Some(b) = self.batches.iter_mut().find(|b| b.seq == seq) {
            b.pending -= 1;
            match error {
                Some(e) => b.errors.push(e),
                None => b.ok += 1,
            }
        }
        self.finish_batch(seq);
    }
}

/// Turns a typed target into an address; names resolve with a time limit
/// so a dead resolver cannot stall the lab.
pub(super) async fn resolve(
    target: Option<crate::lab::Target>,
) -> Result<Option<SocketAddr>, String> {
    let Some(t) = target else { return Ok(None) };
    if let Ok(ip) = t.host.parse::<IpAddr>() {
        return Ok(Some(SocketAddr::new(ip, t.port)));
    }
    let lookup = tokio::net::lookup_host((t.host.as_str(), t.port));
    match tokio::time::timeout(Duration::from_secs(3), lookup).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .map(Some)
            .ok_or_else(|| format!("'{}' resolves to no address; use an IP address", t.host)),
        Ok(Err(e)) => Err(format!(
            "cannot resolve host '{}': {e}; use an IP address like 127.0.0.1",
            t.host
        )),
        Err(_) => Err(format!(
            "resolving '{}' took over 3 s; use an IP address like 127.0.0.1",
            t.host
        )),
    }
}
