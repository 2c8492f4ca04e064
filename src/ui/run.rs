//! The event loop: terminal input, sampler updates, a slow heartbeat and
//! termination signals, all through one `select!`; only this loop
//! mutates the `App`. What it draws, and when, is the pacer's call
//! (`pacing`): a key at once, data at most once per interval.

use super::app::{App, Settings};
use super::capture::LiveCapture;
use super::effect::Effect;
use super::exporter::Exporter;
use super::keymap::action_for;
use super::pacing::FramePacer;
use super::recorder::Recorder;
use super::session::Session;
use super::terminal::{self, TerminalGuard};
use super::widgets;
use crate::lab::Lab;
use crate::lab::link::LabLink;
use crate::lab::link::{LinkOrder, SteerError};
use crate::pipeline::runner::Runner;
use crate::shutdown::Termination;
use crate::socket::Filter;
use crate::source::{Scope, Sources};
use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Ages, countdowns and highlights move on by the second.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Runs until quit or a termination signal (`signals`, registered before
/// the sources were opened, so no signal can skip the cleanup).
pub async fn run(
    sources: Sources,
    (settings, session): (Settings, Session),
    mut signals: Termination,
    mut link: Option<LabLink>,
) -> anyhow::Result<()> {
    let (tx, mut feed) = mpsc::channel(4);
    let scope = Scope::on_port(settings.first_port(&session));
    // On the lab's link a request socket (SYN_RECV) matters and no
    // tracepoint reports it: read the whole (small) table every interval.
    let reconcile = match link {
        Some(_) => settings.interval,
        None => crate::pipeline::runner::RECONCILE,
    };
    let notes: Vec<String> = sources.notes.iter().map(ToString::to_string).collect();
    let mut sampler = Runner::spawn_reconciling(sources, scope, settings.interval, reconcile, tx)
        .context("cannot start the pipeline thread")?;
    log_start(sampler.source_name(), &session, &notes);
    let mut app = App::new(settings, session, sampler.source_name(), Instant::now());
    let mut out = Outputs::open(app.settings(), &app.filter, &app.source_name).await?;
    let mut guard = terminal::enter().context("cannot switch the terminal to full-screen mode")?;
    let (mut lab, mut lab_events) = Lab::spawn(app.settings().lab.clone());
    let mut input = EventStream::new().ready_chunks(MAX_KEYS_PER_FRAME);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    // A replay's recorded segments are handed out as its clock reaches them.
    let mut replay_tick = tokio::time::interval(Duration::from_millis(50));
    let mut stop = Box::pin(signals.wait());
    let mut pacer = FramePacer::new(app.interval);
    let mut wants = ViewWants {
        port: app.watched_port(),
        all_owners: None,
        pace: None,
    };
    let mut feeding = true;
    while !app.quit {
        out.capture.follow(&mut app);
        if let Some(key) = app.details_request() {
            sampler.watch_details(key);
        }
        if pacer.should_draw(Instant::now()) {
            draw(&mut guard, &mut app)?;
            pacer.drawn(app.now);
            if let Some(keys) = app.rows_request() {
                sampler.watch_rows(keys);
            }
        }
        tokio::select! {
            event = input.next() => match event {
                Some(events) => match on_inputs(&mut app, &sampler, &mut lab, link.as_ref(), events)? {
                    Input::Seek(at) => {
                        let (s, f) = restart_replay(&mut app, at)?;
                        (sampler, feed) = (s, f);
                        // A new pipeline: tell it the pace again.
                        wants.pace = None;
                        feeding = true;
                        pacer.act();
                    }
                    Input::Done(true) => pacer.act(),
                    Input::Done(false) => {}
                },
                None => break,
            },
            // A closed channel is ready forever: ask it only while open.
            update = feed.recv(), if feeding => {
                let (open, shown) = out.update(&mut app, update);
                feeding = open;
                if shown {
                    pacer.changed();
                }
            },
            Some(event) = lab_events.recv() => {
                // A command's answer draws at once; the lab's socket list,
                // sent as its sockets move (up to 20 times a second), is
                // data like the table's.
                let status = matches!(event, crate::lab::LabEvent::Sockets(_));
                app.now = Instant::now();
                app.apply_lab(event);
                if status {
                    pacer.changed();
                } else {
                    pacer.act();
                }
            },
            Some(passage) = next_passage(&mut link) => {
                out.passage(&mut app, &passage);
                segments_shown(&mut pacer, &app);
            },
            batch = out.capture.next() => {
                out.segments(&mut app, batch);
                segments_shown(&mut pacer, &app);
            },
            () = at(pacer.due()) => {},
            _ = replay_tick.tick(), if app.session.has_clock() => {
                if app.replay_segments() {
                    pacer.changed();
                }
            },
            Some(scrape) = Exporter::next(&mut out.exporter) => {
                Exporter::answer(&mut out.exporter, scrape, &app.data.conns);
            },
            _ = heartbeat.tick() => {
                Outputs::heartbeat(&mut app, link.as_ref());
                // Ages, countdowns and fading rows move on by the second.
                pacer.changed();
            },
            _ = &mut stop => break,
        };
        // `+`/`-` change the interval: frames follow it.
        pacer.set_interval(app.interval);
        follow_the_view(&app, &sampler, out.every_event(), &mut wants);
    }
    end(guard, app.quit, out.recorder)
}

/// The terminal restored first, then the recording's last frame written.
fn end(guard: TerminalGuard, by_key: bool, recorder: Option<Recorder>) -> anyhow::Result<()> {
    drop(guard);
    // Not quit by a key: a termination signal, or the terminal went.
    tracing::info!(by_key, "the terminal is restored");
    recorder.map_or(Ok(()), Recorder::finish)
}

/// The debug log's first words on the view: which source, which session,
/// what the sources cannot see.
fn log_start(source: &str, session: &Session, notes: &[String]) {
    tracing::info!(
        source,
        session = session.name(),
        ?notes,
        "the live view starts"
    );
}

/// What the view last told the pipeline it needs read.
#[derive(PartialEq)]
struct ViewWants {
    port: Option<u16>,
    /// Owners for every socket (a filter names a process), not only the
    /// rows on screen. `None` before the first turn.
    all_owners: Option<bool>,
    /// How often updates come.
    pace: Option<Duration>,
}

/// Updates more often than the screen is drawn would only cost: the
/// screen's interval paces them, but at least once a second so that a key
/// shows recent data, and at the pipeline's own pace while a recording or
/// a metrics endpoint takes every event.
const SLOWEST_UPDATES: Duration = Duration::from_secs(1);

/// The pipeline reads what the view needs: the lab's port as its server
/// moves (every port for a filter of the user's own), and owners for the
/// rows on screen unless the filter names a process; updates as often as
/// the screen can show them.
fn follow_the_view(app: &App, sampler: &Runner, every_event: bool, told: &mut ViewWants) {
    let pace = if every_event {
        crate::pipeline::runner::CHANGE_PACE
    } else {
        app.interval.min(SLOWEST_UPDATES)
    };
    let now = ViewWants {
        port: app.watched_port(),
        all_owners: Some(app.filter.needs_owners()),
        pace: Some(pace),
    };
    if now.pace != told.pace {
        sampler.pace_updates(pace);
    }
    if now.port != told.port {
        sampler.follow_port(now.port);
    }
    if now.all_owners != told.all_owners {
        sampler.owners_on_demand(now.all_owners == Some(false));
    }
    *told = now;
}

/// Where the view's data also goes: segments captured (and a pcap
/// file), a recording, a metrics endpoint.
struct Outputs {
    capture: LiveCapture,
    recorder: Option<Recorder>,
    exporter: Option<Exporter>,
}

impl Outputs {
    /// Whether something here takes every event as it comes.
    fn every_event(&self) -> bool {
        self.recorder.is_some() || self.exporter.is_some()
    }

    /// Opened before the terminal changes mode, so a bad path or a taken
    /// address is an error to see at once.
    async fn open(settings: &Settings, filter: &Filter, source: &str) -> anyhow::Result<Outputs> {
        let capture = LiveCapture::new(settings.pcap.as_deref())?;
        let recorder = match &settings.record {
            Some(path) => Some(Recorder::open(path, settings, filter, source)?),
            None => None,
        };
        let exporter = match settings.metrics {
            Some(addr) => Some(Exporter::bind(addr, settings.port).await?),
            None => None,
        };
        Ok(Outputs {
            capture,
            recorder,
            exporter,
        })
    }

    /// What the pipeline said, to the app and the outputs (at once:
    /// only the screen is paced). Whether the pipeline is still there,
    /// and whether the update changed anything shown.
    fn update(
        &mut self,
        app: &mut App,
        update: Option<crate::pipeline::runner::Feed>,
    ) -> (bool, bool) {
        app.now = Instant::now();
        let Some(update) = update else {
            app.set_error("the sampling thread stopped; restart tcpscope");
            return (false, true);
        };
        Recorder::feed(&mut self.recorder, &update, app);
        if let crate::pipeline::runner::Feed::Update(u) = &update {
            Exporter::events(&mut self.exporter, u);
        }
        (true, app.apply_feed(update))
    }

    fn passage(&mut self, app: &mut App, passage: &crate::source::link::Passage) {
        if passage.fate == crate::source::link::Fate::Arrived {
            self.capture
                .write_packet(passage.wall, &passage.packet, app);
        }
        app.apply_passage(passage);
    }

    fn segments(&mut self, app: &mut App, batch: Vec<crate::source::capture::Captured>) {
        for segment in batch {
            self.capture.write(&segment, app);
            Recorder::segment(&mut self.recorder, &segment, app);
            app.apply_segment(segment);
        }
    }

    /// Once a second: the kernel's counters on the link.
    fn heartbeat(app: &mut App, link: Option<&LabLink>) {
        if let Some(link) = link
            && let Ok(text) = link.server_counters()
        {
            app.segments
                .set_counters(crate::source::activity::netstat_counters(&text));
        }
    }
}

fn draw(guard: &mut TerminalGuard, app: &mut App) -> anyhow::Result<()> {
    app.now = Instant::now();
    let size = guard
        .terminal
        .size()
        .context("cannot read the terminal size")?;
    app.set_page(widgets::table_page(size.into(), app));
    guard
        .terminal
        .draw(|frame| widgets::draw(frame, app))
        .context("cannot draw to the terminal")?;
    Ok(())
}

/// What a key asks of the loop.
/// Terminal events taken between two frames at most. A paste comes as
/// thousands of keys at once; a frame for each took a minute on a full
/// table.
const MAX_KEYS_PER_FRAME: usize = 4096;

/// The events that were waiting, handled in order: redrawn once after
/// them, and of several seeks only the last is made.
fn on_inputs(
    app: &mut App,
    sampler: &Runner,
    lab: &mut Lab,
    link: Option<&LabLink>,
    events: Vec<std::io::Result<Event>>,
) -> anyhow::Result<Input> {
    let mut outcome = Input::Done(false);
    for event in events {
        let event = event.context("cannot read from the terminal")?;
        outcome = match (on_input(app, sampler, lab, link, &event), outcome) {
            (Input::Seek(at), _) => Input::Seek(at),
            (Input::Done(_), seek @ Input::Seek(_)) => seek,
            (Input::Done(now), Input::Done(before)) => Input::Done(now || before),
        };
        if app.quit {
            break;
        }
    }
    Ok(outcome)
}

enum Input {
    /// Handled; whether to redraw.
    Done(bool),
    /// Start the replay over at this moment.
    Seek(std::time::SystemTime),
}

fn on_input(
    app: &mut App,
    sampler: &Runner,
    lab: &mut Lab,
    link: Option<&LabLink>,
    event: &Event,
) -> Input {
    if let Event::Paste(text) = event {
        return Input::Done(app.paste(text));
    }
    let Some(action) = action_for(app.mode(), app.session.kinds(), event) else {
        return Input::Done(false);
    };
    app.now = Instant::now();
    let effect = app.handle(action);
    tracing::debug!(?action, ?effect, session = app.session.name(), "key");
    match effect {
        Some(Effect::SetInterval(d)) => sampler.set_interval(d),
        // One netlink round trip: answered at once, no need to wait apart.
        Some(Effect::Destroy(key, cookie, netns)) => {
            use crate::source::sockdiag::destroy;
            // A socket of the lab's link is reached from inside its namespace.
            let result = match (netns, link) {
                (Some(ns), Some(link)) => link
                    .inside(ns, move || destroy(&key, cookie))
                    .unwrap_or_else(|e| {
                        Err(destroy::DestroyError::NotEntered {
                            namespace: ns,
                            why: crate::source::error::explain_os(&e),
                        })
                    }),
                _ => destroy(&key, cookie),
            };
            app.destroyed(&key, result);
        }
        Some(Effect::Lab(command)) => {
            lab.send(command);
        }
        Some(Effect::LabMany(commands)) => {
            for command in commands {
                lab.send(command);
            }
        }
        Some(Effect::Link(call)) => {
            if let Some(link) = link {
                steer(app, link, call);
            }
        }
        Some(Effect::ReplaySeek(at)) => return Input::Seek(at),
        None => {}
    }
    Input::Done(true)
}

/// New segments are data like any other: a frame when the pane shows
/// them, at the pace of the rest.
fn segments_shown(pacer: &mut FramePacer, app: &App) {
    if app.panes.is_open(super::Pane::Segments) {
        pacer.changed();
    }
}

/// Wakes at `due`; never, without one.
async fn at(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// The next packet's passage on the lab's link; never, without one.
async fn next_passage(link: &mut Option<LabLink>) -> Option<crate::source::link::Passage> {
    match link {
        Some(l) => l.passages.recv().await,
        None => std::future::pending().await,
    }
}

/// Carries out a key (or demo step) for the lab's link.
fn steer(app: &mut App, link: &LabLink, call: LinkOrder) {
    // The key already said what it asked; only a refusal is news.
    match link.steer(call, app.lab.port()) {
        Err(why @ SteerError::NothingWaiting) => app.set_info(why.to_string()),
        Err(why) => app.set_error(why.to_string()),
        Ok(_) => {}
    }
}

/// A replay moved back (or jumped): a new playback from that moment and a
/// new pipeline for it, the view started over.
fn restart_replay(
    app: &mut App,
    at: std::time::SystemTime,
) -> anyhow::Result<(Runner, mpsc::Receiver<crate::pipeline::runner::Feed>)> {
    let Some(old) = app.session.replay() else {
        anyhow::bail!("no replay to move");
    };
    let playback = old.playback.seek(at);
    let (tx, feed) = mpsc::channel(4);
    let scope = Scope::on_port(app.settings().port);
    let sampler = Runner::spawn(playback.sources(), scope, app.interval, tx)
        .context("cannot start the pipeline thread")?;
    app.replay_restarted(playback);
    let pos = app.session.replay().map(|r| r.playback.position());
    if let Some(pos) = pos {
        app.set_info(format!(
            "at {:.3}s of {:.3}s, paused: → plays the next event",
            pos.elapsed.as_secs_f64(),
            pos.length.as_secs_f64()
        ));
    }
    Ok((sampler, feed))
}
