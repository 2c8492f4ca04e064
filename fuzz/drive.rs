//! What each fuzz target does with one input: the parsers of outside data
//! called as the program calls them, and what they return taken as far as
//! the program takes it. Shared, one copy: the cargo-fuzz targets
//! (fuzz/fuzz_targets) and the stable replay of the corpora
//! (tests/fuzz_corpus.rs) include this file. A panic is a finding; so is a
//! failed assertion of what the parsers promise.

use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tcpscope::socket::crossings::SegmentLog;
use tcpscope::socket::filter::{Filter, parse_port};
use tcpscope::socket::{Family, Owner, Process, SocketKey, SocketRow, TcpState};
use tcpscope::source::playback::Playback;
use tcpscope::source::sockdiag::{self, netlink, tcp_info};
use tcpscope::source::trace::ring::{self, EventFormat, PageLayout};
use tcpscope::source::{Scope, capture};
use tcpscope::stream;

/// What a target does with one input.
pub type Drive = fn(&[u8]);

/// Every target by name (its corpus is `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Drive)] = &[
    ("sockdiag_reply", sockdiag_reply),
    ("trace_page", trace_page),
    ("packet", packet),
    ("stream", stream),
    ("demo_file", demo_file),
    ("filter", filter),
    ("http_request", http_request),
];

/// A buffer read from the sock_diag socket: as dump replies (to the
/// sequence number of its first message, so they are not skipped as
/// left-overs) and as answers to exact requests; every socket made a row,
/// its tcp_info and congestion read as the details pane reads them. The
/// whole input is also taken as a tcp_info attribute.
pub fn sockdiag_reply(data: &[u8]) {
    let taken_at = Instant::now();
    let each = |m: &netlink::DiagMsg<'_>| {
        let cong = m.attr(netlink::INET_DIAG_CONG).map(|c| {
            String::from_utf8_lossy(c)
                .trim_end_matches('\0')
                .to_string()
        });
        let _ = m
            .attr(netlink::INET_DIAG_INFO)
            .map(|i| tcp_info::parse(i, cong));
        if let Some(row) = sockdiag::to_row(m, taken_at) {
            assert_eq!(
                (row.key.local.port(), row.key.remote.port()),
                (m.sport, m.dport)
            );
        }
    };
    let seq = data
        .get(8..12)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_ne_bytes);
    if let Err(e) = netlink::parse(data, seq, |m| each(&m)) {
        let _ = e.to_string();
    }
    let answers = netlink::parse_answers(data, |_, answer| match answer {
        Ok(m) => each(&m),
        Err(errno) => {
            let _ = netlink::NetlinkError::Kernel(errno).to_string();
        }
    });
    if let Err(e) = answers {
        let _ = e.to_string();
    }
    let _ = tcp_info::parse(data, None);
}

/// The recorded `header_page` and `format` of the trace fixtures.
const HEADER_PAGE: &str = include_str!("../src/source/trace/fixtures/header_page.txt");
const FORMAT: &str = include_str!("../src/source/trace/fixtures/format.txt");

/// One byte picks what the rest is. Even: a page of the ring buffer, read
/// with the layouts of the recorded fixtures (what a real kernel has).
/// Odd: a `header_page` text, NUL, a `format` text, NUL, a page: the
/// layouts are tracefs's files, outside data too.
pub fn trace_page(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (layout, format, page) = if mode % 2 == 0 {
        let layout = PageLayout::parse(HEADER_PAGE).expect("the fixture header_page");
        let format = EventFormat::parse(FORMAT).expect("the fixture format");
        (layout, format, rest)
    } else {
        let mut parts = rest.splitn(3, |&b| b == 0);
        let header = String::from_utf8_lossy(parts.next().unwrap_or_default());
        let format = String::from_utf8_lossy(parts.next().unwrap_or_default());
        let page = parts.next().unwrap_or_default();
        let layout = PageLayout::parse(&header).map_err(|e| e.to_string());
        let format = EventFormat::parse(&format).map_err(|e| e.to_string());
        let (Ok(layout), Ok(format)) = (layout, format) else {
            return;
        };
        (layout, format, page)
    };
    let _ = format.record_len();
    let mut out = Vec::new();
    match ring::parse_page(page, &layout, &format, &mut out) {
        Ok(note) => {
            let _ = note.lost;
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    for c in &out {
        let _ = (sockdiag::state(c.old), sockdiag::state(c.new));
    }
}

/// The watched port (two bytes, big-endian), then captured packets, each
/// after its length (two bytes, big-endian): each parsed, and a TCP
/// header of the port numbered into the segments log as the capture's are.
pub fn packet(data: &[u8]) {
    let Some((port, mut rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let port = u16::from_be_bytes(*port);
    let mut log = SegmentLog::default();
    let (at, wall) = (Instant::now(), SystemTime::now());
    while let Some((len, after)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(after.len());
        let (one, next) = after.split_at(len);
        rest = next;
        if let Some(h) = capture::parse(one, port) {
            assert!(h.from.port() == port || h.to.port() == port, "{h:?}");
            log.seen(h, at, wall);
        }
    }
    let _ = log.all().count();
}

/// A recording (or a remote host's stream): read as `replay` reads a file,
/// its header checked as `--remote` checks it, its records written out and
/// read back the same, then played back (to the middle, a step on, and
/// every segment into the segments log) and fed as a live stream.
pub fn stream(data: &[u8]) {
    let read = stream::read_from(data);
    if let Some(first) = data.lines().next().and_then(Result::ok) {
        let _ = stream::check_header(&first);
    }
    if let Some(header) = &read.header {
        let lines: Vec<String> = std::iter::once(stream::line(header))
            .chain(read.records.iter().map(stream::line))
            .collect();
        // A field left out is written as null, so a line can grow past
        // the limit: only lines within it are expected to read back.
        let fits = lines.iter().all(|l| l.len() <= stream::MAX_LINE);
        let again = stream::read(&lines.concat());
        if fits {
            assert_eq!(again.header.as_ref(), Some(header), "the header read back");
            assert_eq!(again.records, read.records, "the records read back");
            assert_eq!(again.damage, None);
        }
    }
    let mut log = SegmentLog::default();
    let playback = Playback::new(&read.records, 1.0);
    play(&playback, &mut log);
    let length = playback.position().length;
    let middle = playback.seek(playback.moment(length.as_secs_f64() / 2.0));
    play(&middle, &mut log);
    middle.step();
    play(&middle, &mut log);
    let _ = middle.previous_event();
    let live = Playback::live();
    for r in &read.records {
        live.push(r);
    }
    play(&live, &mut log);
    let _ = log.all().count();
}

/// What the view asks of a playback between two frames.
fn play(p: &Playback, log: &mut SegmentLog) {
    let sources = p.sources();
    let (mut table, changes) = (sources.table, sources.changes);
    let _ = table.dump(&Scope::default()).map(|d| d.rows.len());
    let _ = table.degradations();
    if let Some(mut changes) = changes {
        let mut out = Vec::new();
        let _ = changes.drain(&mut out);
    }
    for (at, wall, h) in p.take_segments() {
        log.seen(h, at, wall);
    }
    let _ = p.position();
}

/// A demo file: parsed, and each step's call made lab commands (on a lab
/// with no sockets yet).
pub fn demo_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match tcpscope::demo::script::parse("fuzz", &text) {
        Ok(scenario) => {
            let bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
            for step in &scenario.steps {
                let _ = tcpscope::demo::commands(&step.call, &[], 8080, bind);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Sockets to match a filter against: IPv4 and IPv6, with an owner.
fn rows() -> [SocketRow; 2] {
    let v4 = |a, p| SocketAddr::new(IpAddr::V4(a), p);
    let v6 = |a, p| SocketAddr::new(IpAddr::V6(a), p);
    let owner = Arc::new(Owner {
        procs: vec![Process {
            pid: 42,
            name: Some(Arc::from("Nginx")),
        }],
    });
    let mut a = SocketRow::new(
        SocketKey::new(
            Family::Inet,
            v4(Ipv4Addr::new(10, 0, 0, 7), 8080),
            v4(Ipv4Addr::new(192, 168, 1, 2), 40000),
        ),
        TcpState::Established,
    );
    a.owner = Some(owner);
    let b = SocketRow::new(
        SocketKey::new(
            Family::Inet6,
            v6(Ipv6Addr::LOCALHOST, 443),
            v6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 5000),
        ),
        TcpState::TimeWait,
    );
    [a, b]
}

/// A filter expression as typed at `/` or after `-f`: parsed, its text
/// parsing to the same filter, matched against sockets; and as a port.
pub fn filter(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Filter::parse(&text) {
        Ok(f) => {
            assert_eq!(Filter::parse(f.text()).as_ref(), Ok(&f), "its own text");
            let _ = (f.states(), f.needs_owners(), f.is_empty());
            for row in rows() {
                let _ = f.matches(&row);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match parse_port(&text) {
        Ok(p) => assert!(p != 0 && parse_port(&p.to_string()) == Ok(p)),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A request head sent to the metrics endpoint.
pub fn http_request(data: &[u8]) {
    use tcpscope::output::serve::{Request, request};
    if let Request::Metrics { .. } = request(data) {
        // Only a GET of /metrics is answered with the metrics.
        let text = String::from_utf8_lossy(data);
        assert!(text.split_whitespace().next() == Some("GET"));
    }
}
