//! The thread that feeds the pipeline. With the kernel's change reports
//! (root) it is event-driven: changes are applied as they come and sent on
//! within a frame; the rows on screen, the selected connection and the
//! sockets no tracepoint follows (timewait sockets) are read exactly at
//! the chosen interval; the whole table is read only every few seconds,
//! to reconcile. So its cost follows what changes and what is shown, not
//! the size of the table. Without them it reads the whole table at the
//! interval, as polling does. Every consumer (the live view, `watch`, the
//! demo checker) reads its updates; none samples on its own. A slow
//! consumer never makes it skip anything: updates it cannot take are
//! merged into the next one.

use super::{Delta, Pipeline, SLACK};
use crate::socket::{Event, SocketKey, TcpDetails};
use crate::source::{Change, Degradation, Limit, Scope, Sources, Wanted};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::error::TrySendError;

/// Send an update at least this often even if nothing changed, so times
/// and warnings stay fresh.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Changes between readings are sent at most this often (a frame), unless
/// the consumer asks for fewer updates (see [`Runner::pace_updates`]).
pub const CHANGE_PACE: Duration = Duration::from_millis(16);
/// Event-driven, the whole table is read this often (or at the interval,
/// if that is longer), to catch what changes do not say: queues of rows
/// off screen, owners, anything the trace buffer lost.
pub const RECONCILE: Duration = Duration::from_secs(5);
/// Polling, a reading is skipped while the kernel's TCP counters stand
/// still, but the whole table is read at least this often: a queue can
/// drain without a segment (see `source::activity`)...
pub const QUIET_LIMIT: Duration = Duration::from_secs(1);
/// ...or, on a table so big that a reading costs more than a twentieth of
/// that, every 20 readings' worth of time (at most 5% of a core).
pub const QUIET_COST_FACTOR: u32 = 20;
/// Event-driven, a reconciliation is skipped while the kernel's TCP
/// counters stand still (nothing can have changed that the changes did
/// not report), but done at least this often.
pub const RECONCILE_QUIET_LIMIT: Duration = Duration::from_secs(60);
/// After the kernel dropped changes, the table is read again at once, but
/// at most this often.
pub const RESYNC_GAP: Duration = Duration::from_secs(1);
/// Changes are taken from the kernel at most this often: under a flood
/// each wake-up then handles a batch instead of a few changes, so the
/// cost per change falls as the rate rises. Well under `CHANGE_PACE`, so
/// no update goes out later for it.
pub const DRAIN_GAP: Duration = Duration::from_millis(5);
/// Rows on screen read exactly at each interval, at most.
pub const MAX_WATCHED: usize = 256;
/// Rounds of exact readings in a last update.
const FINISH_ROUNDS: usize = 2;
/// Events kept for a consumer that stopped reading; older ones are dropped
/// (and counted) so memory stays bounded.
pub const MAX_PENDING_EVENTS: usize = 100_000;

/// Everything a consumer needs after one or more observations.
#[derive(Clone, Debug)]
pub struct Update {
    /// The connections that changed since the previous update (all of
    /// them in the first): apply it to a [`super::Mirror`].
    pub delta: Delta,
    /// Every event since the previous update, in order per connection.
    pub events: Vec<Event>,
    pub dumps: u64,
    pub taken_at: Instant,
    pub warning: Option<String>,
    pub degradations: Vec<Degradation>,
    /// Events dropped because the consumer fell too far behind.
    pub dropped_events: u64,
    /// tcp_info for the connection the consumer asked about, if it asked.
    pub details: Option<DetailsReading>,
}

impl Update {
    /// What changed in the pipeline since the last update, plus the given
    /// events.
    pub fn from_pipeline(p: &mut Pipeline, events: Vec<Event>, taken_at: Instant) -> Update {
        Update {
            delta: p.take_delta(),
            events,
            dumps: p.dumps(),
            taken_at,
            warning: None,
            degradations: Vec::new(),
            dropped_events: 0,
            details: None,
        }
    }
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

#[derive(Debug)]
pub enum Feed {
    Update(Box<Update>),
    /// A reading failed, and why (each consumer says it its way).
    Failed(crate::source::SourceError),
}

enum Control {
    Interval(Duration),
    /// Send changes at most this often.
    Pace(Duration),
    /// Watch this port (every port, for `None`) from now on.
    Port(Option<u16>),
    /// Owners for the rows looked up only (see `SocketSource`).
    OwnersOnDemand(bool),
    Details(Option<SocketKey>),
    Watch(Vec<SocketKey>),
    /// A last update, then stop.
    Finish,
    Stop,
}

/// The handle: dropping it stops the thread.
pub struct Runner {
    control: mpsc::Sender<Control>,
    wake: Option<crate::source::Waker>,
    thread: Option<JoinHandle<()>>,
    name: String,
}

impl Runner {
    pub fn spawn(
        sources: Sources,
        scope: Scope,
        interval: Duration,
        out: tokio::sync::mpsc::Sender<Feed>,
    ) -> std::io::Result<Runner> {
        Self::spawn_reconciling(sources, scope, interval, RECONCILE, out)
    }

    /// The same, reading the whole table every `reconcile` when it is
    /// event-driven.
    pub fn spawn_reconciling(
        sources: Sources,
        scope: Scope,
        interval: Duration,
        reconcile: Duration,
        out: tokio::sync::mpsc::Sender<Feed>,
    ) -> std::io::Result<Runner> {
        let (control, commands) = mpsc::channel();
        let wake = sources.changes.as_ref().map(|c| c.waker());
        let name = sources.name();
        let mut worker = Worker {
            sources,
            scope,
            interval,
            reconcile,
            out,
            pipeline: Pipeline::reading_totals(scope.totals),
            details: None,
            watched: Vec::new(),
            pending: Vec::new(),
            unsent: Delta::default(),
            dropped: 0,
            last_sent: None,
            failing: None,
            warning: None,
            batch: Vec::new(),
            last_reading: None,
            reading_cost: Duration::ZERO,
            asked: false,
            lost: 0,
            last_drain: None,
            dump_now: false,
            pace: CHANGE_PACE,
        };
        let thread = std::thread::Builder::new()
            .name("tcpscope-pipeline".into())
            .spawn(move || worker.run(&commands))?;
        Ok(Runner {
            control,
            wake,
            thread: Some(thread),
            name,
        })
    }

    /// `sockdiag+trace`: the sources it reads.
    pub fn source_name(&self) -> &str {
        &self.name
    }

    fn send(&self, c: Control) {
        let _ = self.control.send(c);
        if let Some(wake) = &self.wake {
            wake();
        }
    }

    /// Changes go out at most once per `every` (at once after a quiet
    /// `every`): a screen drawn at most once per interval needs no more,
    /// and each update costs its consumer something whatever it holds.
    pub fn pace_updates(&self, every: Duration) {
        self.send(Control::Pace(every.max(CHANGE_PACE)));
    }

    /// Takes effect at once: the next reading happens now.
    pub fn set_interval(&self, interval: Duration) {
        self.send(Control::Interval(interval));
    }

    /// Narrows (or widens) what is read to one port, in the kernel where
    /// it can: the lab's port follows its server. Connections outside
    /// the new scope are dropped without events; a reading follows at
    /// once to find everything inside it.
    pub fn follow_port(&self, port: Option<u16>) {
        self.send(Control::Port(port));
    }

    /// Owners only for the rows on screen (the live view, unless its
    /// filter names a process), or for every socket read.
    pub fn owners_on_demand(&self, on: bool) {
        let _ = self.control.send(Control::OwnersOnDemand(on));
    }

    /// Ask for tcp_info on this connection with every reading (`None`
    /// stops asking: it costs the kernel work).
    pub fn watch_details(&self, key: Option<SocketKey>) {
        self.send(Control::Details(key));
    }

    /// The connections on screen: read exactly at every interval when the
    /// pipeline is event-driven, so their queues and timers stay fresh
    /// while the rest of the table is read only now and then.
    pub fn watch_rows(&self, mut keys: Vec<SocketKey>) {
        keys.truncate(MAX_WATCHED);
        let _ = self.control.send(Control::Watch(keys));
    }

    /// Asks for a last update, then stops: every change the kernel has
    /// reported until now is applied, the sockets whose end only a
    /// reading can tell are read exactly, without waiting for the next
    /// reading of the whole table. The feed closes after that update, so
    /// a consumer that calls this reads on until it does.
    pub fn finish(&self) {
        self.send(Control::Finish);
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    sources: Sources,
    scope: Scope,
    interval: Duration,
    /// Event-driven, how often the whole table is read.
    reconcile: Duration,
    out: tokio::sync::mpsc::Sender<Feed>,
    pipeline: Pipeline,
    details: Option<SocketKey>,
    /// The rows on screen.
    watched: Vec<SocketKey>,
    pending: Vec<Event>,
    /// A delta the consumer could not take yet.
    unsent: Delta,
    dropped: u64,
    last_sent: Option<Instant>,
    /// Why the last reading failed, while it keeps failing.
    failing: Option<String>,
    /// What the last reading warned of.
    warning: Option<String>,
    batch: Vec<Change>,
    /// When the whole table was last read, and what that cost.
    last_reading: Option<Instant>,
    reading_cost: Duration,
    /// A reading was asked for (new interval, details): never skipped.
    asked: bool,
    /// Changes the kernel dropped, as of the last reading of the table.
    lost: u64,
    /// When changes were last taken between readings.
    last_drain: Option<Instant>,
    /// Read the whole table at once: the scope changed, or (polling) a
    /// control message asked for a reading.
    dump_now: bool,
    /// Changes between readings go out at most this often.
    pace: Duration,
}

/// What the loop does next.
enum Step {
    Go,
    Stop,
}

impl Worker {
    fn run(&mut self, commands: &mpsc::Receiver<Control>) {
        let mut next_dump = Instant::now();
        let mut next_tick = next_dump;
        loop {
            let now = Instant::now();
            let step = if now >= next_dump {
                next_dump = now + self.dump_every();
                next_tick = now + self.interval;
                if self.reading_stands() {
                    self.unchanged(now)
                } else {
                    self.read_table()
                }
            } else if now >= next_tick {
                next_tick = now + self.interval;
                self.tick()
            } else {
                let mut wait = next_dump.min(next_tick) - now;
                if !self.pending.is_empty() {
                    // Events held back by the pace go out when it allows,
                    // not at the next tick.
                    let since = self.last_sent.map_or(self.pace, |t| t.elapsed());
                    wait = wait.min(self.pace.saturating_sub(since));
                }
                self.between_readings(wait, commands)
            };
            if let Step::Stop = step {
                return;
            }
            if self.lost_changes() {
                // At once, but under a flood that keeps overflowing the
                // buffer, not more than once a second.
                let soonest = self.last_reading.map(|t| t + RESYNC_GAP);
                next_dump = next_dump.min(soonest.unwrap_or(now).max(now));
            }
            match self.control(commands) {
                Some(true) if self.event_driven() => next_tick = Instant::now(),
                Some(true) => (next_dump, self.asked) = (Instant::now(), true),
                Some(false) => {}
                None => return,
            }
            // A new scope, or a reading asked for while waiting.
            if std::mem::take(&mut self.dump_now) {
                (next_dump, self.asked) = (Instant::now(), true);
            }
        }
    }

    /// Whether changes come from the kernel as they happen and single
    /// sockets can be read exactly.
    fn event_driven(&self) -> bool {
        self.sources.changes.is_some() && self.sources.table.can_look_up()
    }

    fn dump_every(&self) -> Duration {
        if self.event_driven() {
            self.reconcile.max(self.interval)
        } else {
            self.interval
        }
    }

    /// Whether the kernel dropped changes since the table was last read:
    /// states are then wrong until it is read again, so that is now.
    fn lost_changes(&self) -> bool {
        let lost = self.sources.changes.as_ref().map_or(0, |c| c.lost());
        lost > self.lost
    }

    /// Whether the last reading still stands, so this one can be skipped.
    /// The counters are taken before every reading, so a change during
    /// that reading moves them for the next.
    fn reading_stands(&mut self) -> bool {
        let moved = self.sources.table.may_have_changed();
        let limit = if self.event_driven() {
            RECONCILE_QUIET_LIMIT
        } else {
            QUIET_LIMIT.max(self.reading_cost * QUIET_COST_FACTOR)
        };
        let recent = self.last_reading.is_some_and(|t| t.elapsed() < limit);
        let settled = !self.asked && self.failing.is_none() && !self.pipeline.awaits_next_dump();
        !moved && recent && settled
    }

    /// A skipped reading: the table is as last read, as of now.
    fn unchanged(&mut self, now: Instant) -> Step {
        let heartbeat_due = self.last_sent.is_none_or(|t| t.elapsed() >= HEARTBEAT);
        if heartbeat_due || !self.pending.is_empty() {
            return self.publish(Some(now));
        }
        Step::Go
    }

    /// Applies control messages; `Some(true)` asks for a reading now,
    /// `None` to stop.
    fn control(&mut self, commands: &mpsc::Receiver<Control>) -> Option<bool> {
        let mut now = false;
        loop {
            match commands.try_recv() {
                Ok(c) => now |= self.obey(c)?,
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => return Some(now),
            }
        }
    }

    /// One control message; `Some(true)` asks for a reading now, `None`
    /// to stop.
    fn obey(&mut self, c: Control) -> Option<bool> {
        // A new interval or details to read: not left for the next reading.
        let asks = matches!(c, Control::Interval(_) | Control::Details(_));
        match c {
            Control::Interval(d) => self.interval = d,
            Control::Pace(d) => self.pace = d,
            Control::Details(key) => self.details = key,
            Control::Port(port) => self.rescope(port),
            Control::OwnersOnDemand(on) => self.sources.table.owners_on_demand(on),
            Control::Watch(keys) => self.watched = keys,
            Control::Finish => {
                self.finish();
                return None;
            }
            Control::Stop => return None,
        }
        Some(asks)
    }

    /// Waits for changes (or a control message) until the next reading,
    /// and applies whatever arrived.
    fn between_readings(&mut self, wait: Duration, commands: &mpsc::Receiver<Control>) -> Step {
        let Some(changes) = self.sources.changes.as_mut() else {
            return match commands.recv_timeout(wait) {
                Ok(c) => match self.obey(c) {
                    Some(asks) => {
                        // Polling: a reading now is the next one, at once.
                        self.dump_now |= asks;
                        Step::Go
                    }
                    None => Step::Stop,
                },
                Err(RecvTimeoutError::Timeout) => Step::Go,
                Err(RecvTimeoutError::Disconnected) => Step::Stop,
            };
        };
        changes.wait(wait);
        if let Some(last) = self.last_drain {
            std::thread::sleep(DRAIN_GAP.saturating_sub(last.elapsed()));
        }
        self.last_drain = Some(Instant::now());
        self.apply_changes();
        // A timewait socket took over a closed connection, or is about to
        // turn TIME_WAIT: read it now, not at the next reconciliation.
        let wanted = self.pipeline.take_wanted();
        self.look_up(wanted);
        let paced = self.last_sent.is_none_or(|t| t.elapsed() >= self.pace);
        if !self.pending.is_empty() && paced {
            return self.publish(None);
        }
        Step::Go
    }

    /// Event-driven, at each interval: the rows on screen and whatever
    /// else is wanted are read exactly, and an update goes out if there
    /// is news (or a heartbeat is due): a quiet tick sends nothing.
    fn tick(&mut self) -> Step {
        let mut wanted = self.pipeline.take_wanted();
        if !self.watched.is_empty() {
            let asked: rustc_hash::FxHashSet<SocketKey> = wanted.iter().map(|w| w.key).collect();
            let on_screen = self.watched.iter().filter(|k| !asked.contains(*k));
            wanted.extend(on_screen.map(|k| self.pipeline.wanted_key(*k)));
        }
        self.look_up(wanted);
        self.pipeline.purge(Instant::now());
        let heartbeat_due = self.last_sent.is_none_or(|t| t.elapsed() >= HEARTBEAT);
        let news = !self.pending.is_empty() || self.pipeline.has_delta() || self.dropped > 0;
        if !news && !heartbeat_due && self.details.is_none() && self.unsent.is_empty() {
            return Step::Go;
        }
        self.publish(Some(Instant::now()))
    }

    /// Reads single sockets exactly and applies what the kernel says,
    /// after every change that happened before the reading.
    fn look_up(&mut self, wanted: Vec<Wanted>) {
        if wanted.is_empty() || !self.sources.table.can_look_up() {
            return;
        }
        let (started, wall) = (Instant::now(), SystemTime::now());
        let rows = match self.sources.table.look_up(&wanted) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("reading the table failed: {e}");
                self.failing = Some(e.to_string());
                return;
            }
        };
        self.settle(Instant::now());
        let answers = wanted.iter().map(|w| w.key).zip(rows).collect();
        self.pipeline
            .looked_up(started, wall, answers, &mut self.pending);
        self.bound_pending();
    }

    /// Applies every change stamped before `finished`: a change is written
    /// a moment after its timestamp, so wait that moment first.
    fn settle(&mut self, finished: Instant) {
        if self.sources.changes.is_some() {
            std::thread::sleep((finished + SLACK).saturating_duration_since(Instant::now()));
            self.apply_changes();
        }
    }

    /// A new port to watch: the tracepoint re-filtered, what lies outside
    /// forgotten, and the whole (new) scope read next.
    fn rescope(&mut self, port: Option<u16>) {
        if self.scope.port == port {
            return;
        }
        self.scope = Scope { port, ..self.scope };
        if let Some(changes) = self.sources.changes.as_mut()
            && let Err(e) = changes.follow_port(port)
        {
            self.failing = Some(e.to_string());
        }
        self.apply_changes();
        self.pipeline.forget_outside(&self.scope);
        self.dump_now = true;
    }

    /// The last update: what the kernel reported until now, and exact
    /// answers for every socket whose end only a reading can tell (a close
    /// a timewait socket may carry on, say), so that nothing that happened
    /// before the consumer exits is left for a reading that will not come.
    /// Sent however busy the consumer is: it reads until the feed closes.
    fn finish(&mut self) {
        self.settle(Instant::now());
        // A second round for what closed while the first one was read,
        // and for answers the kernel's newer reports made stale.
        for _ in 0..FINISH_ROUNDS {
            let wanted = self.pipeline.take_awaiting();
            if wanted.is_empty() {
                break;
            }
            self.look_up(wanted);
        }
        let update = self.next_update(Some(Instant::now()));
        let _ = self.out.blocking_send(Feed::Update(update));
    }

    fn apply_changes(&mut self) {
        let Some(changes) = self.sources.changes.as_mut() else {
            return;
        };
        self.batch.clear();
        if let Err(e) = changes.drain(&mut self.batch) {
            self.failing = Some(e.to_string());
        }
        self.pipeline.changes(&self.batch, &mut self.pending);
        self.bound_pending();
    }

    /// One reading of the table, with the changes it may have seen.
    fn read_table(&mut self) -> Step {
        self.asked = false;
        self.lost = self.sources.changes.as_ref().map_or(0, |c| c.lost());
        let started = Instant::now();
        let dump = match self.sources.table.dump(&self.scope) {
            Ok(dump) => dump,
            Err(e) => {
                self.failing = Some(e.to_string());
                self.apply_changes();
                return match self.out.try_send(Feed::Failed(e)) {
                    Err(TrySendError::Closed(_)) => Step::Stop,
                    _ => Step::Go,
                };
            }
        };
        self.failing = None;
        // Only a reading that worked can stand for the next.
        self.last_reading = Some(started);
        let (taken_at, warning) = (dump.started, dump.warning.clone());
        self.batch.clear();
        if let Some(changes) = self.sources.changes.as_mut() {
            // A change stamped just before the dump ended may be written a
            // moment later: wait that moment, then take everything.
            let settle = (dump.finished + SLACK).saturating_duration_since(Instant::now());
            std::thread::sleep(settle);
            if let Err(e) = changes.drain(&mut self.batch) {
                self.failing = Some(e.to_string());
            }
        }
        self.pipeline.reading(dump, &self.batch, &mut self.pending);
        self.reading_cost = started.elapsed();
        self.bound_pending();
        let wanted = self.pipeline.take_wanted();
        self.look_up(wanted);
        let heartbeat_due = self.last_sent.is_none_or(|t| t.elapsed() >= HEARTBEAT);
        self.warning = warning;
        if self.pending.is_empty() && !heartbeat_due && self.details.is_none() {
            return Step::Go;
        }
        self.publish(Some(taken_at))
    }

    /// Sends what happened since the last update, unless the consumer is
    /// still busy with that one: then it all waits for the next.
    /// `reading`: when the table reading it follows began, if it follows
    /// one (else it carries changes only).
    fn publish(&mut self, reading: Option<Instant>) -> Step {
        if self.out.is_closed() {
            return Step::Stop;
        }
        if self.out.capacity() == 0 {
            return Step::Go;
        }
        let update = self.next_update(reading);
        match self.out.try_send(Feed::Update(update)) {
            Ok(()) => {
                self.last_sent = Some(Instant::now());
                Step::Go
            }
            Err(TrySendError::Full(Feed::Update(update))) => {
                // Only this thread sends, so this is not expected; if it
                // happens, nothing is lost: it all waits for the next update.
                self.pending = update.events;
                self.dropped += update.dropped_events;
                self.unsent.merge(update.delta);
                Step::Go
            }
            Err(TrySendError::Full(_)) => Step::Go,
            Err(TrySendError::Closed(_)) => Step::Stop,
        }
    }

    /// Everything since the last update, as the next one.
    fn next_update(&mut self, reading: Option<Instant>) -> Box<Update> {
        // The next batch is likely as big as this one: one allocation, not
        // a chain of them as it grows.
        let room = self.pending.len().min(MAX_PENDING_EVENTS);
        let events = std::mem::replace(&mut self.pending, Vec::with_capacity(room));
        let taken_at = reading.unwrap_or_else(Instant::now);
        self.pipeline.purge(Instant::now());
        let mut update = Update::from_pipeline(&mut self.pipeline, events, taken_at);
        let mut delta = std::mem::take(&mut self.unsent);
        delta.merge(std::mem::take(&mut update.delta));
        update.delta = delta;
        update.warning.clone_from(&self.warning);
        update.degradations = self.degradations();
        update.dropped_events = std::mem::take(&mut self.dropped);
        // tcp_info costs the kernel a lookup: once per reading, not per
        // batch of changes.
        if reading.is_some() {
            update.details = self.read_details();
        }
        Box::new(update)
    }

    fn degradations(&self) -> Vec<Degradation> {
        let mut out = self.sources.degradations();
        if let Some(why) = &self.failing {
            out.insert(0, Degradation::new(Limit::TableRecovered, why.clone()));
        }
        out
    }

    fn read_details(&mut self) -> Option<DetailsReading> {
        let key = self.details?;
        let table = &mut self.sources.table;
        let supported = table.has_details();
        let info = if supported {
            table.details(&key).map_err(|e| e.to_string())
        } else {
            Ok(None)
        };
        Some(DetailsReading {
            key,
            info,
            supported,
        })
    }

    /// Events are added to `pending` in place (no batch of their own to
    /// grow and copy); beyond the bound the oldest are dropped and counted.
    fn bound_pending(&mut self) {
        if self.pending.len() > MAX_PENDING_EVENTS {
            let excess = self.pending.len() - MAX_PENDING_EVENTS;
            self.pending.drain(..excess);
            self.dropped += excess as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{EventKind, Family, SocketKey, SocketRow, TcpState};
    use crate::source::{Dump, ScriptedSource};

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
        .map(|s| Dump::new(vec![SocketRow::new(key, s)]));
        // Room for one update only: the rest must be merged, not dropped.
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let sources = Sources::table_only(Box::new(ScriptedSource::new(frames)));
        let runner =
            Runner::spawn(sources, Scope::default(), Duration::from_millis(5), tx).expect("runner");
        std::thread::sleep(Duration::from_millis(200));
        let mut kinds = Vec::new();
        while let Ok(Feed::Update(u)) = rx.try_recv() {
            kinds.extend(u.events.iter().map(|e| e.kind));
            if kinds.len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(runner);
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

    #[test]
    fn finish_sends_a_last_update_however_busy_the_consumer_then_closes_the_feed() {
        let key = SocketKey::new(
            Family::Inet,
            "127.0.0.1:40000".parse().expect("a"),
            "127.0.0.1:80".parse().expect("b"),
        );
        let frame = Dump::new(vec![SocketRow::new(key, TcpState::Established)]);
        // Room for one update: the first reading's fills it, so the last
        // one must wait for room rather than be merged into one never sent.
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let sources = Sources::table_only(Box::new(ScriptedSource::new([frame])));
        let hour = Duration::from_secs(3600);
        let runner = Runner::spawn(sources, Scope::default(), hour, tx).expect("runner");
        runner.finish();
        let mut updates = Vec::new();
        while let Some(feed) = rx.blocking_recv() {
            if let Feed::Update(u) = feed {
                updates.push(u);
            }
        }
        drop(runner);
        assert_eq!(updates.len(), 2, "the first reading's, and the last");
        assert_eq!(updates[0].delta.changed.len(), 1);
    }

    /// A table that never changes, counting its readings; it says so when
    /// asked, as the kernel's counters would.
    struct Still {
        inner: ScriptedSource,
        reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl crate::source::SocketSource for Still {
        fn name(&self) -> &'static str {
            "still"
        }

        fn dump(&mut self, scope: &Scope) -> Result<Dump, crate::source::SourceError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.dump(scope)
        }

        fn may_have_changed(&mut self) -> bool {
            false
        }
    }

    #[test]
    fn polling_skips_readings_while_nothing_moves_but_not_when_asked() {
        use std::sync::atomic::Ordering;
        let key = SocketKey::new(
            Family::Inet,
            "127.0.0.1:40000".parse().expect("a"),
            "127.0.0.1:80".parse().expect("b"),
        );
        let frame = Dump::new(vec![SocketRow::new(key, TcpState::Established)]);
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let still = Still {
            inner: ScriptedSource::new([frame]),
            reads: reads.clone(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let sources = Sources::table_only(Box::new(still));
        let every = Duration::from_millis(2);
        let runner = Runner::spawn(sources, Scope::default(), every, tx).expect("runner");
        // 100 intervals pass; the whole table is read only at the start
        // (and once more if the test runs past QUIET_LIMIT).
        std::thread::sleep(every * 100);
        let quiet = reads.load(Ordering::SeqCst);
        assert!((1..=2).contains(&quiet), "{quiet} readings");
        // A new interval is a request for a reading: never skipped.
        runner.set_interval(every);
        let deadline = Instant::now() + Duration::from_secs(10);
        while reads.load(Ordering::SeqCst) == quiet {
            assert!(
                Instant::now() < deadline,
                "the asked-for reading never came"
            );
            std::thread::sleep(every);
        }
        // And without being asked, the table is read again within the limit.
        let asked = reads.load(Ordering::SeqCst);
        let deadline = Instant::now() + QUIET_LIMIT * 10;
        while reads.load(Ordering::SeqCst) == asked {
            assert!(Instant::now() < deadline, "never read again");
            std::thread::sleep(every);
        }
        drop(runner);
        let mut first = None;
        while let Ok(Feed::Update(u)) = rx.try_recv() {
            first.get_or_insert(u.delta.changed.len());
        }
        assert_eq!(
            first,
            Some(1),
            "the connection arrived with the first update"
        );
    }

    /// Changes that never come, and a count of dropped ones the test sets.
    struct Lossy {
        lost: std::sync::Arc<std::sync::atomic::AtomicU64>,
    }

    impl crate::source::ChangeSource for Lossy {
        fn name(&self) -> &'static str {
            "lossy"
        }

        fn wait(&mut self, timeout: Duration) {
            std::thread::sleep(timeout.min(Duration::from_millis(2)));
        }

        fn drain(&mut self, _out: &mut Vec<Change>) -> Result<(), crate::source::SourceError> {
            Ok(())
        }

        fn waker(&self) -> crate::source::Waker {
            std::sync::Arc::new(|| {})
        }

        fn lost(&self) -> u64 {
            self.lost.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[test]
    fn changes_the_kernel_dropped_make_the_table_be_read_at_once() {
        use std::sync::atomic::Ordering;
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut sources = Sources::table_only(Box::new(Still {
            inner: ScriptedSource::new([Dump::new(Vec::new())]),
            reads: reads.clone(),
        }));
        sources.changes = Some(Box::new(Lossy { lost: lost.clone() }));
        let (tx, _rx) = tokio::sync::mpsc::channel(64);
        let hour = Duration::from_secs(3600);
        let runner = Runner::spawn(sources, Scope::default(), hour, tx).expect("runner");
        let until = |n: usize| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while reads.load(Ordering::SeqCst) < n {
                assert!(Instant::now() < deadline, "no reading {n}");
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        until(1);
        lost.store(3, Ordering::SeqCst);
        until(2);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "once per loss, not on and on"
        );
        drop(runner);
    }
}
