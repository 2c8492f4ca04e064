//! Memory of what happened: the transition log (a bounded ring of events)
//! and per-state counts over time (for sparklines).

use crate::socket::{Event, StateCounts};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Default number of log entries kept.
pub const DEFAULT_LOG_SIZE: usize = 10_000;
/// Count samples kept, one per [`COUNT_EVERY`].
pub const COUNT_SAMPLES: usize = 120;
pub const COUNT_EVERY: Duration = Duration::from_secs(1);

/// Newest entries last; the oldest fall off beyond `capacity`. Each
/// event names its connection's key, state and owner, which is all the
/// log shows or filters by.
#[derive(Clone, Debug)]
pub struct TransitionLog {
    entries: VecDeque<Event>,
    capacity: usize,
    /// Entries dropped because the log was full.
    pub dropped: u64,
}

impl TransitionLog {
    pub fn new(capacity: usize) -> Self {
        TransitionLog {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Adds events; of a batch bigger than the log only the newest are
    /// copied, the rest are counted as dropped.
    pub fn record(&mut self, events: &[Event]) {
        let skip = events.len().saturating_sub(self.capacity);
        self.dropped += skip as u64;
        for event in &events[skip..] {
            if self.entries.len() == self.capacity {
                self.entries.pop_front();
                self.dropped += 1;
            }
            self.entries.push_back(event.clone());
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Event> {
        self.entries.iter().rev()
    }
}

/// Counts per state, sampled at most once per [`COUNT_EVERY`].
#[derive(Clone, Debug, Default)]
pub struct CountHistory {
    samples: VecDeque<StateCounts>,
    last: Option<Instant>,
}

impl CountHistory {
    pub fn sample(&mut self, counts: StateCounts, now: Instant) {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < COUNT_EVERY)
        {
            return;
        }
        self.last = Some(now);
        if self.samples.len() == COUNT_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(counts);
    }

    /// The last `n` samples of one state, oldest first.
    pub fn series(&self, state: crate::socket::TcpState, n: usize) -> Vec<usize> {
        let skip = self.samples.len().saturating_sub(n);
        self.samples
            .iter()
            .skip(skip)
            .map(|c| c.get(state))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::EventKind;
    use crate::socket::{Family, SocketKey, TcpState};
    use std::time::SystemTime;

    fn event(id: u64, port: u16) -> Event {
        Event {
            at: Instant::now(),
            wall: SystemTime::now(),
            id,
            key: SocketKey::new(
                Family::Inet,
                format!("127.0.0.1:{port}").parse().expect("a"),
                "127.0.0.1:80".parse().expect("b"),
            ),
            state: TcpState::Established,
            kind: EventKind::New,
            owner: None,
            cause: crate::socket::Cause::Unknown,
            summary: None,
        }
    }

    #[test]
    fn the_log_is_a_bounded_ring_newest_first() {
        let mut log = TransitionLog::new(3);
        let events: Vec<Event> = (1..=5).map(|i| event(i, 1000 + i as u16)).collect();
        log.record(&events[..2]);
        log.record(&events[2..]);
        assert_eq!(log.len(), 3);
        assert_eq!(log.dropped, 2);
        let ids: Vec<u64> = log.newest_first().map(|e| e.id).collect();
        assert_eq!(ids, [5, 4, 3]);
        assert_eq!(
            log.newest_first().next().map(|e| e.key.local.port()),
            Some(1005)
        );
        // A batch bigger than the log: only its newest are kept.
        log.record(&events);
        let ids: Vec<u64> = log.newest_first().map(|e| e.id).collect();
        assert_eq!(ids, [5, 4, 3]);
        assert_eq!(log.dropped, 7);
    }

    #[test]
    fn counts_are_sampled_once_a_second() {
        let mut h = CountHistory::default();
        let t0 = Instant::now();
        let mut c = StateCounts::default();
        c.add(TcpState::TimeWait);
        h.sample(c, t0);
        c.add(TcpState::TimeWait);
        h.sample(c, t0 + Duration::from_millis(500)); // too soon: ignored
        h.sample(c, t0 + Duration::from_secs(1));
        assert_eq!(h.series(TcpState::TimeWait, 10), [1, 2]);
        assert_eq!(h.series(TcpState::TimeWait, 1), [2]);
    }
}
