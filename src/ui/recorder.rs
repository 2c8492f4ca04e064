//! `--record FILE` on the live view: the same stream `tcpscope record`
//! writes, from the same updates the view shows (and the segments it
//! captures), whatever the view is doing (paused or not).

use super::app::{App, Settings};
use crate::output::record_file::{self, Output};
use crate::output::watch::{Printer, WatchOptions};
use crate::pipeline::runner::Feed;
use crate::socket::Filter;
use crate::source::Scope;
use crate::source::capture::Captured;

pub struct Recorder {
    printer: Printer,
    out: Output,
}

impl Recorder {
    /// Opens the file and writes the header, before the terminal changes
    /// mode: a file that cannot be written is an error to see at once.
    pub fn open(
        path: &std::path::Path,
        s: &Settings,
        filter: &Filter,
        source: &str,
    ) -> anyhow::Result<Recorder> {
        let mut out = record_file::open(path).map_err(|e| anyhow::anyhow!(e))?;
        let header = record_file::header(source, filter.text(), s.port);
        std::io::Write::write_all(&mut out, crate::stream::line(&header).as_bytes())?;
        let opts = WatchOptions {
            scope: Scope::on_port(s.port),
            filter: filter.clone(),
            interval: s.interval,
            json: true,
            record: true,
            summary: false,
        };
        Ok(Recorder {
            printer: Printer::new(opts),
            out,
        })
    }

    /// Records what the pipeline said; a failed write stops the
    /// recording (and says so) but not the view.
    pub fn feed(recorder: &mut Option<Recorder>, feed: &Feed, app: &mut App) {
        let Some(r) = recorder else { return };
        let written = match feed {
            Feed::Update(update) => r.printer.update(update, &mut r.out),
            Feed::Failed(_) => Ok(()),
        };
        if let Err(e) = written {
            app.set_error(format!("stopped recording: {e}"));
            *recorder = None;
        }
    }

    pub fn segment(recorder: &mut Option<Recorder>, c: &Captured, app: &mut App) {
        let Some(r) = recorder else { return };
        if let Err(e) = r.printer.segment(c.clone(), &mut r.out) {
            app.set_error(format!("stopped recording: {e}"));
            *recorder = None;
        }
    }

    /// Ends the file: a compressed recording gets its last frame.
    pub fn finish(self) -> anyhow::Result<()> {
        self.out.finish()
    }
}
