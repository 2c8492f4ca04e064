//! Reads the instance's per-CPU ring buffers (`trace_pipe_raw`) and hands
//! out changes in the order they happened. Each CPU's buffer is in time
//! order, but CPUs are read one after another, so a change on one CPU can
//! turn up after a later one on another. A change is therefore handed out
//! only once every CPU has been read empty after its time (plus a small
//! slack for a record written just after its timestamp was taken): then
//! nothing older can still arrive, and a dump finished before `drain` was
//! called has every change it could have seen in the batch.

use super::causes::Causes;
use super::ring::{EventFormat, Hint, HintFormats, PageLayout, RawChange, RawHint, parse_records};
use super::session::{EVENT, TraceSession};
use crate::socket::{Cause, Family, SocketKey, TcpState};
use crate::source::sockdiag::state;
use crate::source::{Change, ChangeSource, Degradation, Limit, SourceError, Waker, os_error};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long after its timestamp a record may still be written (it is
/// stamped before it is committed; both happen in the tracepoint, with
/// preemption off, but an interrupt can fall in between).
pub const COMMIT_SLACK: Duration = Duration::from_millis(2);

pub struct TraceReader {
    // Declared before `session`: the files must close before the
    // instance directory can be removed.
    cpus: Vec<OwnedFd>,
    wake_rx: OwnedFd,
    wake_tx: Arc<OwnedFd>,
    page: Vec<u8>,
    layout: PageLayout,
    format: EventFormat,
    hint_formats: HintFormats,
    /// Read but not yet handed out: newer than the watermark.
    held: Vec<RawChange>,
    /// Hints read but not yet applied, in the same way.
    held_hints: Vec<RawHint>,
    causes: Causes,
    clock: ClockMap,
    callers: crate::source::caller::Callers,
    lost: u64,
    session: TraceSession,
}

impl TraceReader {
    pub fn new(session: TraceSession) -> Result<TraceReader, SourceError> {
        let layout = PageLayout::parse(&session.read("events/header_page")?)
            .map_err(|e| SourceError::Unavailable(e.to_string()))?;
        let format = EventFormat::parse(&session.read(&format!("{EVENT}/format"))?)
            .map_err(|e| SourceError::Unavailable(e.to_string()))?;
        let mut hint_formats = HintFormats::default();
        for &h in session.hints() {
            // A hint whose layout is not understood is left out, not fatal.
            if let Ok(text) = session.read(&format!("{}/format", h.path())) {
                let _ = hint_formats.add(h, &text);
            }
        }
        let page_size = session
            .read("buffer_subbuf_size_kb")
            .ok()
            .and_then(|kb| kb.trim().parse::<usize>().ok())
            .map_or(4096, |kb| kb * 1024);
        let cpus = open_cpus(session.instance())?;
        let (wake_rx, wake_tx) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::NONBLOCK | rustix::pipe::PipeFlags::CLOEXEC,
        )
        .map_err(|e| os_error("cannot create a pipe", &e.into()))?;
        Ok(TraceReader {
            cpus,
            wake_rx,
            wake_tx: Arc::new(wake_tx),
            page: vec![0; page_size],
            layout,
            format,
            hint_formats,
            held: Vec::new(),
            held_hints: Vec::new(),
            causes: Causes::default(),
            clock: ClockMap::now(),
            callers: Default::default(),
            lost: 0,
            session,
        })
    }

    /// Reads every CPU until it is empty; returns the watermark: the time
    /// before which every change has been read.
    fn read_all(&mut self) -> Result<u64, SourceError> {
        let mut watermark = u64::MAX;
        for fd in &self.cpus {
            loop {
                let before = monotonic_ns();
                match rustix::io::read(fd, &mut self.page[..]) {
                    Ok(0) | Err(Errno::AGAIN) => {
                        watermark = watermark.min(before);
                        break;
                    }
                    Ok(n) => {
                        let (first_change, first_hint) = (self.held.len(), self.held_hints.len());
                        let formats = (&self.format, &self.hint_formats);
                        let page = &self.page[..n];
                        let note = parse_records(
                            page,
                            &self.layout,
                            formats,
                            &mut self.held,
                            &mut self.held_hints,
                        )
                        .map_err(|e| SourceError::Unavailable(e.to_string()))?;
                        self.lost += note.lost;
                        take_resets(&mut self.held_hints, first_hint, &mut self.causes);
                        name_callers(
                            &self.held[first_change..],
                            &self.held_hints[first_hint..],
                            &mut self.callers,
                        );
                    }
                    Err(Errno::INTR) => {}
                    Err(e) => return Err(os_error("cannot read the trace buffer", &e.into())),
                }
            }
        }
        Ok(watermark.saturating_sub(u64::try_from(COMMIT_SLACK.as_nanos()).unwrap_or(u64::MAX)))
    }
}

/// Whether a change is made only by a call of the socket's holder:
/// connect (CLOSE→SYN_SENT, and the SYN+ACK it waits for), listen, close
/// or shutdown (→FIN_WAIT_1, →LAST_ACK). A change to CLOSE may be a
/// destroy from another process (`ss -K`), and a child's ESTABLISHED
/// may be processed by whichever process holds the listener.
fn made_by_holder(from: TcpState, to: TcpState) -> bool {
    use TcpState::{Established, FinWait1, LastAck, Listen, SynSent};
    matches!(to, SynSent | FinWait1 | LastAck | Listen) || (from, to) == (SynSent, Established)
}

/// RST records go to `causes` as soon as they are read: a close records
/// its RST just after the change, which may then be handed out first.
fn take_resets(hints: &mut Vec<RawHint>, from: usize, causes: &mut Causes) {
    let is_reset =
        |h: &RawHint| matches!(h.what, Hint::ResetReceived { .. } | Hint::ResetSent { .. });
    for h in hints[from..].iter().filter(|h| is_reset(h)) {
        causes.note_reset(h);
    }
    hints.retain(|h| !is_reset(h));
}

/// Who the tasks of new records are, asked as soon as they are read.
fn name_callers(
    changes: &[RawChange],
    hints: &[RawHint],
    callers: &mut crate::source::caller::Callers,
) {
    let now = Instant::now();
    for h in hints {
        if let Hint::NewThread { tid, creator } = h.what {
            callers.started(tid, creator, now);
        }
    }
    for tid in changes.iter().filter_map(|c| c.task) {
        callers.early(tid, now);
    }
    for h in hints {
        if let Hint::Exit { tid, comm } = &h.what {
            callers.exited(*tid, comm, now);
        }
    }
}

fn to_change(
    clock: &ClockMap,
    callers: &mut crate::source::caller::Callers,
    causes: &mut Causes,
    c: &RawChange,
) -> Option<Change> {
    let family = if c.src.is_ipv4() {
        Family::Inet
    } else {
        Family::Inet6
    };
    let key = SocketKey::new(
        family,
        SocketAddr::new(c.src, c.sport),
        SocketAddr::new(c.dst, c.dport),
    );
    let (at, wall) = clock.place(c.ns);
    let (from, to) = (state(c.old)?, state(c.new)?);
    let deduced = causes.of(c, from, to);
    let caller = c.task.and_then(|tid| callers.of(tid, at));
    let owner = caller.clone().filter(|_| made_by_holder(from, to));
    let cause = match deduced.cause {
        Cause::Call { call, .. } if deduced.by_task => Cause::Call { call, by: caller },
        other => other,
    };
    Some(Change {
        key,
        from,
        to,
        at,
        wall,
        sk: Some(c.sk),
        owner,
        cause,
    })
}

impl ChangeSource for TraceReader {
    fn name(&self) -> &'static str {
        "trace"
    }

    fn wait(&mut self, timeout: Duration) {
        // Held changes are handed out once the slack has passed.
        let timeout = if self.held.is_empty() {
            timeout
        } else {
            timeout.min(COMMIT_SLACK)
        };
        let spec = rustix::time::Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds: Vec<PollFd<'_>> = self
            .cpus
            .iter()
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        fds.push(PollFd::new(&self.wake_rx, PollFlags::IN));
        let _ = poll(&mut fds, Some(&spec));
        let mut sink = [0u8; 64];
        while let Ok(n) = rustix::io::read(&self.wake_rx, &mut sink[..]) {
            if n == 0 {
                break;
            }
        }
    }

    fn drain(&mut self, out: &mut Vec<Change>) -> Result<(), SourceError> {
        let watermark = self.read_all()?;
        self.held.sort_by_key(|c| c.ns);
        self.held_hints.sort_by_key(|h| h.ns);
        let ready = self.held.partition_point(|c| c.ns < watermark);
        let ready_hints = self.held_hints.partition_point(|h| h.ns < watermark);
        let mut hints = self.held_hints.drain(..ready_hints).peekable();
        let (clock, callers, causes) = (&self.clock, &mut self.callers, &mut self.causes);
        for raw in self.held.drain(..ready) {
            // What happened before the change, in time order.
            while let Some(h) = hints.next_if(|h| h.ns <= raw.ns) {
                causes.note(&h);
            }
            out.extend(to_change(clock, callers, causes, &raw));
        }
        hints.for_each(|h| causes.note(&h));
        Ok(())
    }

    fn follow_port(&mut self, port: Option<u16>) -> Result<(), SourceError> {
        let scope = crate::source::Scope::on_port(port);
        self.session.set_filter(
            &super::filter(&scope),
            super::hint_filter(&scope).as_deref(),
        )
    }

    fn waker(&self) -> Waker {
        let tx = self.wake_tx.clone();
        Arc::new(move || {
            let _ = rustix::io::write(&*tx, &[1]);
        })
    }

    fn lost(&self) -> u64 {
        self.lost
    }

    fn degradations(&self) -> Vec<Degradation> {
        let mut out = Vec::new();
        if self.lost > 0 {
            out.push(Degradation::new(
                Limit::LostTransitions,
                format!(
                    "the kernel's trace buffer overflowed: {} state changes were lost (the whole table was read again at once to put states right)",
                    self.lost
                ),
            ));
        }
        if self.session.mounted() {
            out.push(Degradation::new(
                Limit::TracefsMounted,
                "was not mounted; tcpscope mounted it and unmounts it at exit",
            ));
        }
        out
    }
}

/// `per_cpu/cpuN/trace_pipe_raw` of every CPU, non-blocking.
fn open_cpus(instance: &std::path::Path) -> Result<Vec<OwnedFd>, SourceError> {
    let dir = instance.join("per_cpu");
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        let doing = format!("cannot list {}", dir.display());
        os_error(doing, &e)
    })?;
    let mut cpus = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join("trace_pipe_raw");
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open(&path, flags, Mode::empty()).map_err(|e| {
            let doing = format!("cannot open {}", path.display());
            os_error(doing, &e.into())
        })?;
        cpus.push(fd);
    }
    if cpus.is_empty() {
        return Err(SourceError::Unavailable(format!(
            "{} lists no CPUs",
            dir.display()
        )));
    }
    Ok(cpus)
}

/// CLOCK_MONOTONIC in nanoseconds: the instance's `mono` trace clock.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(t.tv_nsec).unwrap_or(0).min(999_999_999);
    secs * 1_000_000_000 + nanos
}

/// Maps CLOCK_MONOTONIC times (the trace clock) onto `Instant` and
/// `SystemTime`, from one reading of all three taken together.
struct ClockMap {
    mono: u64,
    instant: Instant,
    wall: SystemTime,
}

impl ClockMap {
    fn now() -> Self {
        ClockMap {
            mono: monotonic_ns(),
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn place(&self, mono: u64) -> (Instant, SystemTime) {
        if mono >= self.mono {
            let d = Duration::from_nanos(mono - self.mono);
            (self.instant + d, self.wall + d)
        } else {
            let d = Duration::from_nanos(self.mono - mono);
            (
                self.instant.checked_sub(d).unwrap_or(self.instant),
                self.wall.checked_sub(d).unwrap_or(self.wall),
            )
        }
    }
}
