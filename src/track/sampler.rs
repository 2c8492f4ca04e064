//! The sampling thread: reads the source on a steady cadence, feeds every
//! reading to the tracker, and ships whole updates to whoever listens.
//! A slow consumer never makes it skip a reading: updates it cannot take
//! are merged into the next one.

use super::{Conn, Event, Tracker};
use crate::socket::{SocketKey, StateCounts, TcpDetails};
use crate::source::{Degradation, Scope, SocketSource};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::error::TrySendError;

/// Send an update at least this often even if nothing changed, so times
/// and warnings stay fresh.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Events kept for a consumer that stopped reading; older ones are dropped
/// (and counted) so memory stays bounded.
pub const MAX_PENDING_EVENTS: usize = 100_000;

/// Everything the UI needs from one or more readings.
#[derive(Clone, Debug)]
pub struct Update {
    pub conns: Vec<Arc<Conn>>,
    pub counts: StateCounts,
    /// Every event since the previous update, oldest first.
    pub events: Vec<Event>,
    pub readings: u64,
    pub taken_at: Instant,
    pub warning: Option<String>,
    pub degradations: Vec<Degradation>,
    /// Events dropped because the consumer fell too far behind.
    pub dropped_events: u64,
    /// tcp_info for the connection the UI asked about, if it asked.
    pub details: Option<DetailsReading>,
}

/// The answer to a details request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetailsReading {
    pub key: SocketKey,
    /// `Ok(None)`: the kernel has no tcp_info for it (TIME_WAIT, gone).
    pub info: Result<Option<TcpDetails>, String>,
    /// Whether the source can give tcp_info at all.
    pub supported: bool,
}

impl Update {
    /// The tracker's current view plus the given events.
    pub fn from_tracker(tracker: &Tracker, events: Vec<Event>, taken_at: Instant) -> Update {
        Update {
            conns: tracker.view(),
            counts: tracker.counts(),
            events,
            readings: tracker.readings(),
            taken_at,
            warning: None,
            degradations: Vec::new(),
            dropped_events: 0,
            details: None,
        }
    }
}

#[derive(Debug)]
pub enum Feed {
    Update(Box<Update>),
    /// A reading failed; the text is for the status line.
    Failed(String),
}

enum Control {
    Interval(Duration),
    Details(Option<SocketKey>),
    Stop,
}

pub struct Sampler {
    control: mpsc::Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn spawn(
        source: Box<dyn SocketSource>,
        scope: Scope,
        interval: Duration,
        out: tokio::sync::mpsc::Sender<Feed>,
    ) -> std::io::Result<Sampler> {
        let (control, commands) = mpsc::channel();
        let mut worker = Worker {
            source,
            scope,
            interval,
            out,
            tracker: Tracker::new(),
            details: None,
            pending: Vec::new(),
            dropped: 0,
            last_sent: None,
        };
        let thread = std::thread::Builder::new()
            .name("tcpscope-sampler".into())
            .spawn(move || worker.run(&commands))?;
        Ok(Sampler {
            control,
            thread: Some(thread),
        })
    }

    /// Takes effect at once: the next reading happens now.
    pub fn set_interval(&self, interval: Duration) {
        let _ = self.control.send(Control::Interval(interval));
    }

    /// Ask for tcp_info on this connection with every reading (`None`
    /// stops asking: it costs the kernel work).
    pub fn watch_details(&self, key: Option<SocketKey>) {
        let _ = self.control.send(Control::Details(key));
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    source: Box<dyn SocketSource>,
    scope: Scope,
    interval: Duration,
    out: tokio::sync::mpsc::Sender<Feed>,
    tracker: Tracker,
    details: Option<SocketKey>,
    pending: Vec<Event>,
    dropped: u64,
    last_sent: Option<Instant>,
}

impl Worker {
    fn run(&mut self, commands: &mpsc::Receiver<Control>) {
        loop {
            let started = Instant::now();
            if !self.sample() {
                return;
            }
            let wait = (started + self.interval).saturating_duration_since(Instant::now());
            match commands.recv_timeout(wait) {
                Ok(Control::Interval(d)) => self.interval = d,
                Ok(Control::Details(key)) => self.details = key,
                Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// One reading. Returns false once nobody listens any more.
    fn sample(&mut self) -> bool {
        // Exact transitions first, so the reading that follows agrees.
        let transitions = self.source.transitions(&self.scope);
        let traced = self.tracker.apply_transitions(&transitions);
        self.keep(traced);
        let snap = match self.source.snapshot(&self.scope) {
            Ok(snap) => snap,
            Err(e) => {
                let sent = self.send(Feed::Failed(e.0));
                return !matches!(sent, Err(TrySendError::Closed(_)));
            }
        };
        let (taken_at, warning) = (snap.taken_at, snap.warning.clone());
        let events = self.tracker.apply(snap);
        self.keep(events);
        let heartbeat_due = self.last_sent.is_none_or(|t| t.elapsed() >= HEARTBEAT);
        if self.pending.is_empty() && !heartbeat_due && self.details.is_none() {
            return true;
        }
        let mut update =
            Update::from_tracker(&self.tracker, std::mem::take(&mut self.pending), taken_at);
        update.warning = warning;
        update.degradations = self.source.degradations();
        update.dropped_events = std::mem::take(&mut self.dropped);
        update.details = self.read_details();
        match self.send(Feed::Update(Box::new(update))) {
            Ok(()) => {
                self.last_sent = Some(Instant::now());
                true
            }
            Err(TrySendError::Full(Feed::Update(update))) => {
                // Consumer busy: keep its events for the next update.
                self.pending = update.events;
                self.dropped = update.dropped_events;
                true
            }
            Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Closed(_)) => false,
        }
    }

    fn read_details(&mut self) -> Option<DetailsReading> {
        let key = self.details?;
        let supported = self.source.has_details();
        let info = if supported {
            self.source.details(&key).map_err(|e| e.0)
        } else {
            Ok(None)
        };
        Some(DetailsReading {
            key,
            info,
            supported,
        })
    }

    fn keep(&mut self, events: Vec<Event>) {
        self.pending.extend(events);
        if self.pending.len() > MAX_PENDING_EVENTS {
            let excess = self.pending.len() - MAX_PENDING_EVENTS;
            self.pending.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    fn send(&self, feed: Feed) -> Result<(), TrySendError<Feed>> {
        self.out.try_send(feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Family, SocketKey, SocketRow, TcpState};
    use crate::source::{ScriptedSource, Snapshot};
    use crate::track::EventKind;

    #[test]
    fn a_consumer_that_reads_late_still_gets_every_change() {
        let key = SocketKey::new(
            Family::Inet,
            "127.0.0.1:40000".parse().expect("a"),
            "127.0.0.1:80".parse().expect("b"),
        );
        let frames = [
            TcpState::Established,
            TcpState::FinWait2,
            TcpState::TimeWait,
        ]
        .map(|s| Snapshot::new(vec![SocketRow::new(key, s)]));
        // Room for one update only: the rest must be merged, not dropped.
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let sampler = Sampler::spawn(
            Box::new(ScriptedSource::new(frames)),
            Scope::default(),
            Duration::from_millis(5),
            tx,
        )
        .expect("sampler");
        std::thread::sleep(Duration::from_millis(200));
        let mut kinds = Vec::new();
        while let Ok(Feed::Update(u)) = rx.try_recv() {
            kinds.extend(u.events.iter().map(|e| e.kind));
            if kinds.len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(sampler);
        assert_eq!(
            kinds,
            [
                EventKind::State {
                    from: TcpState::Established,
                    to: TcpState::FinWait2
                },
                EventKind::State {
                    from: TcpState::FinWait2,
                    to: TcpState::TimeWait
                },
            ]
        );
    }
}
