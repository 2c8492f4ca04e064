//! TCP segments as a teacher draws them: who sent it, its flags, sequence
//! and acknowledgement numbers relative to each side's first sequence
//! number (the ISN, from the SYN), length and window, and whether it
//! repeats data already sent (a retransmission).

use super::row::{Family, SocketKey};
use rustc_hash::FxHashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

/// TCP header flags, in the header's bit order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    const ALL: [(u8, &'static str); 5] = [
        (Self::SYN, "SYN"),
        (Self::FIN, "FIN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
    ];

    /// `["SYN", "ACK"]`: the order people say them in.
    pub fn names(self) -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, name)| *name)
            .collect()
    }

    /// The flags of these names (as [`Self::names`] writes them); the
    /// first name that is not a flag, if any.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Flags, &'a str> {
        let mut bits = 0;
        for name in names {
            let (bit, _) = Self::ALL.iter().find(|(_, n)| *n == name).ok_or(name)?;
            bits |= bit;
        }
        Ok(Flags(bits))
    }
}

/// One segment on the wire, as captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// When it was captured.
    pub at: Instant,
    pub wall: SystemTime,
    /// Oriented from the sender: `local` sent it to `remote`.
    pub key: SocketKey,
    pub flags: Flags,
    /// Relative to the sender's ISN (the SYN is 0).
    pub seq: u32,
    /// Relative to the receiver's ISN; 0 without ACK.
    pub ack: u32,
    /// Payload bytes.
    pub len: u32,
    /// The advertised window, as in the header (unscaled).
    pub win: u16,
    /// It carries sequence space the sender already sent.
    pub retransmission: bool,
}

/// A segment's numbers as read from the header, before numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub flags: Flags,
    pub seq: u32,
    pub ack: u32,
    pub len: u32,
    pub win: u16,
}

/// What is known of one direction of a connection.
#[derive(Clone, Copy, Debug)]
struct Direction {
    /// The first sequence number: the SYN's, or the first seen.
    isn: u32,
    /// The end of the sequence space sent so far (relative).
    sent: u32,
}

/// Numbers segments relative to each side's ISN and marks
/// retransmissions. Keyed by direction (sender, receiver); a new SYN on
/// the same ends starts a new connection.
#[derive(Debug, Default)]
pub struct Numbering {
    directions: FxHashMap<(SocketAddr, SocketAddr), Direction>,
}

impl Numbering {
    pub fn segment(&mut self, h: Header, at: Instant, wall: SystemTime) -> Segment {
        let syn = h.flags.has(Flags::SYN);
        let fresh_syn = syn && !h.flags.has(Flags::ACK);
        let known = self.directions.get(&(h.from, h.to)).copied();
        let dir = match known {
            // A SYN that is not a repeat of the one seen: a new connection.
            Some(d) if !(fresh_syn && h.seq != d.isn) => d,
            _ => {
                if fresh_syn {
                    // The other direction belongs to the old connection.
                    self.directions.remove(&(h.to, h.from));
                }
                Direction {
                    isn: h.seq,
                    sent: 0,
                }
            }
        };
        let seq = h.seq.wrapping_sub(dir.isn);
        // SYN and FIN each take one sequence number.
        let space = h.len + u32::from(syn) + u32::from(h.flags.has(Flags::FIN));
        let end = seq.wrapping_add(space);
        let retransmission = known.is_some() && space > 0 && seq_lt(seq, dir.sent);
        let sent = if seq_lt(dir.sent, end) { end } else { dir.sent };
        self.directions
            .insert((h.from, h.to), Direction { isn: dir.isn, sent });
        let ack = match self.directions.get(&(h.to, h.from)) {
            Some(other) if h.flags.has(Flags::ACK) => h.ack.wrapping_sub(other.isn),
            _ if h.flags.has(Flags::ACK) => h.ack,
            _ => 0,
        };
        Segment {
            at,
            wall,
            key: SocketKey::new(Family::of(&h.from), h.from, h.to),
            flags: h.flags,
            seq,
            ack,
            len: h.len,
            win: h.win,
            retransmission,
        }
    }
}

/// `a < b` in sequence space (RFC 1982 arithmetic).
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(from: &str, to: &str, flags: u8, seq: u32, ack: u32, len: u32) -> Header {
        Header {
            from: from.parse().expect("addr"),
            to: to.parse().expect("addr"),
            flags: Flags(flags),
            seq,
            ack,
            len,
            win: 65535,
        }
    }

    #[test]
    fn a_handshake_data_and_close_numbered_from_each_isn() {
        const C: &str = "127.0.0.1:40000";
        const S: &str = "127.0.0.1:80";
        let (syn, ack, fin, psh) = (Flags::SYN, Flags::ACK, Flags::FIN, Flags::PSH);
        let mut n = Numbering::default();
        let (t, w) = (Instant::now(), SystemTime::now());
        let script = [
            header(C, S, syn, 1000, 0, 0),
            header(S, C, syn | ack, 9000, 1001, 0),
            header(C, S, ack, 1001, 9001, 0),
            header(C, S, psh | ack, 1001, 9001, 5),
            header(C, S, psh | ack, 1001, 9001, 5),
            header(S, C, fin | ack, 9001, 1006, 0),
            header(C, S, fin | ack, 1006, 9002, 0),
            header(S, C, ack, 9002, 1007, 0),
        ];
        let got: Vec<(u32, u32, bool, Vec<&str>)> = script
            .into_iter()
            .map(|h| {
                let s = n.segment(h, t, w);
                (s.seq, s.ack, s.retransmission, s.flags.names())
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, 0, false, vec!["SYN"]),
                (0, 1, false, vec!["SYN", "ACK"]),
                (1, 1, false, vec!["ACK"]),
                (1, 1, false, vec!["PSH", "ACK"]),
                (1, 1, true, vec!["PSH", "ACK"]),
                (1, 6, false, vec!["FIN", "ACK"]),
                (6, 2, false, vec!["FIN", "ACK"]),
                (2, 7, false, vec!["ACK"]),
            ]
        );
    }

    #[test]
    fn a_repeated_syn_is_a_retransmission_and_a_new_one_a_new_connection() {
        let mut n = Numbering::default();
        let (t, w) = (Instant::now(), SystemTime::now());
        let syn = |seq| header("127.0.0.1:40000", "127.0.0.1:80", Flags::SYN, seq, 0, 0);
        assert!(!n.segment(syn(5), t, w).retransmission);
        assert!(
            n.segment(syn(5), t, w).retransmission,
            "the kernel tried again"
        );
        let other = n.segment(syn(77), t, w);
        assert_eq!((other.seq, other.retransmission), (0, false), "a new ISN");
    }
}
