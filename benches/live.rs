//! What watching costs, in the units issue-sized goals are set in: per
//! transition (the live view applying trace events to a 26k-socket table
//! and drawing the frame), per visible row (a frame with more rows on
//! screen), and one whole `--once` reading of a recorded 26k-socket dump.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};
use tcpscope::pipeline::Pipeline;
use tcpscope::pipeline::runner::{Feed, Update};
use tcpscope::socket::{Family, Filter, SocketKey, SocketRow, TcpState};
use tcpscope::source::{Change, Dump};
use tcpscope::ui::{App, Settings, widgets};

/// Connections in the table (each seen from both ends) and TIME_WAITs:
/// 26,000 sockets, the size the live-view goals are measured at.
const CONNECTIONS: u32 = 12_000;
const TIME_WAITS: u32 = 2_000;

fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)), port)
}

/// Connection `i`: client end on host 1, server end on 8080 of host 2.
fn ends(i: u32) -> (SocketAddr, SocketAddr) {
    (addr(1, 10_000 + (i % 50_000) as u16), addr(2, 8080))
}

fn table() -> Vec<SocketRow> {
    let mut rows = Vec::new();
    for i in 0..CONNECTIONS {
        let (client, server) = ends(i);
        for (l, r) in [(client, server), (server, client)] {
            let mut row = SocketRow::new(SocketKey::new(Family::Inet, l, r), TcpState::Established);
            row.inode = Some(u64::from(i) * 2 + u64::from(l == server));
            rows.push(row);
        }
    }
    for i in 0..TIME_WAITS {
        let (l, r) = (addr(3, 20_000 + i as u16), addr(2, 8080));
        rows.push(SocketRow::new(
            SocketKey::new(Family::Inet, l, r),
            TcpState::TimeWait,
        ));
    }
    rows
}

fn settings() -> Settings {
    Settings {
        port: None,
        filter: Filter::default(),
        interval: Duration::from_millis(250),
        theme: tcpscope::ui::theme::Theme {
            color: true,
            contrast: false,
        },
        lab: tcpscope::lab::LabConfig::default(),
        log_size: 1000,
        classroom: false,
        pcap: None,
        record: None,
        metrics: None,
    }
}

/// The live view over the 26k table, as after its first reading.
struct Live {
    pipeline: Pipeline,
    app: App,
    terminal: Terminal<TestBackend>,
    /// Connection slots reopened so far (each one a new socket).
    cycles: u64,
}

impl Live {
    fn new(height: u16) -> Live {
        let mut pipeline = Pipeline::new();
        let mut events = Vec::new();
        let now = Instant::now();
        pipeline.dump(Dump::new(table()), &mut events);
        let update = Update::from_pipeline(&mut pipeline, events, now);
        let mut app = App::new(settings(), tcpscope::ui::Session::Live, "bench", now);
        app.apply_feed(Feed::Update(Box::new(update)));
        let terminal = Terminal::new(TestBackend::new(160, height)).expect("test terminal");
        Live {
            pipeline,
            app,
            terminal,
            cycles: 0,
        }
    }

    /// `n` connections reset and reopened on the same ends: three
    /// transitions each (ESTABLISHED→CLOSE of the old socket, CLOSE→
    /// SYN_SENT and SYN_SENT→ESTABLISHED of the new one).
    fn reopen(&mut self, n: u32) -> Vec<Change> {
        let (at, wall) = (Instant::now(), SystemTime::now());
        let mut batch = Vec::with_capacity(n as usize * 3);
        for _ in 0..n {
            let slot = (self.cycles % u64::from(CONNECTIONS)) as u32;
            let (client, server) = ends(slot);
            let key = SocketKey::new(Family::Inet, client, server);
            let change = |from, to, sk| Change {
                key,
                from,
                to,
                at,
                wall,
                sk: Some(sk),
                owner: None,
                cause: tcpscope::socket::Cause::of_edge(from, to),
            };
            let (old, new) = (self.cycles, self.cycles + 1);
            use TcpState::{Closed, Established, SynSent};
            batch.push(change(Established, Closed, 1 << 40 | old));
            batch.push(change(Closed, SynSent, 1 << 40 | new));
            batch.push(change(SynSent, Established, 1 << 40 | new));
            self.cycles += 1;
        }
        batch
    }

    /// What the runner and the view do with one batch of changes.
    fn apply_and_draw(&mut self, batch: &[Change]) {
        self.apply(batch);
        self.draw();
    }

    /// The batch through the pipeline and into the view, without a frame:
    /// what every update costs now that frames are paced.
    fn apply(&mut self, batch: &[Change]) {
        let mut events = Vec::new();
        self.pipeline.changes(batch, &mut events);
        let now = Instant::now();
        self.pipeline.purge(now + Duration::from_secs(3600));
        let update = Update::from_pipeline(&mut self.pipeline, events, now);
        self.app.apply_feed(Feed::Update(Box::new(update)));
    }

    fn draw(&mut self) {
        let app = &mut self.app;
        let area = self.terminal.get_frame().area();
        app.set_page(widgets::table_page(area, app));
        self.terminal.draw(|f| widgets::draw(f, app)).expect("draw");
    }
}

/// Per transition: a batch applied and the frame drawn. Throughput is in
/// transitions, so the per-event cost reads off directly; the one-
/// connection batch is the latency of a frame for one change.
fn transitions(c: &mut Criterion) {
    let mut group = c.benchmark_group("live view, 26k sockets: transitions applied and drawn");
    for n in [1u32, 100, 1000] {
        group.throughput(Throughput::Elements(u64::from(n) * 3));
        group.bench_with_input(BenchmarkId::from_parameter(n * 3), &n, |b, &n| {
            let mut live = Live::new(45);
            // Building the batch is a few hundred bytes per change: noise.
            b.iter(|| {
                let batch = live.reopen(n);
                live.apply_and_draw(&batch);
            });
        });
    }
    group.finish();
}

/// Per event: a batch applied to the pipeline and the view, no frame (a
/// busy port's updates between two paced frames).
fn update_batches(c: &mut Criterion) {
    let mut group = c.benchmark_group("live view, 26k sockets: an update of N events, not drawn");
    for n in [1u32, 100, 1000, 10_000] {
        group.throughput(Throughput::Elements(u64::from(n) * 3));
        group.bench_with_input(BenchmarkId::from_parameter(n * 3), &n, |b, &n| {
            let mut live = Live::new(45);
            b.iter(|| {
                let batch = live.reopen(n);
                live.apply(&batch);
            });
        });
    }
    group.finish();
}

/// One paced frame after N connections changed since the last one: only
/// the frame is timed.
fn frame_after_changes(c: &mut Criterion) {
    let mut group = c.benchmark_group("live view, 26k sockets: a frame after N rows changed");
    for n in [1u32, 100, 1000] {
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let mut live = Live::new(45);
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let batch = live.reopen(n);
                    live.apply(&batch);
                    let started = Instant::now();
                    live.draw();
                    spent += started.elapsed();
                }
                spent
            });
        });
    }
    group.finish();
}

/// Per visible row: one frame of the same table at several heights.
fn visible_rows(c: &mut Criterion) {
    let mut group = c.benchmark_group("live view, 26k sockets: one frame");
    for height in [25u16, 50, 100] {
        let mut live = Live::new(height);
        live.draw();
        let area = live.terminal.get_frame().area();
        let rows = widgets::table_page(area, &live.app);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(BenchmarkId::new("rows on screen", rows), |b| {
            b.iter(|| live.draw());
        });
    }
    group.finish();
}

/// The segments pane's work per frame: a full ladder (512 segments, the
/// most a connection keeps) laid out against both ends' timelines.
fn ladder(c: &mut Criterion) {
    use tcpscope::socket::crossings::SegmentLog;
    use tcpscope::socket::ladder::{self, End};
    use tcpscope::socket::segment::{Flags, Header};
    use tcpscope::socket::{Entry, Phase, TcpState};
    let (client, server) = (addr(1, 40000), addr(2, 8080));
    let t0 = std::time::Instant::now();
    let wall = std::time::SystemTime::now();
    let mut log = SegmentLog::default();
    for i in 0..512u32 {
        let (from, to) = if i % 2 == 0 {
            (client, server)
        } else {
            (server, client)
        };
        let h = Header {
            from,
            to,
            flags: Flags(Flags::ACK | Flags::PSH),
            seq: i * 100,
            ack: i * 100,
            len: 100,
            win: 512,
        };
        log.seen(
            h,
            t0 + std::time::Duration::from_micros(u64::from(i) * 50),
            wall,
        );
    }
    let key = tcpscope::socket::SocketKey::new(tcpscope::socket::Family::Inet, client, server);
    let crossings: Vec<_> = log
        .between(&key)
        .map(|l| l.iter().cloned().collect())
        .unwrap_or_default();
    let phases = |states: &[TcpState]| -> Vec<Phase> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| Phase {
                state: *s,
                entered: t0 + std::time::Duration::from_millis(i as u64 * 5),
                entered_wall: wall,
                entry: Entry::Exact,
                cause: tcpscope::socket::Cause::Unknown,
            })
            .collect()
    };
    use TcpState::*;
    let a = End {
        addr: client,
        phases: phases(&[SynSent, Established, FinWait1, FinWait2, TimeWait]),
    };
    let b = End {
        addr: server,
        phases: phases(&[SynRecv, Established, CloseWait, LastAck, Closed]),
    };
    c.bench_function("ladder of 512 segments", |bench| {
        bench.iter(|| ladder::build(&crossings, a.clone(), b.clone()))
    });
}

criterion_group!(
    benches,
    transitions,
    update_batches,
    frame_after_changes,
    visible_rows,
    ladder,
    once::bench
);
criterion_main!(benches);

/// `--once` on a recorded dump: the kernel's reply is replayed from
/// memory, so what is timed is the program's own share of the work.
#[cfg(target_os = "linux")]
mod once {
    use super::*;
    use std::io;
    use std::sync::Arc;
    use tcpscope::source::sockdiag::{NetlinkIo, SockDiagSource};
    use tcpscope::source::{Cadence, Scope, SocketSource};

    const NLMSG_DONE: u16 = 3;
    const NLM_F_MULTI: u16 = 2;
    /// The kernel's datagrams for a dump are at most this big.
    const DATAGRAM: usize = 32 * 1024;

    fn message(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
        out.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&NLM_F_MULTI.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes()); // sequence: set on replay
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(body);
    }

    /// An `inet_diag_msg` plus the attributes a kernel adds to every full
    /// socket (shutdown, sockopt, cgroup id), as a TCPDIAG_GETSOCK reply.
    fn socket(row: &SocketRow, state: u8, n: u32) -> Vec<u8> {
        let mut b = vec![2, state, 0, 0];
        b.extend_from_slice(&row.key.local.port().to_be_bytes());
        b.extend_from_slice(&row.key.remote.port().to_be_bytes());
        for a in [row.key.local, row.key.remote] {
            let mut raw = [0u8; 16];
            if let IpAddr::V4(v4) = a.ip() {
                raw[..4].copy_from_slice(&v4.octets());
            }
            b.extend_from_slice(&raw);
        }
        b.extend_from_slice(&0u32.to_ne_bytes()); // interface
        b.extend_from_slice(&u64::from(n).to_ne_bytes()); // cookie
        let timewait = state == 6;
        let (timer, expires) = if timewait { (3u32, 59_000u32) } else { (0, 0) };
        b[2] = timer as u8;
        for word in [
            expires,
            0,
            0,
            if timewait { 0 } else { 1000 },
            row.inode.unwrap_or(0) as u32,
        ] {
            b.extend_from_slice(&word.to_ne_bytes());
        }
        if !timewait {
            b.extend_from_slice(&[5, 0, 8, 0, 0, 0, 0, 0]); // shutdown
            b.extend_from_slice(&[6, 0, 15, 0, 0, 0, 0, 0]); // sockopt
            b.extend_from_slice(&[12, 0, 21, 0]); // cgroup id
            b.extend_from_slice(&1u64.to_ne_bytes());
        }
        b
    }

    /// The whole table as the kernel would send it, datagram by datagram.
    fn recorded() -> Vec<Vec<u8>> {
        let mut datagrams = vec![Vec::with_capacity(DATAGRAM)];
        for (n, row) in table().iter().enumerate() {
            let state = if row.state == TcpState::TimeWait {
                6
            } else {
                1
            };
            let mut one = Vec::new();
            message(&mut one, 18, &socket(row, state, n as u32));
            if datagrams
                .last()
                .is_some_and(|d| d.len() + one.len() > DATAGRAM)
            {
                datagrams.push(Vec::with_capacity(DATAGRAM));
            }
            if let Some(d) = datagrams.last_mut() {
                d.extend_from_slice(&one);
            }
        }
        let mut done = Vec::new();
        message(&mut done, NLMSG_DONE, &0i32.to_ne_bytes());
        datagrams.push(done);
        datagrams
    }

    /// Answers every dump request with the recording, under its sequence.
    struct Replay {
        datagrams: Arc<Vec<Vec<u8>>>,
        next: usize,
        seq: [u8; 4],
    }

    impl NetlinkIo for Replay {
        fn send(&mut self, request: &[u8]) -> io::Result<()> {
            self.seq.copy_from_slice(&request[8..12]);
            self.next = 0;
            Ok(())
        }

        fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let d = self
                .datagrams
                .get(self.next)
                .ok_or(io::ErrorKind::WouldBlock)?;
            self.next += 1;
            buf[..d.len()].copy_from_slice(d);
            let mut at = 0;
            while at < d.len() {
                buf[at + 8..at + 12].copy_from_slice(&self.seq);
                let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
                at += (len as usize + 3) & !3;
            }
            Ok(d.len())
        }
    }

    pub fn bench(c: &mut Criterion) {
        let datagrams = Arc::new(recorded());
        let opener = Box::new(move || -> io::Result<Box<dyn NetlinkIo>> {
            Ok(Box::new(Replay {
                datagrams: datagrams.clone(),
                next: 0,
                seq: [0; 4],
            }))
        });
        let Ok(mut source) = SockDiagSource::with_io(opener, Cadence::Once) else {
            return;
        };
        let all = Scope::default();
        let rows = source.dump(&all).map(|d| d.rows.len()).unwrap_or(0);
        let mut group = c.benchmark_group(format!("--once, recorded dump of {rows} sockets"));
        for (name, json) in [("json", true), ("text", false)] {
            group.bench_function(name, |b| {
                b.iter(|| {
                    let dump = source.dump(&all).expect("the recording reads");
                    let mut out = io::BufWriter::with_capacity(64 * 1024, io::sink());
                    tcpscope::output::table(&dump.rows, &Filter::default(), json, &mut out)
                        .expect("written");
                    black_box(out);
                });
            });
        }
        group.finish();
    }
}

#[cfg(not(target_os = "linux"))]
mod once {
    pub fn bench(_c: &mut criterion::Criterion) {}
}
