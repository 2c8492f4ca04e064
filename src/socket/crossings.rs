//! What crossed the wire, per connection: each segment numbered, with when
//! it was sent, when (if) it arrived, and what became of it. Bounded: a
//! connection keeps its latest segments, and the least recently active
//! connections are forgotten first.

use super::row::SocketKey;
use super::segment::{Flags, Header, Numbering, Segment};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

/// Segments kept per connection (a handshake, some data, a close, and
/// the retransmissions of a lost segment fit many times over).
pub const PER_CONNECTION: usize = 512;
/// Connections whose segments are kept.
pub const CONNECTIONS: usize = 1024;

/// What became of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It reached the other end (on a plain link: as soon as seen).
    Delivered,
    /// Held on the lab's link: delayed, or waiting for a key.
    InFlight,
    /// The lab's link dropped it.
    Dropped,
}

/// One segment and its passage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossing {
    /// Numbered; `at` is when it was sent.
    pub segment: Segment,
    /// The header as on the wire, to match its later fate.
    pub raw: Header,
    /// When it reached the receiver.
    pub received: Option<Instant>,
    /// When it left the link, delivered or lost.
    pub ended: Option<Instant>,
    pub fate: Fate,
}

impl Crossing {
    pub fn from(&self) -> SocketAddr {
        self.segment.key.local
    }

    pub fn to(&self) -> SocketAddr {
        self.segment.key.remote
    }
}

/// The two ends, in a fixed order: one entry per connection, whichever
/// way its segments go.
type Pair = (SocketAddr, SocketAddr);

fn pair(a: SocketAddr, b: SocketAddr) -> Pair {
    if a <= b { (a, b) } else { (b, a) }
}

#[derive(Debug, Default)]
pub struct SegmentLog {
    by_pair: FxHashMap<Pair, VecDeque<Crossing>>,
    /// Pairs by last activity, oldest first (may repeat; stale entries
    /// are skipped when evicting).
    activity: VecDeque<Pair>,
    numbering: Numbering,
}

impl SegmentLog {
    /// A segment seen on the wire (sent and, on a plain link, received).
    pub fn seen(&mut self, h: Header, at: Instant, wall: SystemTime) {
        self.record(h, at, wall, Fate::Delivered);
    }

    /// A segment as it enters a link that may hold or drop it.
    pub fn record(&mut self, h: Header, at: Instant, wall: SystemTime, fate: Fate) {
        let segment = self.numbering.segment(h, at, wall);
        let key = pair(h.from, h.to);
        // A new connection on the same ends starts a new ladder.
        let fresh = h.flags.0 & (Flags::SYN | Flags::ACK) == Flags::SYN && !segment.retransmission;
        let list = self.by_pair.entry(key).or_default();
        if fresh {
            list.clear();
        }
        if list.len() == PER_CONNECTION {
            list.pop_front();
        }
        let received = (fate == Fate::Delivered).then_some(at);
        list.push_back(Crossing {
            segment,
            raw: h,
            received,
            ended: (fate != Fate::InFlight).then_some(at),
            fate,
        });
        self.touched(key);
    }

    /// The oldest segment in flight with this header reached its end (or
    /// was dropped); one whose entry went unseen is recorded as it is.
    pub fn settle(&mut self, h: Header, fate: Fate, at: Instant, wall: SystemTime) {
        let waiting = self.by_pair.get_mut(&pair(h.from, h.to)).and_then(|list| {
            list.iter_mut()
                .find(|c| c.fate == Fate::InFlight && c.raw == h)
        });
        match waiting {
            Some(c) => {
                c.fate = fate;
                c.received = (fate == Fate::Delivered).then_some(at);
                c.ended = Some(at);
            }
            None => self.record(h, at, wall, fate),
        }
    }

    /// Every connection's segments, oldest first within each.
    pub fn all(&self) -> impl Iterator<Item = &Crossing> {
        self.by_pair.values().flatten()
    }

    /// The segments between these two ends, oldest first.
    pub fn between(&self, key: &SocketKey) -> Option<&VecDeque<Crossing>> {
        self.by_pair.get(&pair(key.local, key.remote))
    }

    fn touched(&mut self, key: Pair) {
        self.activity.push_back(key);
        while self.by_pair.len() > CONNECTIONS {
            let Some(old) = self.activity.pop_front() else {
                break;
            };
            // Only its last mention counts as its last activity.
            if !self.activity.contains(&old) {
                self.by_pair.remove(&old);
            }
        }
        if self.activity.len() > 8 * CONNECTIONS {
            self.compact();
        }
    }

    /// Keeps each pair's last mention only.
    fn compact(&mut self) {
        let mut seen = rustc_hash::FxHashSet::default();
        let mut kept: Vec<Pair> = self
            .activity
            .iter()
            .rev()
            .filter(|p| seen.insert(**p))
            .copied()
            .collect();
        kept.reverse();
        self.activity = kept.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(from: &str, to: &str, flags: u8, seq: u32) -> Header {
        Header {
            from: from.parse().expect("addr"),
            to: to.parse().expect("addr"),
            flags: Flags(flags),
            seq,
            ack: 0,
            len: 0,
            win: 100,
        }
    }

    const C: &str = "127.0.0.1:40000";
    const S: &str = "127.0.0.1:80";

    #[test]
    fn both_directions_go_to_one_connection_and_a_new_syn_starts_over() {
        let mut log = SegmentLog::default();
        let (t, w) = (Instant::now(), SystemTime::now());
        log.seen(h(C, S, Flags::SYN, 10), t, w);
        log.seen(h(S, C, Flags::SYN | Flags::ACK, 50), t, w);
        let key = SocketKey::new(
            crate::socket::Family::Inet,
            S.parse().expect("addr"),
            C.parse().expect("addr"),
        );
        assert_eq!(log.between(&key).map(|l| l.len()), Some(2));
        log.seen(h(C, S, Flags::SYN, 10), t, w);
        assert_eq!(log.between(&key).map(|l| l.len()), Some(3), "a repeat");
        log.seen(h(C, S, Flags::SYN, 999), t, w);
        assert_eq!(log.between(&key).map(|l| l.len()), Some(1), "a new one");
    }

    #[test]
    fn a_held_segment_settles_later_and_old_connections_are_forgotten() {
        let mut log = SegmentLog::default();
        let (t, w) = (Instant::now(), SystemTime::now());
        let syn = h(C, S, Flags::SYN, 10);
        log.record(syn, t, w, Fate::InFlight);
        let key = SocketKey::new(
            crate::socket::Family::Inet,
            C.parse().expect("addr"),
            S.parse().expect("addr"),
        );
        let first = |log: &SegmentLog| log.between(&key).and_then(|l| l.front().cloned());
        assert_eq!(first(&log).map(|c| c.fate), Some(Fate::InFlight));
        log.settle(syn, Fate::Delivered, t, w);
        assert_eq!(first(&log).and_then(|c| c.received), Some(t));
        for port in 0..CONNECTIONS as u16 + 5 {
            let from = format!("127.0.0.2:{}", 1000 + port);
            log.seen(h(&from, S, Flags::SYN, 1), t, w);
        }
        assert!(log.between(&key).is_none(), "the oldest went first");
        assert_eq!(log.by_pair.len(), CONNECTIONS);
    }
}
