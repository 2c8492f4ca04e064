//! What the link does with each packet, as pure logic over a clock the
//! caller passes in: when a held packet may go, which one a step lets
//! through, which one is dropped. The forwarder does the I/O.
//!
//! Held packets form one queue in arrival order. Every packet waits the
//! same delay (the one in force now, so a changed delay applies to packets
//! already on the link), which keeps the queue's release order its arrival
//! order: each direction stays FIFO without a queue of its own.

use super::{Direction, Fate, Passage};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

/// Packets held at once; past this, arrivals are dropped rather than let
/// the queue grow without bound (a step-mode link left alone under load).
pub const CAPACITY: usize = 10_000;

struct Held {
    passage: Passage,
    /// Decided before its time: let through by a step, or doomed.
    verdict: Option<Fate>,
}

/// The link's settings and the packets it holds.
pub struct Link {
    delay: Duration,
    step: bool,
    drop_all: bool,
    /// `drop_next` found nothing waiting: the next arrival goes instead.
    drop_pending: bool,
    /// Packets with a verdict are always a prefix of the queue: a verdict
    /// goes to the oldest packet without one.
    held: VecDeque<Held>,
    next_seq: u64,
}

impl Link {
    pub fn new(delay: Duration, step: bool) -> Self {
        Link {
            delay,
            step,
            drop_all: false,
            drop_pending: false,
            held: VecDeque::new(),
            next_seq: 0,
        }
    }

    pub fn set_delay(&mut self, delay: Duration) {
        self.delay = delay;
    }

    /// Leaving step mode needs nothing more: waiting packets become due by
    /// the delay alone.
    pub fn set_step(&mut self, on: bool) {
        self.step = on;
    }

    pub fn set_drop_all(&mut self, on: bool) {
        self.drop_all = on;
    }

    /// Lets the oldest waiting packet through now (step mode); whether
    /// there was one.
    pub fn release_next(&mut self) -> bool {
        self.decide_oldest(Fate::Delivered)
    }

    /// Drops the oldest waiting packet in step mode, else the next arrival.
    pub fn drop_next(&mut self) {
        if !(self.step && self.decide_oldest(Fate::Dropped)) {
            self.drop_pending = true;
        }
    }

    fn decide_oldest(&mut self, fate: Fate) -> bool {
        match self.held.iter_mut().find(|h| h.verdict.is_none()) {
            Some(h) => {
                h.verdict = Some(fate);
                true
            }
            None => false,
        }
    }

    /// Takes in a packet that entered the link: its `Arrived` passage for
    /// the report, followed by its `Dropped` one if it goes at once.
    pub fn arrive(
        &mut self,
        direction: Direction,
        packet: Vec<u8>,
        at: Instant,
        wall: SystemTime,
    ) -> Vec<Passage> {
        let arrived = Passage {
            seq: self.next_seq,
            at,
            wall,
            direction,
            packet,
            fate: Fate::Arrived,
        };
        self.next_seq += 1;
        if self.drop_all || self.drop_pending || self.held.len() >= CAPACITY {
            self.drop_pending = false;
            let dropped = Passage {
                fate: Fate::Dropped,
                ..arrived.clone()
            };
            return vec![arrived, dropped];
        }
        self.held.push_back(Held {
            passage: arrived.clone(),
            verdict: None,
        });
        vec![arrived]
    }

    /// The packets whose time has come, oldest first, each with its fate
    /// and `at` set to `now`.
    pub fn take_ready(&mut self, now: Instant, wall: SystemTime) -> Vec<Passage> {
        let mut out = Vec::new();
        while let Some(front) = self.held.front() {
            let fate = match front.verdict {
                Some(fate) => fate,
                None if self.is_due(front, now) => Fate::Delivered,
                None => break,
            };
            let Some(held) = self.held.pop_front() else {
                break;
            };
            out.push(self.settle(held, fate, now, wall));
        }
        out
    }

    fn is_due(&self, held: &Held, now: Instant) -> bool {
        !self.step && held.passage.at + self.delay <= now
    }

    fn settle(&self, held: Held, fate: Fate, now: Instant, wall: SystemTime) -> Passage {
        // A dead link loses what was already on its way too.
        let fate = if self.drop_all { Fate::Dropped } else { fate };
        Passage {
            at: now,
            wall,
            fate,
            ..held.passage
        }
    }

    /// When [`Self::take_ready`] will next have something: `None` while
    /// nothing can go without a step.
    pub fn next_due(&self) -> Option<Instant> {
        let front = self.held.front()?;
        if front.verdict.is_some() {
            return Some(front.passage.at);
        }
        (!self.step).then(|| front.passage.at + self.delay)
    }

    /// The packets held now, oldest first, as they arrived.
    pub fn waiting(&self) -> Vec<Passage> {
        self.held
            .iter()
            .map(|h| Passage {
                fate: Fate::Arrived,
                ..h.passage.clone()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    struct Clock {
        start: Instant,
        wall: SystemTime,
    }

    impl Clock {
        fn new() -> Self {
            Clock {
                start: Instant::now(),
                wall: SystemTime::now(),
            }
        }

        fn at(&self, ms: u64) -> Instant {
            self.start + Duration::from_millis(ms)
        }

        fn arrive(&self, link: &mut Link, ms: u64, dir: Direction, byte: u8) -> Vec<Passage> {
            link.arrive(dir, vec![byte], self.at(ms), self.wall)
        }

        /// What leaves at `ms`: (first byte, fate) of each.
        fn take(&self, link: &mut Link, ms: u64) -> Vec<(u8, Fate)> {
            let out = link.take_ready(self.at(ms), self.wall);
            out.iter().map(|p| (p.packet[0], p.fate)).collect()
        }
    }

    use Direction::{ClientToServer as Up, ServerToClient as Down};
    use Fate::{Delivered, Dropped};

    #[test]
    fn without_delay_a_packet_goes_at_once() {
        let (c, mut link) = (Clock::new(), Link::new(Duration::ZERO, false));
        let arrived = c.arrive(&mut link, 0, Up, 1);
        assert_eq!(arrived.len(), 1);
        assert_eq!(arrived[0].fate, Fate::Arrived);
        assert_eq!(c.take(&mut link, 0), [(1, Delivered)]);
        assert!(link.waiting().is_empty());
    }

    #[test]
    fn each_packet_waits_the_delay_after_its_own_arrival_in_order() {
        let (c, mut link) = (Clock::new(), Link::new(MS * 300, false));
        c.arrive(&mut link, 0, Up, 1);
        c.arrive(&mut link, 100, Down, 2);
        c.arrive(&mut link, 150, Up, 3);
        assert_eq!(link.next_due(), Some(c.at(300)));
        assert!(c.take(&mut link, 299).is_empty());
        assert_eq!(c.take(&mut link, 300), [(1, Delivered)]);
        assert_eq!(link.next_due(), Some(c.at(400)));
        assert_eq!(c.take(&mut link, 460), [(2, Delivered), (3, Delivered)]);
    }

    #[test]
    fn a_shorter_delay_applies_to_packets_already_on_the_link() {
        let (c, mut link) = (Clock::new(), Link::new(Duration::from_secs(5), false));
        c.arrive(&mut link, 0, Up, 1);
        link.set_delay(MS * 10);
        assert_eq!(c.take(&mut link, 10), [(1, Delivered)]);
    }

    #[test]
    fn a_step_lets_the_oldest_of_both_directions_through() {
        let (c, mut link) = (Clock::new(), Link::new(Duration::ZERO, true));
        c.arrive(&mut link, 0, Down, 1);
        c.arrive(&mut link, 5, Up, 2);
        assert_eq!(link.next_due(), None);
        assert!(c.take(&mut link, 1000).is_empty());
        assert_eq!(link.waiting().len(), 2);
        assert!(link.release_next());
        assert_eq!(c.take(&mut link, 1000), [(1, Delivered)]);
        assert_eq!(link.waiting()[0].packet, [2]);
        assert!(link.release_next());
        assert!(!link.release_next(), "nothing left to step");
        assert_eq!(c.take(&mut link, 1000), [(2, Delivered)]);
    }

    #[test]
    fn leaving_step_mode_lets_the_waiting_go_after_their_delay() {
        let (c, mut link) = (Clock::new(), Link::new(MS * 100, true));
        c.arrive(&mut link, 0, Up, 1);
        c.arrive(&mut link, 500, Up, 2);
        link.set_step(false);
        assert_eq!(c.take(&mut link, 550), [(1, Delivered)]);
        assert_eq!(c.take(&mut link, 600), [(2, Delivered)]);
    }

    #[test]
    fn drop_next_in_step_mode_drops_the_oldest_waiting() {
        let (c, mut link) = (Clock::new(), Link::new(Duration::ZERO, true));
        c.arrive(&mut link, 0, Up, 1);
        c.arrive(&mut link, 1, Down, 2);
        link.drop_next();
        assert_eq!(c.take(&mut link, 2), [(1, Dropped)]);
        let later = c.arrive(&mut link, 3, Up, 3);
        assert_eq!(later.len(), 1, "only one drop was asked for");
    }

    #[test]
    fn drop_next_with_nothing_waiting_drops_the_next_arrival() {
        let (c, mut link) = (Clock::new(), Link::new(MS * 50, false));
        c.arrive(&mut link, 0, Up, 1);
        link.drop_next();
        let fates: Vec<Fate> = c
            .arrive(&mut link, 1, Down, 2)
            .iter()
            .map(|p| p.fate)
            .collect();
        assert_eq!(fates, [Fate::Arrived, Dropped]);
        assert_eq!(c.take(&mut link, 50), [(1, Delivered)]);
        assert_eq!(c.arrive(&mut link, 60, Up, 3).len(), 1);
    }

    #[test]
    fn a_dead_link_drops_arrivals_and_what_was_on_its_way() {
        let (c, mut link) = (Clock::new(), Link::new(MS * 50, false));
        c.arrive(&mut link, 0, Up, 1);
        link.set_drop_all(true);
        assert_eq!(c.arrive(&mut link, 1, Down, 2).len(), 2);
        assert_eq!(c.take(&mut link, 50), [(1, Dropped)]);
        link.set_drop_all(false);
        c.arrive(&mut link, 60, Up, 3);
        assert_eq!(c.take(&mut link, 110), [(3, Delivered)]);
    }

    #[test]
    fn a_full_link_drops_arrivals() {
        let (c, mut link) = (Clock::new(), Link::new(Duration::ZERO, true));
        for _ in 0..CAPACITY {
            c.arrive(&mut link, 0, Up, 1);
        }
        assert_eq!(c.arrive(&mut link, 0, Up, 2)[1].fate, Dropped);
        assert_eq!(link.waiting().len(), CAPACITY);
    }

    #[test]
    fn a_packets_passages_share_its_number() {
        let (c, mut link) = (Clock::new(), Link::new(Duration::ZERO, false));
        c.arrive(&mut link, 0, Up, 1);
        let second = c.arrive(&mut link, 0, Up, 2);
        let out = link.take_ready(c.at(0), c.wall);
        assert_eq!(out[1].seq, second[0].seq);
        assert_ne!(out[0].seq, out[1].seq);
        assert_eq!(out[1].at, c.at(0));
    }
}
