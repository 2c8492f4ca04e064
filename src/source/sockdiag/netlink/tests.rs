//! The parser on a real kernel reply recorded by scripts/capture-sockdiag.py
//! (a listener, one connection's two ends, one TIME_WAIT, INFO + CONG
//! requested), and on broken replies.

use super::*;
use crate::socket::TcpState;
use crate::source::sockdiag::{state, tcp_info};

const DUMP: &[u8] = include_bytes!("../fixtures/inet_port_dump.bin");

/// state, sport, dport, timer, expires, rqueue, wqueue, has tcp_info
type Record = (TcpState, u16, u16, u8, u32, u32, u32, bool);

fn records(buf: &[u8]) -> (Vec<Record>, Progress) {
    let mut out = Vec::new();
    let progress = parse(buf, 1, |m| {
        let st = state(m.state).expect("a known state");
        let has_info = m.attr(INET_DIAG_INFO).is_some();
        out.push((
            st,
            m.sport,
            m.dport,
            m.timer,
            m.expires_ms,
            m.rqueue,
            m.wqueue,
            has_info,
        ));
    })
    .expect("a valid reply");
    (out, progress)
}

#[test]
fn a_recorded_dump_reads_back() {
    let (recs, progress) = records(DUMP);
    assert_eq!(progress, Progress::Done);
    assert_eq!(recs.len(), 4, "{recs:?}");
    let listen = recs
        .iter()
        .find(|r| r.0 == TcpState::Listen)
        .expect("the listener");
    let port = listen.1;
    assert_eq!(
        (listen.5, listen.6),
        (0, 4),
        "LISTEN: Recv-Q = accept queue, Send-Q = backlog"
    );
    assert!(
        recs.iter().all(|r| r.1 == port || r.2 == port),
        "the port filter held"
    );
    let established: Vec<_> = recs
        .iter()
        .filter(|r| r.0 == TcpState::Established)
        .collect();
    assert_eq!(established.len(), 2);
    assert!(established.iter().all(|r| r.7), "tcp_info attached");
    assert!(
        !recs.iter().any(|r| r.0 == TcpState::TimeWait && r.7),
        "no tcp_info on TIME_WAIT"
    );
    let server_end = established
        .iter()
        .find(|r| r.1 == port)
        .expect("server end");
    assert_eq!(server_end.5, 5, "5 unread bytes in Recv-Q");
    let tw = recs
        .iter()
        .find(|r| r.0 == TcpState::TimeWait)
        .expect("the TIME_WAIT");
    assert_eq!(tw.3, 3, "timer 3 = timewait");
    assert!((55_000..=60_000).contains(&tw.4), "remaining {} ms", tw.4);
}

#[test]
fn tcp_info_and_congestion_parse_from_the_recording() {
    let mut seen = 0;
    parse(DUMP, 1, |m| {
        if let Some(info) = m.attr(INET_DIAG_INFO).filter(|_| m.state == 1) {
            let cong = m.attr(INET_DIAG_CONG).map(|c| {
                String::from_utf8_lossy(c)
                    .trim_end_matches('\0')
                    .to_string()
            });
            let d = tcp_info::parse(info, cong).expect("tcp_info");
            assert!(d.snd_cwnd > 0 && d.snd_mss > 0, "{d:?}");
            assert!(d.congestion.as_deref().is_some_and(|c| !c.is_empty()));
            seen += 1;
        }
    })
    .expect("valid");
    assert_eq!(seen, 2);
}

#[test]
fn a_truncated_reply_is_an_error_not_an_empty_table() {
    for cut in [10, 40, 100, DUMP.len() - 30] {
        let err = parse(&DUMP[..cut], 1, |_| {}).expect_err("truncated");
        assert!(matches!(err, NetlinkError::Truncated { .. }), "{err:?}");
        assert!(err.to_string().contains("truncated"));
    }
}

#[test]
fn a_kernel_error_names_the_errno() {
    let mut msg = Vec::new();
    msg.extend_from_slice(&36u32.to_ne_bytes());
    msg.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
    msg.extend_from_slice(&0u16.to_ne_bytes());
    msg.extend_from_slice(&[0u8; 8]);
    msg.extend_from_slice(&(-22i32).to_ne_bytes());
    msg.extend_from_slice(&[0u8; 16]);
    let err = parse(&msg, 0, |_| {}).expect_err("an error");
    assert_eq!(err, NetlinkError::Kernel(22));
    assert!(err.to_string().contains("errno 22"), "{err}");
}

#[test]
fn an_interrupted_dump_is_reported() {
    let mut msg = DUMP[..DUMP.len()].to_vec();
    msg[6] |= 0x10; // NLM_F_DUMP_INTR on the first message
    assert_eq!(parse(&msg, 1, |_| {}), Err(NetlinkError::Interrupted));
}

#[test]
fn requests_are_well_formed() {
    let program = crate::source::sockdiag::bytecode::either_port(80);
    let req = dump_request(AF_INET6, EXT_INFO, ALL_STATES, &program, 7);
    assert_eq!(req.len(), 16 + 56 + 4 + 20);
    assert_eq!(
        u32::from_ne_bytes([req[0], req[1], req[2], req[3]]) as usize,
        req.len()
    );
    assert_eq!(u16::from_ne_bytes([req[4], req[5]]), SOCK_DIAG_BY_FAMILY);
    assert_eq!(u32::from_ne_bytes([req[8], req[9], req[10], req[11]]), 7);
    assert_eq!(&req[16..20], &[AF_INET6, 6, EXT_INFO, 0]);
    assert_eq!(
        u16::from_ne_bytes([req[72], req[73]]),
        24,
        "attribute length"
    );
    assert_eq!(
        u16::from_ne_bytes([req[74], req[75]]),
        1,
        "INET_DIAG_REQ_BYTECODE"
    );
    assert_eq!(dump_request(AF_INET, 0, ALL_STATES, &[], 1).len(), 72);
}

#[test]
fn the_request_for_both_families_is_an_inet_diag_req() {
    let program = crate::source::sockdiag::bytecode::either_port(80);
    let req = both_families_request(0, ALL_STATES, &program, 9);
    assert_eq!(req.len(), 16 + 60 + 4 + 20);
    assert_eq!(u16::from_ne_bytes([req[4], req[5]]), TCPDIAG_GETSOCK);
    assert_eq!(u32::from_ne_bytes([req[8], req[9], req[10], req[11]]), 9);
    assert_eq!(&req[16..20], &[0, 0, 0, 0], "any family, no extensions");
    assert_eq!(
        u32::from_ne_bytes([req[68], req[69], req[70], req[71]]),
        ALL_STATES
    );
    assert_eq!(u16::from_ne_bytes([req[78], req[79]]), 1, "bytecode");
    assert_eq!(both_families_request(0, ALL_STATES, &[], 1).len(), 76);
}

#[test]
fn replies_to_the_one_pass_request_read_like_the_others() {
    let mut msg = DUMP.to_vec();
    msg[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    let mut n = 0;
    parse(&msg, 1, |_| n += 1).expect("valid");
    assert_eq!(n, 4, "every socket, the first one under the older type");
}

#[test]
fn messages_of_an_abandoned_dump_are_skipped_and_cookies_read() {
    // The same reply under another sequence number: left over from a dump
    // that failed half-way; none of it may leak into this one.
    let mut cookies = Vec::new();
    assert_eq!(parse(DUMP, 2, |_| panic!("stale")), Ok(Progress::More));
    parse(DUMP, 1, |m| cookies.push(m.cookie)).expect("valid");
    assert!(cookies.iter().all(|c| c.is_some()), "{cookies:?}");
    let mut unique = cookies.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), cookies.len(), "one cookie per socket");
}

#[test]
fn an_unexpected_message_type_is_an_error() {
    let mut msg = DUMP.to_vec();
    msg[4..6].copy_from_slice(&99u16.to_ne_bytes());
    assert_eq!(
        parse(&msg, 1, |_| {}),
        Err(NetlinkError::UnexpectedType(99))
    );
}
