//! Reads the instance's per-CPU ring buffers (`trace_pipe_raw`) and hands
//! out changes in the order they happened. Each CPU's buffer is in time
//! order, but CPUs are read one after another, so a change on one CPU can
//! turn up after a later one on another. A change is therefore handed out
//! only once every CPU has been read empty after its time (plus a small
//! slack for a record written just after its timestamp was taken): then
//! nothing older can still arrive, and a dump finished before `drain` was
//! called has every change it could have seen in the batch.

use super::ring::{EventFormat, PageLayout, RawChange, parse_page};
use super::session::{EVENT, TraceSession};
use crate::socket::{Family, SocketKey, TcpState};
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
    /// Read but not yet handed out: newer than the watermark.
    held: Vec<RawChange>,
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
            held: Vec::new(),
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
                        let note =
                            parse_page(&self.page[..n], &self.layout, &self.format, &mut self.held)
                                .map_err(|e| SourceError::Unavailable(e.to_string()))?;
                        self.lost += note.lost;
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

fn to_change(
    clock: &ClockMap,
    callers: &mut crate::source::caller::Callers,
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
    let owner = c
        .task
        .filter(|_| made_by_holder(from, to))
        .and_then(|tid| callers.of(tid, at));
    Some(Change {
        key,
        from,
        to,
        at,
        wall,
        sk: Some(c.sk),
        owner,
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
        let ready = self.held.partition_point(|c| c.ns < watermark);
        let (clock, callers) = (&self.clock, &mut self.callers);
        out.extend(
            self.held
                .drain(..ready)
                .filter_map(|raw| to_change(clock, callers, &raw)),
        );
        Ok(())
    }

    fn follow_port(&mut self, port: Option<u16>) -> Result<(), SourceError> {
        self.session
            .set_filter(&super::filter(&crate::source::Scope::on_port(port)))
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
