//! `tcpscope watch`: one line per event (new connection, state change,
//! gone) as it happens, as text or NDJSON, until interrupted. Headless: the
//! same sampler and tracker as the TUI, no terminal.

use crate::shutdown::Termination;
use crate::socket::{Filter, SocketRow};
use crate::source::{Scope, SocketSource};
use crate::track::sampler::{Feed, Sampler, Update};
use crate::track::{Event, EventKind};
use chrono::{DateTime, Local, SecondsFormat, Utc};
use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

pub struct WatchOptions {
    pub scope: Scope,
    pub filter: Filter,
    pub interval: Duration,
    pub json: bool,
}

/// Runs until Ctrl-C, SIGTERM, SIGHUP or a closed stdout (`| head`), all of
/// which end it normally.
pub fn run(source: Box<dyn SocketSource>, opts: WatchOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(watch(source, opts))
}

async fn watch(source: Box<dyn SocketSource>, opts: WatchOptions) -> anyhow::Result<()> {
    let (tx, mut feed) = tokio::sync::mpsc::channel(16);
    let mut signals = Termination::register();
    let _sampler = Sampler::spawn(source, opts.scope, opts.interval, tx)?;
    let mut stop = Box::pin(signals.wait());
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut said = String::new();
    loop {
        tokio::select! {
            got = feed.recv() => match got {
                Some(Feed::Update(update)) => match print(&update, &opts, &mut out).and_then(|()| warn_lost(&update, &mut said)) {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                    other => other?,
                },
                Some(Feed::Failed(text)) => eprintln!("tcpscope: {text}"),
                None => anyhow::bail!("the sampling thread stopped"),
            },
            _ = &mut stop => break,
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Says on stderr, once per change, that the kernel dropped transitions:
/// nothing is lost silently.
fn warn_lost(update: &Update, said: &mut String) -> io::Result<()> {
    if let Some(d) = update.degradations.iter().find(|d| d.what == "transitions")
        && d.why != *said
    {
        eprintln!("tcpscope: warning: {}", d.why);
        said.clone_from(&d.why);
    }
    Ok(())
}

/// Writes the update's events that pass the filter, then flushes, so a
/// reader sees each batch as it happens.
fn print(update: &Update, opts: &WatchOptions, out: &mut impl Write) -> io::Result<()> {
    if update.dropped_events > 0 {
        eprintln!(
            "tcpscope: {} events were dropped because the output was too slow",
            update.dropped_events
        );
    }
    if update.events.is_empty() {
        return Ok(());
    }
    let rows: HashMap<u64, &SocketRow> = if opts.filter.is_empty() {
        HashMap::new()
    } else {
        update.conns.iter().map(|c| (c.id, &c.row)).collect()
    };
    for event in &update.events {
        let passes =
            opts.filter.is_empty() || rows.get(&event.id).is_some_and(|r| opts.filter.matches(r));
        if passes {
            let line = if opts.json {
                json_line(event)
            } else {
                text_line(event)
            };
            out.write_all(line.as_bytes())?;
        }
    }
    out.flush()
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::New => "new",
        EventKind::State { .. } => "state",
        EventKind::Gone => "gone",
    }
}

/// `12:01:03.250  state  127.0.0.1:51234 -> 127.0.0.1:8080  ESTABLISHED -> FIN_WAIT_2`
pub fn text_line(e: &Event) -> String {
    let time: DateTime<Local> = e.wall.into();
    let states = match e.kind {
        EventKind::New => e.state.to_string(),
        EventKind::State { from, to } => format!("{from} -> {to}"),
        EventKind::Gone => format!("{} -> (gone)", e.state),
    };
    format!(
        "{}  {:<5}  {}  {states}\n",
        time.format("%H:%M:%S%.3f"),
        kind_name(e.kind),
        e.key.label()
    )
}

/// One NDJSON line: `{"ts", "event", "key", "from", "to"}`.
pub fn json_line(e: &Event) -> String {
    let ts: DateTime<Utc> = e.wall.into();
    let (from, to) = e.states();
    let state =
        |s: Option<crate::socket::TcpState>| s.map_or("null".to_string(), |s| format!("\"{s}\""));
    format!(
        "{{\"ts\":\"{}\",\"event\":\"{}\",\"key\":\"{}\",\"from\":{},\"to\":{}}}\n",
        ts.to_rfc3339_opts(SecondsFormat::Micros, true),
        kind_name(e.kind),
        e.key.label(),
        state(from),
        state(to)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Family, SocketKey, TcpState};
    use std::time::{Instant, SystemTime};

    fn event(kind: EventKind, state: TcpState) -> Event {
        Event {
            at: Instant::now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_millis(1_500),
            id: 1,
            key: SocketKey::new(
                Family::Inet,
                "127.0.0.1:51234".parse().expect("a"),
                "127.0.0.1:8080".parse().expect("b"),
            ),
            state,
            kind,
        }
    }

    #[test]
    fn ndjson_has_the_contract_fields() {
        let change = event(
            EventKind::State {
                from: TcpState::Established,
                to: TcpState::FinWait2,
            },
            TcpState::FinWait2,
        );
        let v: serde_json::Value = serde_json::from_str(&json_line(&change)).expect("valid JSON");
        assert_eq!(v["ts"], "1970-01-01T00:00:01.500000Z");
        assert_eq!(v["event"], "state");
        assert_eq!(v["key"], "127.0.0.1:51234 -> 127.0.0.1:8080");
        assert_eq!(
            (v["from"].as_str(), v["to"].as_str()),
            (Some("ESTABLISHED"), Some("FIN_WAIT_2"))
        );
        let new: serde_json::Value =
            serde_json::from_str(&json_line(&event(EventKind::New, TcpState::SynSent)))
                .expect("JSON");
        assert!(new["from"].is_null());
        assert_eq!(new["to"], "SYN_SENT");
        let gone: serde_json::Value =
            serde_json::from_str(&json_line(&event(EventKind::Gone, TcpState::TimeWait)))
                .expect("JSON");
        assert_eq!(
            (gone["from"].as_str(), gone["to"].is_null()),
            (Some("TIME_WAIT"), true)
        );
    }

    #[test]
    fn text_lines_read_like_a_log() {
        let line = text_line(&event(
            EventKind::State {
                from: TcpState::Established,
                to: TcpState::FinWait2,
            },
            TcpState::FinWait2,
        ));
        assert!(
            line.ends_with(
                "  state  127.0.0.1:51234 -> 127.0.0.1:8080  ESTABLISHED -> FIN_WAIT_2\n"
            ),
            "{line}"
        );
        assert_eq!(line.find("  state"), Some(12), "HH:MM:SS.mmm first: {line}");
    }
}
