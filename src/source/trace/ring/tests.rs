//! The parser on real pages recorded from this kernel by
//! scripts/capture-trace.py (one IPv4 and one IPv6 connection opened and
//! closed), and on made-up pages for the rarer record types.

use super::*;

const PAGES: &[u8] = include_bytes!("../fixtures/pages.bin");
const FORMAT: &str = include_str!("../fixtures/format.txt");
const HEADER: &str = include_str!("../fixtures/header_page.txt");

fn recorded() -> Vec<RawChange> {
    let layout = PageLayout::parse(HEADER).expect("header_page");
    let format = EventFormat::parse(FORMAT).expect("format");
    let mut out = Vec::new();
    for page in PAGES.chunks(4096) {
        let note = parse_page(page, &layout, &format, &mut out).expect("a valid page");
        assert_eq!(note.lost, 0);
    }
    out
}

#[test]
fn formats_are_read_from_tracefs_files() {
    let format = EventFormat::parse(FORMAT).expect("format");
    assert_eq!(format.skaddr, Field { offset: 8, size: 8 });
    assert_eq!(
        format.daddr_v6,
        Field {
            offset: 56,
            size: 16
        }
    );
    assert_eq!(format.record_len(), 72);
    assert_eq!(PageLayout::parse(HEADER), Ok(PageLayout::default()));
    assert!(EventFormat::parse("ID: 5\n").is_err());
}

#[test]
fn recorded_pages_hold_both_connections_step_by_step() {
    let changes = recorded();
    for family_is_v6 in [false, true] {
        let mine: Vec<&RawChange> = changes
            .iter()
            .filter(|c| c.src.is_ipv6() == family_is_v6 && c.src.is_loopback())
            .collect();
        let steps: Vec<(u8, u8)> = mine.iter().map(|c| (c.old, c.new)).collect();
        // listen, connect (port 0, then the SYN,ACK), the child, four-way close.
        for step in [
            (7, 10),
            (7, 2),
            (2, 1),
            (10, 3),
            (3, 1),
            (1, 4),
            (1, 8),
            (8, 9),
            (4, 5),
            (5, 7),
            (9, 7),
            (10, 7),
        ] {
            assert!(
                steps.contains(&step),
                "v6={family_is_v6}: {step:?} missing from {steps:?}"
            );
        }
        let connect = mine
            .iter()
            .find(|c| (c.old, c.new) == (7, 2))
            .expect("connect");
        assert_eq!(connect.sport, 0, "the port is not chosen yet");
        let established = mine
            .iter()
            .find(|c| (c.old, c.new) == (2, 1))
            .expect("SYN,ACK");
        assert_eq!(connect.sk, established.sk, "one socket, one address");
        assert_ne!(established.sport, 0);
    }
    assert!(
        changes.windows(2).all(|w| w[0].ns <= w[1].ns),
        "time order within a CPU's pages"
    );
}

/// A page with the given records after a 16-byte header.
fn page(ts: u64, records: &[u8], flags: u64) -> Vec<u8> {
    let mut p = ts.to_ne_bytes().to_vec();
    p.extend_from_slice(&((records.len() as u64) | flags).to_ne_bytes());
    p.extend_from_slice(records);
    p.resize(4096, 0);
    p
}

fn header(type_len: u32, delta: u32) -> [u8; 4] {
    (type_len | (delta << 5)).to_ne_bytes()
}

#[test]
fn time_extends_padding_and_lost_events() {
    let format = EventFormat::parse(FORMAT).expect("format");
    let layout = PageLayout::default();
    let mut record = recorded_record(&format);
    let mut records = Vec::new();
    records.extend_from_slice(&header(18, 5)); // +5 ns
    records.append(&mut record.clone());
    records.extend_from_slice(&header(TYPE_TIME_EXTEND, 1)); // + (2 << 27) + 1
    records.extend_from_slice(&2u32.to_ne_bytes());
    records.extend_from_slice(&header(TYPE_PADDING, 3)); // a discarded record: +3
    records.extend_from_slice(&12u32.to_ne_bytes());
    records.extend_from_slice(&[0u8; 8]);
    records.extend_from_slice(&header(18, 0));
    records.append(&mut record);
    let mut out = Vec::new();
    let note = parse_page(&page(1000, &records, 0), &layout, &format, &mut out).expect("page");
    assert_eq!(note.lost, 0);
    assert_eq!(
        out.iter().map(|c| c.ns).collect::<Vec<_>>(),
        [1005, 1005 + (2 << 27) + 1 + 3]
    );
    let mut lost = page(0, &[], MISSED_EVENTS | MISSED_STORED);
    lost[16..24].copy_from_slice(&7u64.to_ne_bytes());
    assert_eq!(
        parse_page(&lost, &layout, &format, &mut out).map(|n| n.lost),
        Ok(7)
    );
    let some = page(0, &[], MISSED_EVENTS);
    assert_eq!(
        parse_page(&some, &layout, &format, &mut out).map(|n| n.lost),
        Ok(1)
    );
    let overlong = page(0, &[], 5000);
    assert!(parse_page(&overlong, &layout, &format, &mut out).is_err());
    assert!(parse_page(&[0u8; 8], &layout, &format, &mut out).is_err());
}

/// The first IPv4 record of the recording, as raw bytes.
fn recorded_record(format: &EventFormat) -> Vec<u8> {
    let data = &PAGES[16..];
    let type_len = (u32::from_ne_bytes(data[0..4].try_into().expect("4 bytes")) & 0x1f) as usize;
    let len = if type_len == 0 {
        format.record_len()
    } else {
        type_len * 4
    };
    let start = if type_len == 0 { 8 } else { 4 };
    let mut r = data[start..start + len].to_vec();
    r.resize(18 * 4, 0);
    r
}

#[test]
fn a_change_names_its_task_only_when_a_system_call_made_it() {
    let changes = recorded();
    let v4: Vec<&RawChange> = changes
        .iter()
        .filter(|c| c.src.is_ipv4() && c.src.is_loopback())
        .collect();
    let task_of = |old, new| {
        v4.iter()
            .find(|c| (c.old, c.new) == (old, new))
            .map(|c| c.task)
            .expect("the step is recorded")
    };
    // listen(), connect(), close() by the client, close() by the server:
    // one process made them all, in its own system calls.
    let callers: Vec<Option<u32>> = [(7, 10), (7, 2), (1, 4), (8, 9)]
        .into_iter()
        .map(|(o, n)| task_of(o, n))
        .collect();
    assert!(callers.iter().all(Option::is_some), "{callers:?}");
    assert!(callers.windows(2).all(|w| w[0] == w[1]), "{callers:?}");
    // The ACK of the client's FIN came in softirq: no task. Segments that
    // waited in a socket's backlog while a call held it are processed in
    // that call, so any task named is the same process.
    assert_eq!(task_of(4, 5), None);
    assert!(
        v4.iter()
            .filter_map(|c| c.task)
            .all(|t| Some(t) == callers[0])
    );
}
