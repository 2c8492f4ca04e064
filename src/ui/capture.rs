//! Segments for the live view: a capture that follows the port the app
//! asks for (the watched one, or the lab server's as it moves), and the
//! pcap file, when one was asked for, written as segments arrive.

use super::app::App;
use crate::source::capture::pcap::PcapWriter;
use crate::source::capture::{self, Capture, Captured};
use std::fs::File;
use std::io::BufWriter;

/// Most segments taken in one go.
const BATCH: usize = 4096;

pub struct LiveCapture {
    capture: Option<Capture>,
    port: Option<u16>,
    /// What the app was told last: `None` until the first `follow`.
    told: Option<Option<u16>>,
    pcap: Option<PcapWriter<BufWriter<File>>>,
}

impl LiveCapture {
    /// Opens the pcap file, if any, before the terminal changes mode: a
    /// file that cannot be written is an error to see at once.
    pub fn new(pcap: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let pcap = match pcap {
            Some(path) => Some(PcapWriter::create(path).map_err(|e| {
                anyhow::anyhow!("cannot write the pcap file {}: {e}", path.display())
            })?),
            None => None,
        };
        Ok(LiveCapture {
            capture: None,
            port: None,
            told: None,
            pcap,
        })
    }

    /// Starts, moves or stops the capture to match what the app wants.
    pub fn follow(&mut self, app: &mut App) {
        let wanted = app.capture_port();
        if self.told == Some(wanted) {
            return;
        }
        self.capture = None;
        self.port = wanted;
        let result = match wanted {
            Some(port) => capture::start(port).map(|c| self.capture = Some(c)),
            None => Ok(()),
        };
        app.capture_started(wanted, result);
        self.told = Some(wanted);
    }

    /// The segments that arrived, at least one (one redraw for a burst);
    /// never, while nothing is captured.
    pub async fn next(&mut self) -> Vec<Captured> {
        let Some(c) = &mut self.capture else {
            return std::future::pending().await;
        };
        let mut batch = Vec::new();
        match c.segments.recv().await {
            Some(first) => batch.push(first),
            // The capture thread ended: wait for the next follow.
            None => return std::future::pending().await,
        }
        while batch.len() < BATCH {
            match c.segments.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        batch
    }

    /// Writes it to the pcap file; a failed write stops the file (and
    /// says so once) but not the view.
    pub fn write(&mut self, c: &Captured, app: &mut App) {
        self.write_packet(c.wall, &c.packet, app);
    }

    /// A packet from the lab's link, as it entered it.
    pub fn write_packet(&mut self, wall: std::time::SystemTime, packet: &[u8], app: &mut App) {
        let Some(pcap) = &mut self.pcap else { return };
        if let Err(e) = pcap.packet(wall, packet) {
            app.set_error(format!("stopped writing the pcap file: {e}"));
            self.pcap = None;
        }
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        if let Some(pcap) = &mut self.pcap {
            let _ = pcap.flush();
        }
    }
}
