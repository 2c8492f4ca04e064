//! What a recording adds to `watch --json`'s lines: a header first, the
//! table as it was at the start, queue and timer updates between state
//! changes, and notices (events dropped, readings failed), so that the
//! stream alone tells the whole story of the connections it covers.

use crate::pipeline::runner::Update;
use crate::socket::{ConnId, Filter};
use crate::stream::{
    self, NoticeRecord, NoticeTag, SnapshotRecord, SnapshotTag, SocketRecord, UpdateRecord,
    UpdateTag,
};
use rustc_hash::{FxHashMap, FxHashSet};
use std::io::{self, Write};
use std::time::SystemTime;

/// What was last written of each connection's queues and timer: an
/// update is written only when one of them moves (a timer's time left
/// moves at every reading and is not news).
type Written = (Option<u32>, Option<u32>, Option<String>);

#[derive(Default)]
pub struct Recording {
    snapshot_taken: bool,
    written: FxHashMap<ConnId, Written>,
}

impl Recording {
    /// The table at the first update, then the connections whose queues
    /// or timer changed without an event of their own.
    pub fn update(
        &mut self,
        update: &Update,
        filter: &Filter,
        out: &mut impl Write,
    ) -> io::Result<()> {
        let now = stream::timestamp(SystemTime::now());
        if update.dropped_events > 0 {
            let text = format!(
                "{} events were dropped: the reader fell behind",
                update.dropped_events
            );
            notice(&now, text, Some(update.dropped_events), out)?;
        }
        let with_events: FxHashSet<ConnId> = update.events.iter().map(|e| e.id).collect();
        let mut sockets = Vec::new();
        for conn in update
            .delta
            .changed
            .iter()
            .filter(|c| filter.matches_conn(c))
        {
            let record = SocketRecord::of(conn);
            let now_written: Written = (
                record.recv_q,
                record.send_q,
                record.timer.as_ref().map(|t| t.kind.clone()),
            );
            let before = self.written.insert(conn.id, now_written.clone());
            if !self.snapshot_taken {
                sockets.push(record);
            } else if before.as_ref() != Some(&now_written)
                && !with_events.contains(&conn.id)
                && before.is_some()
            {
                let line = UpdateRecord {
                    ts: now.clone(),
                    event: UpdateTag::Tag,
                    socket: record,
                };
                out.write_all(stream::line(&line).as_bytes())?;
            }
        }
        for id in &update.delta.removed {
            self.written.remove(id);
        }
        if !self.snapshot_taken {
            self.snapshot_taken = true;
            let snapshot = SnapshotRecord {
                ts: now,
                event: SnapshotTag::Tag,
                sockets,
            };
            out.write_all(stream::line(&snapshot).as_bytes())?;
        }
        Ok(())
    }

    /// A reading that failed, as a notice.
    pub fn failed(&self, text: &str, out: &mut impl Write) -> io::Result<()> {
        let now = stream::timestamp(SystemTime::now());
        notice(
            &now,
            format!("reading the socket table failed: {text}"),
            None,
            out,
        )
    }
}

fn notice(ts: &str, text: String, dropped: Option<u64>, out: &mut impl Write) -> io::Result<()> {
    let record = NoticeRecord {
        ts: ts.to_string(),
        event: NoticeTag::Tag,
        text,
        dropped,
    };
    out.write_all(stream::line(&record).as_bytes())
}
