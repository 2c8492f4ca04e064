//! `struct tcp_info` (linux/tcp.h) from an INET_DIAG_INFO attribute. The
//! struct has grown over kernel versions; fields past the end of what this
//! kernel sent are `None`.

use crate::socket::{TcpDetails, TcpState, Totals};

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_ne_bytes(a))
}

/// The counters a summary keeps, in data bytes; `None` from kernels
/// older than 4.1. Sent is `tcpi_bytes_sent` less `tcpi_bytes_retrans`
/// (4.19+): each data byte once. The kernel's other counts are sequence
/// space: received takes in the peer's FIN, and (before 4.19) the acked
/// count stands in for sent, less our SYN (counted only by the end that
/// connected, so guessed from it being there at all) and our acked FIN.
pub fn parse_totals(b: &[u8], state: TcpState) -> Option<Totals> {
    use TcpState::*;
    let acked = u64_at(b, 120)?;
    let their_fin = matches!(state, CloseWait | LastAck | Closing | TimeWait);
    let sent = match (u64_at(b, 200), u64_at(b, 208)) {
        (Some(sent), Some(resent)) => sent.saturating_sub(resent),
        _ => {
            let our_fin_acked = matches!(state, FinWait2 | TimeWait);
            acked.saturating_sub(u64::from(acked > 0) + u64::from(our_fin_acked))
        }
    };
    Some(Totals {
        bytes_sent: sent,
        bytes_received: u64_at(b, 128)?.saturating_sub(u64::from(their_fin)),
        total_retrans: u32_at(b, 100)?,
    })
}

/// Offsets are those of the kernel's struct, which only ever grows at the end.
pub fn parse(b: &[u8], congestion: Option<String>) -> Option<TcpDetails> {
    Some(TcpDetails {
        retransmits: *b.get(2)?,
        rto_us: u32_at(b, 8)?,
        snd_mss: u32_at(b, 16)?,
        unacked: u32_at(b, 24)?,
        lost: u32_at(b, 32)?,
        pmtu: u32_at(b, 60),
        rtt_us: u32_at(b, 68)?,
        rttvar_us: u32_at(b, 72)?,
        snd_ssthresh: u32_at(b, 76)?,
        snd_cwnd: u32_at(b, 80)?,
        total_retrans: u32_at(b, 100),
        bytes_acked: u64_at(b, 120),
        bytes_received: u64_at(b, 128),
        min_rtt_us: u32_at(b, 148),
        delivery_rate: u64_at(b, 160),
        congestion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_at_kernel_offsets_and_tolerates_old_kernels() {
        let mut b = vec![0u8; 168];
        b[2] = 3;
        b[68..72].copy_from_slice(&1500u32.to_ne_bytes());
        b[80..84].copy_from_slice(&10u32.to_ne_bytes());
        b[120..128].copy_from_slice(&4096u64.to_ne_bytes());
        b[160..168].copy_from_slice(&125_000u64.to_ne_bytes());
        let d = parse(&b, Some("cubic".into())).expect("parsed");
        assert_eq!((d.retransmits, d.rtt_us, d.snd_cwnd), (3, 1500, 10));
        assert_eq!(
            (d.bytes_acked, d.delivery_rate),
            (Some(4096), Some(125_000))
        );
        assert_eq!(d.congestion.as_deref(), Some("cubic"));
        // A 104-byte struct from an old kernel: newer fields are unknown.
        let old = parse(&b[..104], None).expect("parsed");
        assert_eq!((old.bytes_acked, old.delivery_rate), (None, None));
        assert!(parse(&b[..50], None).is_none(), "too short to be tcp_info");
    }

    #[test]
    fn totals_count_data_not_the_syn_and_fins() {
        let mut b = vec![0u8; 216];
        b[120..128].copy_from_slice(&301u64.to_ne_bytes());
        b[128..136].copy_from_slice(&1001u64.to_ne_bytes());
        b[200..208].copy_from_slice(&340u64.to_ne_bytes());
        b[208..216].copy_from_slice(&40u64.to_ne_bytes());
        // The accepting end after both FINs: 300 sent (40 of them twice),
        // 1000 received and the client's FIN.
        let t = parse_totals(&b, TcpState::LastAck).expect("parsed");
        assert_eq!((t.bytes_sent, t.bytes_received), (300, 1000));
        // Before 4.19: the connecting end's acked count, SYN and FIN in it.
        let mut old = vec![0u8; 168];
        old[120..128].copy_from_slice(&1002u64.to_ne_bytes());
        old[128..136].copy_from_slice(&301u64.to_ne_bytes());
        let t = parse_totals(&old, TcpState::TimeWait).expect("parsed");
        assert_eq!((t.bytes_sent, t.bytes_received), (1000, 300));
        assert!(parse_totals(&b[..130], TcpState::Established).is_none());
    }
}
