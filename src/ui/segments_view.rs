//! What the segments pane knows: the segments seen so far, whether they
//! can be captured (and for which port), and how far the ladder is
//! scrolled back.

use crate::socket::crossings::SegmentLog;

/// Whether segments are being captured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Capturing {
    /// Nothing asked for segments yet.
    #[default]
    Off,
    /// Capture follows one port; the live view has none.
    NoPort,
    On(u16),
    /// It could not start, and why (no root, no AF_PACKET).
    Failed(crate::source::capture::CaptureError),
    /// The lab's own link: every segment crosses it.
    Link,
    /// A recording's segments (`replay`).
    Recording,
}

#[derive(Debug, Default)]
pub struct SegmentsView {
    pub log: SegmentLog,
    pub capturing: Capturing,
    /// Rungs scrolled back from the newest.
    pub scroll: usize,
    /// The server namespace's kernel counters a class watches (SYN
    /// cookies, listen queue overflows), read once a second.
    pub counters: Vec<(String, u64)>,
}

/// The `/proc/net/netstat` counters worth showing on the link, and their
/// names for people.
pub const COUNTERS: [(&str, &str); 4] = [
    ("SyncookiesSent", "SYN cookies sent"),
    ("ListenOverflows", "accept queue overflows"),
    ("ListenDrops", "SYNs dropped by listeners"),
    ("TCPSynRetrans", "SYNs retransmitted"),
];

impl SegmentsView {
    /// Keeps the counters in [`COUNTERS`] from a whole reading.
    pub fn set_counters(&mut self, all: Vec<(String, u64)>) {
        self.counters = all
            .into_iter()
            .filter(|(name, _)| COUNTERS.iter().any(|(n, _)| n == name))
            .collect();
    }

    /// `SYN cookies sent 60 · accept queue overflows 0 · …`.
    pub fn counters_line(&self) -> Option<String> {
        if self.counters.is_empty() {
            return None;
        }
        let parts: Vec<String> = COUNTERS
            .iter()
            .filter_map(|(name, label)| {
                let (_, v) = self.counters.iter().find(|(n, _)| n == name)?;
                Some(format!("{label} {v}"))
            })
            .collect();
        Some(format!("server kernel: {}", parts.join(" · ")))
    }
}

impl SegmentsView {
    pub fn scroll_by(&mut self, delta: i64) {
        // Up (negative) goes back in time: further from the newest.
        let next = (self.scroll as i64).saturating_sub(delta).max(0);
        self.scroll = next as usize;
    }
}
