//! `tcpscope watch`: one line per event (new connection, state change,
//! gone) as it happens, as text or NDJSON, until interrupted. Headless:
//! the same pipeline as the TUI, no terminal. The filter judges each event
//! on its own fields; with `pid` or `proc` terms, an event whose owner is
//! not known yet waits (briefly) for the owner lookup.

use crate::pipeline::runner::{Feed, Runner, Update};
use crate::shutdown::Termination;
use crate::socket::segment::Numbering;
use crate::socket::{ConnId, Event, EventKind, Filter, Segment};
use crate::source::capture::pcap::PcapWriter;
use crate::source::capture::{Capture, Captured};
use crate::source::{Limit, Scope, Sources};
use chrono::{DateTime, Local};
use rustc_hash::FxHashMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// How long an event may wait for its connection's owner to be known.
pub const OWNER_WAIT: Duration = Duration::from_secs(3);
/// How long a line waits for lines of the other kind (segments are read
/// as they come, state events in batches a few milliseconds apart).
pub const INTERLEAVE: Duration = Duration::from_millis(100);

pub struct WatchOptions {
    pub scope: Scope,
    pub filter: Filter,
    pub interval: Duration,
    pub json: bool,
    /// A recording: the table first, queue and timer updates, notices.
    pub record: bool,
    /// Only ended connections, each as its summary.
    pub summary: bool,
}

/// The segments of the watched port, when they are captured: printed
/// among the state events, and written to a pcap file if asked.
pub struct Segments {
    pub capture: Capture,
    pub pcap: Option<PcapWriter<io::BufWriter<std::fs::File>>>,
}

/// Runs until Ctrl-C, SIGTERM, SIGHUP, SIGQUIT (`signals`, registered
/// before the sources were opened) or a closed stdout (`| head`), all of
/// which end it normally.
pub async fn run(
    sources: Sources,
    opts: WatchOptions,
    segments: Option<Segments>,
    signals: Termination,
) -> anyhow::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    run_to(sources, opts, segments, signals, &mut out).await
}

/// The same, writing to `out`.
pub async fn run_to(
    sources: Sources,
    opts: WatchOptions,
    mut segments: Option<Segments>,
    mut signals: Termination,
    mut out: &mut impl Write,
) -> anyhow::Result<()> {
    let (tx, mut feed) = tokio::sync::mpsc::channel(16);
    // An accepted socket's owner is known only from a walk of /proc that
    // a reading asks for and the next applies: with a filter that names a
    // process, readings come often enough that its events need not wait
    // longer than OWNER_WAIT.
    let reconcile = if opts.filter.needs_owners() {
        OWNER_WAIT / 3
    } else {
        crate::pipeline::runner::RECONCILE
    };
    let runner = Runner::spawn_reconciling(sources, opts.scope, opts.interval, reconcile, tx)?;
    let mut printer = Printer::new(opts);
    if segments.is_some() {
        printer = printer.interleaving();
    }
    let stopped = follow(
        &mut feed,
        &mut segments,
        &mut signals,
        &mut printer,
        &mut out,
    )
    .await;
    match stopped {
        Err(e) if is_broken_pipe(&e) => return Ok(()),
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    runner.finish();
    let finished = last_updates(&mut feed, &mut signals, &mut printer, &mut out).await;
    if let Some(pcap) = segments.as_mut().and_then(|w| w.pcap.as_mut()) {
        pcap.flush()?;
    }
    let written = finished
        .and_then(|()| printer.release_waiting(&mut out))
        .and_then(|()| printer.release_all(&mut out))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Prints updates and segments as they come, until a termination signal.
async fn follow(
    feed: &mut tokio::sync::mpsc::Receiver<Feed>,
    segments: &mut Option<Segments>,
    signals: &mut Termination,
    printer: &mut Printer,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut stop = Box::pin(signals.wait());
    let mut tick = tokio::time::interval(INTERLEAVE / 2);
    loop {
        tokio::select! {
            _ = tick.tick(), if printer.holds_lines() => printer.release(Instant::now(), out)?,
            Some(captured) = next_segment(segments) => {
                if let Some(pcap) = segments.as_mut().and_then(|w| w.pcap.as_mut()) {
                    pcap.packet(captured.wall, &captured.packet)?;
                }
                printer.segment(captured, out)?;
            },
            got = feed.recv() => match got {
                Some(feed) => printer.feed(feed, out)?,
                None => anyhow::bail!("the pipeline thread stopped"),
            },
            _ = &mut stop => return Ok(()),
        }
    }
}

/// After the signal: the pipeline's last updates, up to the one that
/// settles every close still open, until the feed closes; a second
/// signal cuts it short.
async fn last_updates(
    feed: &mut tokio::sync::mpsc::Receiver<Feed>,
    signals: &mut Termination,
    printer: &mut Printer,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut again = Box::pin(signals.wait());
    loop {
        tokio::select! {
            got = feed.recv() => match got {
                Some(feed) => printer.feed(feed, out)?,
                None => return Ok(()),
            },
            _ = &mut again => return Ok(()),
        }
    }
}

/// The next captured segment; never, without a capture.
async fn next_segment(segments: &mut Option<Segments>) -> Option<Captured> {
    match segments {
        Some(w) => w.capture.segments.recv().await,
        None => std::future::pending().await,
    }
}

/// Turns updates into lines: filters events, holds those waiting for an
/// owner, and says once per change that the kernel dropped transitions.
pub struct Printer {
    opts: WatchOptions,
    /// Events waiting for their connection's owner, per connection, in
    /// order, with when they started waiting.
    waiting: FxHashMap<ConnId, (Instant, Vec<Event>)>,
    lost_said: String,
    numbering: Numbering,
    /// What a recording writes besides the events.
    recording: Option<super::recording::Recording>,
    /// With segments: lines wait this long, to be written in time order.
    hold: Duration,
    held: std::collections::BTreeMap<(Instant, u64), String>,
    order: u64,
}

impl Printer {
    pub fn new(opts: WatchOptions) -> Self {
        let recording = opts.record.then(super::recording::Recording::default);
        Printer {
            opts,
            waiting: FxHashMap::default(),
            lost_said: String::new(),
            numbering: Numbering::default(),
            recording,
            hold: Duration::ZERO,
            held: Default::default(),
            order: 0,
        }
    }

    /// Segments and state events are interleaved in time order: each line
    /// waits `INTERLEAVE` for the other kind's lines of the same moment.
    pub fn interleaving(mut self) -> Self {
        self.hold = INTERLEAVE;
        self
    }

    /// One captured segment, numbered, as a line.
    pub fn segment(&mut self, c: Captured, out: &mut impl Write) -> io::Result<()> {
        let s = self.numbering.segment(c.header, c.at, c.wall);
        let line = if self.opts.json {
            segment_json(&s)
        } else {
            segment_text(&s)
        };
        self.emit(s.at, line, out)?;
        self.release(Instant::now(), out)
    }

    /// One message of the pipeline: an update's lines, or why a reading
    /// failed (on stderr, and in a recording).
    pub fn feed(&mut self, feed: Feed, out: &mut impl Write) -> io::Result<()> {
        match feed {
            Feed::Update(update) => self.update(&update, out),
            Feed::Failed(why) => {
                let text = why.to_string();
                eprintln!("tcpscope: {text}");
                match &self.recording {
                    Some(r) => r.failed(&text, out),
                    None => Ok(()),
                }
            }
        }
    }

    /// Writes the update's events that pass the filter, then flushes, so a
    /// reader sees each batch as it happens.
    pub fn update(&mut self, update: &Update, out: &mut impl Write) -> io::Result<()> {
        self.warn_lost(update);
        if let Some(r) = &mut self.recording {
            r.update(update, &self.opts.filter, out)?;
        }
        if update.dropped_events > 0 {
            eprintln!(
                "tcpscope: {} events were dropped because the output was too slow",
                update.dropped_events
            );
        }
        let owners: FxHashMap<ConnId, _> = if self.opts.filter.needs_owners() {
            let with_owner = update
                .delta
                .changed
                .iter()
                .filter(|c| c.row.owner.is_some());
            with_owner.map(|c| (c.id, c.row.owner.clone())).collect()
        } else {
            FxHashMap::default()
        };
        let mut ready = self.released(&owners, update.taken_at);
        for event in &update.events {
            let mut event = event.clone();
            if event.owner.is_none() {
                event.owner = owners.get(&event.id).cloned().flatten();
            }
            self.route(event, update.taken_at, &mut ready);
        }
        for event in ready {
            if self.wants(&event) {
                let line = self.line(&event);
                self.emit(event.at, line, out)?;
            }
        }
        self.release(Instant::now(), out)
    }

    /// Writes a line now, or holds it to be written in time order with
    /// lines of the other kind (segments and state events come apart).
    fn emit(&mut self, at: Instant, line: String, out: &mut impl Write) -> io::Result<()> {
        if self.hold.is_zero() {
            return out.write_all(line.as_bytes());
        }
        self.order += 1;
        self.held.insert((at, self.order), line);
        Ok(())
    }

    /// Writes held lines older than the hold, oldest first, and flushes.
    pub fn release(&mut self, now: Instant, out: &mut impl Write) -> io::Result<()> {
        let cut = now.checked_sub(self.hold).unwrap_or(now);
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > cut {
                break;
            }
            out.write_all(entry.remove().as_bytes())?;
        }
        out.flush()
    }

    /// Writes every held line (at the end).
    pub fn release_all(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.hold = Duration::ZERO;
        self.release(Instant::now() + Duration::from_secs(3600), out)
    }

    /// At exit: events still waiting for their owner go to the filter as
    /// they are, as they would once the wait ran out.
    pub fn release_waiting(&mut self, out: &mut impl Write) -> io::Result<()> {
        let timed_out = Instant::now() + OWNER_WAIT;
        for event in self.released(&FxHashMap::default(), timed_out) {
            if self.wants(&event) {
                let line = self.line(&event);
                self.emit(event.at, line, out)?;
            }
        }
        Ok(())
    }

    pub fn holds_lines(&self) -> bool {
        !self.held.is_empty()
    }

    /// Sends an event on, or holds it while its owner is unknown and the
    /// filter asks about owners. A connection's events stay in order.
    fn route(&mut self, event: Event, now: Instant, ready: &mut Vec<Event>) {
        let must_wait = self.opts.filter.needs_owners() && event.owner.is_none();
        if let Some((_, held)) = self.waiting.get_mut(&event.id) {
            held.push(event);
        } else if must_wait {
            self.waiting.insert(event.id, (now, vec![event]));
        } else {
            ready.push(event);
        }
    }

    /// Held events whose owner is now known, or that waited long enough.
    fn released(
        &mut self,
        owners: &FxHashMap<ConnId, Option<std::sync::Arc<crate::socket::Owner>>>,
        now: Instant,
    ) -> Vec<Event> {
        let due: Vec<ConnId> = self
            .waiting
            .iter()
            .filter(|(id, (since, _))| {
                owners.contains_key(id) || now.saturating_duration_since(*since) >= OWNER_WAIT
            })
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in due {
            let Some((_, events)) = self.waiting.remove(&id) else {
                continue;
            };
            let owner = owners.get(&id).cloned().flatten();
            out.extend(events.into_iter().map(|mut e| {
                e.owner = e.owner.or_else(|| owner.clone());
                e
            }));
        }
        out
    }

    /// Passes the filter and, with `--summary`, is a connection's end.
    fn wants(&self, event: &Event) -> bool {
        self.opts.filter.matches_event(event)
            && (!self.opts.summary || event.kind == EventKind::Gone)
    }

    fn line(&self, event: &Event) -> String {
        match (self.opts.json, self.opts.summary) {
            (true, _) => json_line(event),
            (false, true) => summary_line(event),
            (false, false) => text_line(event),
        }
    }

    /// Says on stderr, once per change, that the kernel dropped
    /// transitions: nothing is lost silently.
    fn warn_lost(&mut self, update: &Update) {
        let lost = update
            .degradations
            .iter()
            .find(|d| d.limit == Limit::LostTransitions);
        if let Some(d) = lost
            && d.why != self.lost_said
        {
            eprintln!("tcpscope: warning: {}", d.why);
            self.lost_said.clone_from(&d.why);
        }
    }
}

/// `12:01:03.250  state  127.0.0.1:51234 -> 127.0.0.1:8080  ESTABLISHED -> FIN_WAIT_2`
pub fn text_line(e: &Event) -> String {
    let time: DateTime<Local> = e.wall.into();
    let states = match e.states() {
        (None, Some(to)) => to.to_string(),
        (Some(from), Some(to)) => format!("{from} -> {to}"),
        (Some(from), None) => format!("{from} -> (gone)"),
        (None, None) => String::new(),
    };
    // Polling without root knows no causes; saying so on every line is noise.
    let cause = match e.cause {
        crate::socket::Cause::Unknown => String::new(),
        ref c => format!("  ({})", c.words()),
    };
    format!(
        "{}  {:<5}  {}  {states}{cause}\n",
        time.format("%H:%M:%S%.6f"),
        e.kind.name(),
        e.key.label()
    )
}

/// `12:01:03.250123  gone   127.0.0.1:51234 -> 127.0.0.1:8080  lasted 61.003s: …`
pub fn summary_line(e: &Event) -> String {
    let time: DateTime<Local> = e.wall.into();
    let words = match &e.summary {
        Some(s) => s.words(),
        None => "(its life was not seen)".to_string(),
    };
    format!(
        "{}  gone   {}  {words}\n",
        time.format("%H:%M:%S%.6f"),
        e.key.label()
    )
}

/// `12:01:03.250123  seg    127.0.0.1:51234 -> 127.0.0.1:8080  SYN+ACK  seq 0 ack 1 len 0 win 65483`
pub fn segment_text(s: &Segment) -> String {
    let time: DateTime<Local> = s.wall.into();
    let again = if s.retransmission {
        "  retransmission"
    } else {
        ""
    };
    format!(
        "{}  seg    {}  {}  seq {} ack {} len {} win {}{again}\n",
        time.format("%H:%M:%S%.6f"),
        s.key.label(),
        s.flags.names().join("+"),
        s.seq,
        s.ack,
        s.len,
        s.win
    )
}

/// One segment of the event stream; `key` is oriented from the sender.
pub fn segment_json(s: &Segment) -> String {
    crate::stream::line(&crate::stream::SegmentRecord::of(s))
}

/// One line of the event stream: `{"ts", "event", "key", "from", "to", "id"…}`.
pub fn json_line(e: &Event) -> String {
    crate::stream::line(&crate::stream::ConnRecord::of(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{EventKind, Family, Owner, Process, SocketKey, TcpState};
    use std::sync::Arc;
    use std::time::SystemTime;

    fn event(kind: EventKind, state: TcpState) -> Event {
        Event {
            at: Instant::now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_millis(1_500),
            id: 1,
            key: SocketKey::new(
                Family::Inet,
                "127.0.0.1:51234".parse().expect("a"),
                "127.0.0.1:8080".parse().expect("b"),
            ),
            state,
            kind,
            owner: None,
            cause: crate::socket::Cause::Unknown,
            summary: None,
        }
    }

    #[test]
    fn ndjson_has_the_contract_fields() {
        let change = event(
            EventKind::State {
                from: TcpState::Established,
                to: TcpState::FinWait2,
            },
            TcpState::FinWait2,
        );
        let v: serde_json::Value = serde_json::from_str(&json_line(&change)).expect("valid JSON");
        assert_eq!(v["ts"], "1970-01-01T00:00:01.500000Z");
        assert_eq!(v["event"], "state");
        assert_eq!(v["key"], "127.0.0.1:51234 -> 127.0.0.1:8080");
        assert_eq!(
            (v["from"].as_str(), v["to"].as_str()),
            (Some("ESTABLISHED"), Some("FIN_WAIT_2"))
        );
        let new: serde_json::Value =
            serde_json::from_str(&json_line(&event(EventKind::New, TcpState::SynSent)))
                .expect("JSON");
        assert!(new["from"].is_null());
        assert_eq!(new["to"], "SYN_SENT");
        let gone: serde_json::Value =
            serde_json::from_str(&json_line(&event(EventKind::Gone, TcpState::TimeWait)))
                .expect("JSON");
        assert_eq!(
            (gone["from"].as_str(), gone["to"].is_null()),
            (Some("TIME_WAIT"), true)
        );
    }

    #[test]
    fn text_lines_read_like_a_log() {
        let line = text_line(&event(
            EventKind::State {
                from: TcpState::Established,
                to: TcpState::FinWait2,
            },
            TcpState::FinWait2,
        ));
        assert!(
            line.ends_with(
                "  state  127.0.0.1:51234 -> 127.0.0.1:8080  ESTABLISHED -> FIN_WAIT_2\n"
            ),
            "{line}"
        );
        assert_eq!(line.find("  state"), Some(15), "HH:MM:SS.µs first: {line}");
        let mut acked = event(
            EventKind::State {
                from: TcpState::FinWait1,
                to: TcpState::FinWait2,
            },
            TcpState::FinWait2,
        );
        acked.cause = crate::socket::Cause::segment(crate::socket::Flags::ACK);
        assert!(
            text_line(&acked).ends_with("FIN_WAIT_1 -> FIN_WAIT_2  (ACK received)\n"),
            "{}",
            text_line(&acked)
        );
    }

    #[test]
    fn a_summary_line_tells_the_whole_life() {
        use crate::socket::summary::Summary;
        let mut gone = event(EventKind::Gone, TcpState::TimeWait);
        gone.summary = Some(Arc::new(Summary {
            duration: Duration::from_millis(60_250),
            states: vec![
                (TcpState::Established, Duration::from_millis(250)),
                (TcpState::TimeWait, Duration::from_secs(60)),
            ],
            whole: true,
            totals: Some(crate::socket::Totals {
                bytes_sent: 517,
                bytes_received: 1200,
                total_retrans: 0,
            }),
            ended: crate::socket::Cause::Timer(crate::socket::cause::Timer::TimeWait),
        }));
        let line = summary_line(&gone);
        assert!(
            line.ends_with(
                "gone   127.0.0.1:51234 -> 127.0.0.1:8080  lasted 60.250s: \
                 ESTABLISHED 250.0ms, TIME_WAIT 60.000s; sent 517 B, received 1200 B, \
                 0 retransmitted; ended: TIME_WAIT's timer ended\n"
            ),
            "{line}"
        );
    }

    #[test]
    fn events_wait_for_their_owner_when_the_filter_names_a_process() {
        let opts = WatchOptions {
            scope: Scope::default(),
            filter: Filter::parse("pid 42").expect("valid"),
            interval: Duration::from_millis(100),
            json: false,
            record: false,
            summary: false,
        };
        let mut printer = Printer::new(opts);
        let t0 = Instant::now();
        let mut update = Update {
            delta: Default::default(),
            events: vec![event(EventKind::New, TcpState::Established)],
            dumps: 1,
            taken_at: t0,
            warning: None,
            degradations: Vec::new(),
            dropped_events: 0,
            details: None,
        };
        let mut out = Vec::new();
        printer.update(&update, &mut out).expect("print");
        assert!(out.is_empty(), "held: the owner is not known yet");
        // The next reading knows who holds connection 1.
        let mut conn = crate::socket::Conn {
            id: 1,
            row: crate::socket::SocketRow::new(update.events[0].key, TcpState::Established),
            timeline: Vec::new(),
            appeared_at: None,
            gone_at: None,
            end_cause: crate::socket::Cause::Unknown,
        };
        conn.row.owner = Some(Arc::new(Owner {
            procs: vec![Process {
                pid: 42,
                name: None,
            }],
        }));
        update.events.clear();
        update.delta.changed = vec![Arc::new(conn)];
        printer.update(&update, &mut out).expect("print");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("new    127.0.0.1:51234"), "{text}");
    }
}
