//! Single sockets read exactly, between the slow full dumps: the rows on
//! screen (fresh queues and timers at the display rate) and the sockets
//! whose next state no tracepoint reports. A socket closed from
//! FIN_WAIT_1/2 or CLOSING lives on as a timewait socket: read at once,
//! it shows TIME_WAIT and its countdown without waiting for a dump.

use super::dumps::{Reading, vanished_at};
use super::{Pipeline, Stamp};
use crate::socket::{Event, SocketKey, SocketRow, TcpState};
use crate::source::Wanted;
use std::time::{Instant, SystemTime};

impl Pipeline {
    /// The sockets it wants read now (each asked for once), with their
    /// cookies.
    pub fn take_wanted(&mut self) -> Vec<Wanted> {
        let keys = std::mem::take(&mut self.wanted);
        keys.into_iter().map(|key| self.wanted_key(key)).collect()
    }

    /// Every socket whose next state only a reading can tell, for a last
    /// answer before exit: those wanted, those closed that a timewait
    /// socket may carry on, those a dump missed once, and timewait sockets
    /// in FIN_WAIT_2 whose peer's FIN is on its way. None of them may wait
    /// for a reconciliation that will not come.
    pub fn take_awaiting(&mut self) -> Vec<Wanted> {
        let mut keys = std::mem::take(&mut self.wanted);
        for (key, slot) in &self.newest {
            let unsure = slot.closing().is_some() || slot.missed().is_some();
            if !slot.conn.is_gone() && (unsure || self.fin_on_its_way(key, slot)) {
                keys.insert(*key);
            }
        }
        keys.into_iter().map(|key| self.wanted_key(key)).collect()
    }

    /// A timewait socket still in FIN_WAIT_2 whose peer, here, has sent
    /// its FIN.
    fn fin_on_its_way(&self, key: &SocketKey, slot: &super::Slot) -> bool {
        let peer = self.live_on(&key.reversed());
        let peer_closing = peer.is_some_and(|p| p.conn.state() == TcpState::LastAck);
        slot.sk.is_none() && slot.conn.state() == TcpState::FinWait2 && peer_closing
    }

    /// Whether some socket is waiting to be read.
    pub fn wants(&self) -> bool {
        !self.wanted.is_empty()
    }

    /// How to ask for the live connection on `key`.
    pub fn wanted_key(&self, key: SocketKey) -> Wanted {
        let slot = self.live_on(&key);
        Wanted {
            key,
            cookie: slot.and_then(|s| s.cookie),
            owner: slot.and_then(|s| s.owner.clone()),
        }
    }

    pub(super) fn want(&mut self, key: SocketKey) {
        self.wanted.insert(key);
    }

    /// Applies exact readings begun at `started`. Every change that
    /// happened before they were taken must have been applied first.
    pub fn looked_up(
        &mut self,
        started: Instant,
        wall: SystemTime,
        answers: Vec<(SocketKey, Option<SocketRow>)>,
        out: &mut Vec<Event>,
    ) {
        let r = Reading {
            when: Stamp { at: started, wall },
            finished: started,
            // One socket read at one moment: a change stamped after it
            // began is newer, one before it is in the reading.
            window: started,
            number: self.dumps,
            baseline: false,
        };
        for (key, row) in answers {
            if self.live_on(&key).is_none() {
                continue;
            }
            match row {
                Some(row) => self.row(row, r, out),
                None => self.absent(key, r, out),
            }
        }
    }

    /// The kernel has no socket for a live connection: a timewait socket
    /// never took over, or it ended since the last reading.
    fn absent(&mut self, key: SocketKey, r: Reading, out: &mut Vec<Event>) {
        let Some(slot) = self.newest.get_mut(&key) else {
            return;
        };
        let recent = slot.closing().map(|c| c.at).or(slot.last_change);
        if recent.is_some_and(|t| t >= r.window) {
            return; // changed after it was read: the kernel's report wins
        }
        if slot.closing().is_some() || slot.missed().is_some() {
            return self.end(&key, r.when, crate::socket::Cause::Unknown, out);
        }
        slot.set_missed(Some(vanished_at(&slot.conn, None, r.when)));
    }

    /// After a change into LAST_ACK or CLOSING (or out of LAST_ACK): the
    /// FIN it sent turns the other end's timewait socket, if it has one
    /// here, from FIN_WAIT_2 into TIME_WAIT, which no tracepoint reports.
    pub(super) fn peer_sent_fin(&mut self, key: &SocketKey) {
        let other = key.reversed();
        let timewait = self
            .live_on(&other)
            .is_some_and(|s| s.sk.is_none() && s.conn.state() == TcpState::FinWait2);
        if timewait {
            self.want(other);
        }
    }
}
