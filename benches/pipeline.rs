//! Pipeline cost per reading at 25k sockets, and the cost of one reading
//! of this machine's real table through the sources.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tcpscope::pipeline::Pipeline;
use tcpscope::socket::{Family, SocketKey, SocketRow, TcpState};
use tcpscope::source::{Dump, Netstat2Source, Scope, SocketSource};

fn table(n: u32, churn: u32) -> Vec<SocketRow> {
    (0..n)
        .map(|i| {
            let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
            let port = 10_000 + ((i + churn) % 50_000) as u16;
            let remote = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, (i >> 8) as u8, i as u8)),
                port,
            );
            let state = if i % 5 == 0 {
                TcpState::TimeWait
            } else {
                TcpState::Established
            };
            SocketRow::new(SocketKey::new(Family::Inet, local, remote), state)
        })
        .collect()
}

fn apply(p: &mut Pipeline, dump: Dump) -> Vec<tcpscope::socket::Event> {
    let mut events = Vec::new();
    p.dump(dump, &mut events);
    events
}

fn pipeline(c: &mut Criterion) {
    let steady = table(25_000, 0);
    c.bench_function("pipeline 25k sockets, steady", |b| {
        let mut p = Pipeline::new();
        apply(&mut p, Dump::new(steady.clone()));
        // The input is built outside the timing: only the pipeline is measured.
        b.iter_batched(
            || Dump::new(steady.clone()),
            |dump| black_box(apply(&mut p, dump)),
            BatchSize::LargeInput,
        );
    });
    c.bench_function("pipeline 25k sockets, 1% churn + view", |b| {
        let mut p = Pipeline::new();
        let mut round = 0;
        b.iter(|| {
            round += 1;
            let events = apply(&mut p, Dump::new(table(25_000, round * 250)));
            black_box((events, p.view()));
        });
    });
}

/// The live path on Linux: one sock_diag reading of the whole table, fed to
/// the tracker (run with scripts/bench-table.sh holding ~25k sockets).
#[cfg(target_os = "linux")]
fn sockdiag_reading(c: &mut Criterion) {
    use tcpscope::source::{Cadence, sockdiag::SockDiagSource};
    let Ok(mut source) = SockDiagSource::new(Cadence::Once) else {
        return;
    };
    let all = Scope::default();
    let rows = source.dump(&all).map(|s| s.rows.len()).unwrap_or(0);
    c.bench_function(
        &format!("sockdiag reading + pipeline, whole table ({rows} sockets)"),
        |b| {
            let mut p = Pipeline::new();
            b.iter(|| {
                if let Ok(dump) = source.dump(&all) {
                    black_box(apply(&mut p, dump));
                }
            });
        },
    );
    // One port among them: the kernel filters, so only its sockets are copied.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").ok();
    let port = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map_or(1, |a| a.port());
    let one = Scope::on_port(Some(port));
    c.bench_function(
        &format!("sockdiag reading, one port among {rows} sockets"),
        |b| {
            b.iter(|| black_box(source.dump(&one).map(|s| s.rows.len()).unwrap_or(0)));
        },
    );
}

#[cfg(not(target_os = "linux"))]
fn sockdiag_reading(_c: &mut Criterion) {}

fn netstat2_reading(c: &mut Criterion) {
    let mut source = Netstat2Source::new();
    let scope = Scope::default();
    c.bench_function("netstat2 reading of this machine's table", |b| {
        b.iter(|| black_box(source.dump(&scope).map(|s| s.rows.len()).unwrap_or(0)));
    });
}

/// The /proc walk that names processes: what the live view keeps off its
/// polling path, and what netstat2's own `get_sockets_info` does every call.
fn process_lookup(c: &mut Criterion) {
    c.bench_function("/proc walk for socket owners", |b| {
        b.iter(|| black_box(tcpscope::source::scan_proc().len()));
    });
    let af = netstat2::AddressFamilyFlags::IPV4 | netstat2::AddressFamilyFlags::IPV6;
    c.bench_function("netstat2 get_sockets_info (with its PID scan)", |b| {
        b.iter(|| {
            black_box(
                netstat2::get_sockets_info(af, netstat2::ProtocolFlags::TCP)
                    .map(|v| v.len())
                    .unwrap_or(0),
            )
        });
    });
}

criterion_group!(
    benches,
    pipeline,
    sockdiag_reading,
    netstat2_reading,
    process_lookup
);
criterion_main!(benches);
