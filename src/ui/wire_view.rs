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
    Failed(String),
}

#[derive(Debug, Default)]
pub struct WireView {
    pub log: SegmentLog,
    pub capturing: Capturing,
    /// Rungs scrolled back from the newest.
    pub scroll: usize,
}

impl WireView {
    pub fn scroll_by(&mut self, delta: i64) {
        // Up (negative) goes back in time: further from the newest.
        let next = (self.scroll as i64).saturating_sub(delta).max(0);
        self.scroll = next as usize;
    }
}
