//! The UI state. Only the event loop mutates it; widgets read `&App`.
//! Parts are addressed by identity: the table's selection is a connection
//! id, the lab's a lab socket id, never a position in a list.

use super::effect::{Effect, Reply, Said};
use super::keymap::{Action, Mode, ReplayKey};
use super::lab_view::LabView;
use super::listing::{Group, Line};
use super::panes::{OnYes, Overlay, Pane, Panes, Question};
use super::prompt::{Prompt, PromptKind};
use super::segments_view::{Capturing, SegmentsView};
use super::session::{ReplaySession, Session};
use super::status::{Status, StatusLine};
use super::table_view::TableView;
use super::theme::Theme;
use crate::lab::{LabConfig, LabEvent};
use crate::pipeline::Mirror;
use crate::pipeline::history::{CountHistory, TransitionLog};
use crate::pipeline::runner::{DetailsReading, Feed, MAX_PENDING_EVENTS, Update};
use crate::socket::{Conn, ConnId, Filter, SocketKey, StateCounts};
use crate::source::Degradation;
use crate::source::capture::CaptureError;
use crate::source::sockdiag::destroy::DestroyError;
use crate::ui::fmt::fmt_ms;
use std::time::{Duration, Instant};

/// Intervals `+` and `-` step through.
pub const INTERVAL_STEPS_MS: [u64; 10] = [10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10000];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Groups,
    Table,
    Lab,
    Log,
    Segments,
}

/// How the app was started: the options given, never changed after. What
/// the keys change (filter, interval, presentation) lives in the [`App`].
#[derive(Clone, Debug)]
pub struct Settings {
    pub port: Option<u16>,
    pub filter: Filter,
    pub interval: Duration,
    pub theme: Theme,
    pub lab: LabConfig,
    /// Transition log entries kept.
    pub log_size: usize,
    /// Presentation mode: big, high-contrast, fewer columns.
    pub classroom: bool,
    /// Also write the captured segments to this pcap file.
    pub pcap: Option<std::path::PathBuf>,
    /// Also write the event stream to this file (`--record`).
    pub record: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics here as well (`--metrics`).
    pub metrics: Option<std::net::SocketAddr>,
}

impl Settings {
    /// The lab server's port, when the table follows it from the start
    /// (a lab or a demo without a port of the user's own).
    pub fn lab_port(&self, session: &Session) -> Option<u16> {
        let follows = self.port.is_none() && session.follows_lab();
        follows.then_some(self.lab.server.port)
    }

    /// The one port the sources read at first (every port, for `None`).
    pub fn first_port(&self, session: &Session) -> Option<u16> {
        self.port.or(self.lab_port(session))
    }

    /// The table's filter at first: the lab's port while it follows it.
    pub fn first_filter(&self, session: &Session) -> Filter {
        self.lab_port(session)
            .map_or_else(|| self.filter.clone(), Filter::port)
    }
}

/// What the pipeline said last.
#[derive(Clone, Debug, Default)]
pub struct Data {
    pub conns: Mirror,
    pub warning: Option<String>,
    pub degradations: Vec<Degradation>,
    /// The last reading failed, and why; cleared by the next one.
    pub failing: Option<String>,
    pub dumps: u64,
    /// The latest tcp_info reading for the details pane.
    pub details: Option<DetailsReading>,
}

impl Data {
    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(id).map(|c| c.as_ref())
    }
}

/// The transition log and the count history.
#[derive(Clone, Debug)]
pub struct Memory {
    pub log: TransitionLog,
    /// How many (filtered) log lines are scrolled past, newest first.
    pub log_scroll: usize,
    pub history: CountHistory,
}

pub struct App {
    settings: Settings,
    /// Which kind of run this is, and what is its own (a demo's steps, a
    /// recording's clock, the link's settings).
    pub session: Session,
    /// The filter applied now (typed with `/`, or the lab's port).
    pub filter: Filter,
    /// How often the table is read now (`+ -`).
    pub interval: Duration,
    /// Presentation mode now (`P`), and the theme it implies.
    pub classroom: bool,
    pub theme: Theme,
    /// Which source reads the table, as the header names it.
    pub source_name: String,
    pub data: Data,
    pub table: TableView,
    pub lab: LabView,
    pub memory: Memory,
    pub segments: SegmentsView,
    pub panes: Panes,
    /// The pane shown on the whole screen (`z`).
    pub zoomed: Option<Pane>,
    pub overlay: Overlay,
    pub focus: Focus,
    pub status: StatusLine,
    pub paused: bool,
    /// The screen is blanked (a demo's `b`): nothing is drawn.
    pub blank: bool,
    held: Option<Box<Update>>,
    /// The other end of the selected connection, when it is local.
    peer: Option<ConnId>,
    /// What the pipeline was last asked to read tcp_info for.
    details_asked: Option<SocketKey>,
    /// The rows on screen the pipeline was last told of.
    rows_asked: Vec<SocketKey>,
    /// The lab server's port while the filter follows it there.
    follows_lab: Option<u16>,
    /// The clock widgets measure ages against; set by the loop before drawing.
    pub now: Instant,
    pub quit: bool,
}

impl App {
    pub fn new(settings: Settings, session: Session, source_name: &str, now: Instant) -> Self {
        let mut theme = settings.theme;
        theme.contrast |= settings.classroom;
        App {
            memory: Memory {
                log: TransitionLog::new(settings.log_size),
                log_scroll: 0,
                history: CountHistory::default(),
            },
            lab: LabView::new(&settings.lab),
            segments: SegmentsView {
                capturing: session.segments(),
                ..SegmentsView::default()
            },
            zoomed: None,
            data: Data::default(),
            table: TableView::default(),
            panes: Panes::with(&session.first_panes()),
            overlay: Overlay::None,
            focus: Focus::Table,
            status: StatusLine::default(),
            filter: settings.first_filter(&session),
            follows_lab: settings.lab_port(&session),
            interval: settings.interval,
            classroom: settings.classroom,
            theme,
            source_name: source_name.to_string(),
            session,
            settings,
            paused: false,
            blank: false,
            held: None,
            peer: None,
            details_asked: None,
            rows_asked: Vec::new(),
            now,
            quit: false,
        }
    }

    /// How the app was started.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn mode(&self) -> Mode {
        match self.overlay {
            Overlay::Prompt(_) => Mode::Prompt,
            Overlay::Help | Overlay::Messages => Mode::Reading,
            Overlay::Confirm(_) => Mode::Confirm,
            Overlay::None => Mode::Normal,
        }
    }

    pub fn counts(&self) -> &StateCounts {
        &self.table.listing.counts
    }

    pub fn prompt(&self) -> Option<&Prompt> {
        match &self.overlay {
            Overlay::Prompt(p) => Some(p),
            _ => None,
        }
    }

    pub fn selected_conn(&self) -> Option<&Conn> {
        self.data.get(self.table.selected?)
    }

    /// The other end of the selected connection, when it is on this machine.
    pub fn selected_peer(&self) -> Option<&Conn> {
        self.peer.and_then(|id| self.data.get(id))
    }

    /// New data from the pipeline; whether it changed anything shown.
    /// While paused it is held, not shown.
    pub fn apply_feed(&mut self, feed: Feed) -> bool {
        match feed {
            Feed::Update(update) if self.paused => {
                self.hold(update);
                false
            }
            Feed::Update(update) => self.install(*update),
            Feed::Failed(why) => {
                let text = why.to_string();
                self.set_error(format!("reading the socket table failed: {text}"));
                self.data.failing = Some(text);
                true
            }
        }
    }

    /// Keeps the newest view and every event since the pause, up to the
    /// pipeline's own bound (the oldest beyond it are dropped and counted).
    fn hold(&mut self, mut update: Box<Update>) {
        if let Some(older) = self.held.take() {
            let mut events = older.events;
            events.append(&mut update.events);
            let excess = events.len().saturating_sub(MAX_PENDING_EVENTS);
            events.drain(..excess);
            update.events = events;
            update.dropped_events += older.dropped_events + excess as u64;
            update.details = update.details.or(older.details);
            let mut delta = older.delta;
            delta.merge(std::mem::take(&mut update.delta));
            update.delta = delta;
        }
        self.held = Some(update);
    }

    /// Whether the update changed anything shown: most updates of a quiet
    /// table (a heartbeat, a reading that found nothing new) do not.
    fn install(&mut self, update: Update) -> bool {
        let shown = self.shows_news(&update);
        let table = &mut self.table;
        self.data
            .conns
            .apply(&update.delta, |old, new| table.update(old, new));
        self.memory.log.dropped += update.dropped_events;
        self.memory.log.record(&update.events);
        let d = &mut self.data;
        d.warning = update.warning;
        d.degradations = update.degradations;
        d.dumps = update.dumps;
        d.failing = None;
        if update.details.is_some() {
            d.details = update.details;
        }
        self.relist();
        self.memory
            .history
            .sample(self.table.listing.counts, self.now);
        shown
    }

    /// What in an update can reach the screen: a connection, an event
    /// (the log), a warning, a degradation, tcp_info, a reading that
    /// works again.
    fn shows_news(&self, u: &Update) -> bool {
        let d = &self.data;
        !u.delta.is_empty()
            || !u.events.is_empty()
            || u.dropped_events > 0
            || u.details.is_some()
            || d.failing.is_some()
            || u.warning != d.warning
            || u.degradations != d.degradations
    }

    /// The connections on screen, when they differ from what the pipeline
    /// was last told: it reads them exactly at every interval.
    pub fn rows_request(&mut self) -> Option<Vec<SocketKey>> {
        let tv = &self.table;
        let on_screen: Vec<SocketKey> = tv
            .listing
            .window(tv.offset, tv.page)
            .into_iter()
            .filter_map(|line| match line {
                Line::Row(id) => self.data.get(id),
                _ => None,
            })
            .filter(|c| !c.is_gone())
            .map(|c| c.row.key)
            .collect();
        if on_screen == self.rows_asked {
            return None;
        }
        self.rows_asked.clone_from(&on_screen);
        Some(on_screen)
    }

    /// The connection whose tcp_info the pipeline should read, when that
    /// differs from what it was last told (`Some(None)`: stop reading).
    pub fn details_request(&mut self) -> Option<Option<SocketKey>> {
        let wanted = if self.panes.is_open(Pane::Details) {
            self.selected_conn()
                .filter(|c| !c.is_gone())
                .map(|c| c.row.key)
        } else {
            None
        };
        if wanted == self.details_asked {
            return None;
        }
        self.details_asked = wanted;
        Some(wanted)
    }

    /// The details reading for the selected connection, if it is current.
    pub fn selected_details(&self) -> Option<&DetailsReading> {
        let key = self.selected_conn()?.row.key;
        self.data.details.as_ref().filter(|d| d.key == key)
    }

    /// News from the lab: its sockets, its settings, a command's result.
    pub fn apply_lab(&mut self, event: LabEvent) {
        match event {
            LabEvent::Outcome { result, .. } => self.lab_outcome(result),
            LabEvent::Notice(e) => {
                let port = e
                    .port_in_use()
                    .map(|p| self.port_use(p))
                    .unwrap_or_default();
                self.set_error(e.describe(&port));
            }
            LabEvent::Sockets(list) => self.lab.sockets = list,
            LabEvent::Settings(settings) => {
                self.lab.settings = settings;
                self.follow_lab_port();
            }
        }
        self.lab.relink(&self.data.conns);
        self.demo_follow();
    }

    /// Selects the demo's focus socket in the lab panel and the table.
    fn demo_follow(&mut self) {
        let Some(id) = self.session.demo().and_then(|d| d.focus(&self.lab)) else {
            return;
        };
        if self.lab.rows.iter().any(|r| r.socket == id) {
            self.lab.selected = Some(id);
            self.select_lab_in_table();
        }
    }

    /// The port the sources read now (every port, for `None`): the lab's
    /// moves with its server, and a filter of the user's own needs all.
    pub fn watched_port(&self) -> Option<u16> {
        self.settings.port.or(self.follows_lab)
    }

    /// A table filtered to the lab's port follows the server to a new port.
    fn follow_lab_port(&mut self) {
        let Some(old) = self.follows_lab else { return };
        let new = self.lab.port();
        if new == old || new == 0 {
            return;
        }
        self.filter = Filter::port(new);
        self.follows_lab = Some(new);
        self.relist();
    }

    /// Rebuilds the table around the selected connection, re-links the
    /// lab, and finds the selection's other end.
    pub fn relist(&mut self) {
        self.table.relist(&self.data.conns, &self.filter);
        self.lab.relink(&self.data.conns);
        self.selection_moved();
    }

    /// After the table's selection changed: the lab and the peer follow.
    pub(super) fn selection_moved(&mut self) {
        let id = self.table.selected;
        if self.focus != Focus::Lab
            && let Some(socket) = id.and_then(|c| self.lab.socket_of(c))
        {
            self.lab.selected = Some(socket);
        }
        // The other end, live if it is (else the one that ended last).
        self.peer = self.selected_conn().and_then(|c| {
            let k = &c.row.key;
            self.data.conns.between(k.remote, k.local).map(|p| p.id)
        });
    }

    /// Puts the table's selection on the lab's selected socket, if the
    /// table lists its connection.
    pub fn select_lab_in_table(&mut self) {
        let Some(conn) = self.lab.selected_row().and_then(|r| r.conn) else {
            return;
        };
        let Some(conn) = self.data.conns.get(conn) else {
            return;
        };
        if self.table.select(conn) {
            self.selection_moved();
        }
    }

    pub fn handle(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::Up => self.step(-1),
            Action::Down => self.step(1),
            Action::PageUp => self.move_cursor(-(self.table.page.max(1) as i64)),
            Action::PageDown => self.move_cursor(self.table.page.max(1) as i64),
            Action::Top => self.move_cursor(i64::MIN / 2),
            Action::Bottom => self.move_cursor(i64::MAX / 2),
            Action::Scroll(n) => self.move_cursor(i64::from(n)),
            Action::SwitchPanel => self.switch_panel(),
            Action::Confirm if self.focus == Focus::Groups => self.focus = Focus::Table,
            Action::Confirm | Action::ToggleDetails => self.toggle(Pane::Details),
            Action::Back => self.back(),
            Action::TogglePause => self.toggle_pause(),
            Action::Slower => return self.step_interval(1),
            Action::Faster => return self.step_interval(-1),
            Action::Replay(ReplayKey::Jump) => self.open_prompt(PromptKind::Jump, String::new()),
            Action::Replay(key) => {
                let reply = self.session.replay_mut().map(|r| r.key(key));
                return self.reply(reply);
            }
            Action::CycleSort => self.cycle_sort(),
            Action::ToggleHelp => self.toggle_overlay(Overlay::Help),
            Action::ToggleMessages => self.toggle_overlay(Overlay::Messages),
            Action::OpenFilter => {
                let text = self.filter.text().to_string();
                self.open_prompt(PromptKind::Filter, text);
            }
            Action::Quit => self.ask_quit(),
            Action::QuitNow => self.quit = true,
            Action::Answer(yes) => return self.answer(yes),
            Action::Destroy => self.ask_destroy(),
            Action::Prompt(key) => return self.prompt_key(key),
            Action::Resize(..) => {}
            Action::ToggleLab => self.toggle(Pane::Lab),
            Action::ToggleLog => self.toggle(Pane::Log),
            Action::ToggleDiagram => self.toggle(Pane::Diagram),
            Action::Link(key) => {
                let reply = self.session.link_mut().map(|l| l.key(key));
                return self.reply(reply);
            }
            Action::ToggleSegments => self.toggle(Pane::Segments),
            Action::Zoom => self.zoom(),
            Action::ToggleClassroom => self.toggle_classroom(),
            Action::DemoNext | Action::DemoPrevious | Action::DemoRestart => {
                return self.demo_key(action);
            }
            Action::ToggleNotes => self.toggle(Pane::Notes),
            Action::ToggleBlank => self.blank = !self.blank,
            Action::ToggleNames => self.toggle_names(),
            Action::Lab(key) => return self.lab_key(key),
            Action::NotHere => return self.reply(None),
        }
        None
    }

    /// Names instead of numbers (asked in the background, so they come
    /// in over the next frames), or numbers again.
    fn toggle_names(&mut self) {
        let on = !crate::source::names::shown();
        crate::source::names::show(on);
        let said = if on {
            "host and service names shown as they are found (H: numbers)"
        } else {
            "numbers shown (H: names)"
        };
        self.set_info(said.to_string());
    }

    /// A session's answer said and its effect passed on; `None` (the
    /// session has no such thing) is said too, never silent.
    pub(super) fn reply(&mut self, reply: Option<Reply>) -> Option<Effect> {
        let Some(reply) = reply else {
            let name = self.session.name();
            self.set_info(format!(
                "that key does nothing in the {name}: ? lists the keys"
            ));
            return None;
        };
        match reply.said {
            Some(Said::Info(text)) => self.set_info(text),
            Some(Said::Error(text)) => self.set_error(text),
            None => {}
        }
        reply.effect
    }

    /// n, p, r in a demo; after a restart the table follows the lab's
    /// server to its fresh port.
    fn demo_key(&mut self, action: Action) -> Option<Effect> {
        let lab = &self.lab;
        let reply = self.session.demo_mut().map(|d| match action {
            Action::DemoNext => d.next(lab),
            Action::DemoPrevious => d.previous(),
            _ => d.restart(lab),
        });
        if action == Action::DemoRestart && reply.is_some() {
            self.follows_lab = Some(self.lab.port());
        }
        self.reply(reply)
    }

    pub fn open_prompt(&mut self, kind: PromptKind, text: String) {
        self.overlay = Overlay::Prompt(Prompt { kind, text });
    }

    fn toggle_overlay(&mut self, overlay: Overlay) {
        self.overlay = if self.overlay == overlay {
            Overlay::None
        } else {
            overlay
        };
    }

    /// Esc: the overlay, else the zoom, else the most recently opened
    /// pane. Never quits.
    fn back(&mut self) {
        if self.overlay != Overlay::None {
            self.overlay = Overlay::None;
            return;
        }
        if self.zoomed.take().is_some() {
            return;
        }
        match self.panes.close_top() {
            Some(pane) => self.closed(pane),
            None => self.set_info("nothing to close; q quits"),
        }
    }

    fn toggle(&mut self, pane: Pane) {
        if self.panes.toggle(pane) {
            self.opened(pane);
        } else {
            self.closed(pane);
        }
    }

    fn opened(&mut self, pane: Pane) {
        match pane {
            Pane::Lab => self
                .set_info("lab open: S starts the server, c connects a client, ? lists the keys"),
            Pane::Segments => {
                if !self.segments_from_elsewhere() && self.capture_port().is_none() {
                    self.segments.capturing = Capturing::NoPort;
                }
                self.set_info("segments of the selected connection; Tab to scroll, z zooms");
            }
            _ => {}
        }
    }

    /// Focus leaves a pane that closed, and so does the zoom.
    fn closed(&mut self, pane: Pane) {
        let focus_in = matches!(
            (pane, self.focus),
            (Pane::Lab, Focus::Lab) | (Pane::Log, Focus::Log) | (Pane::Segments, Focus::Segments)
        );
        if focus_in {
            self.focus = Focus::Table;
        }
        if self.zoomed == Some(pane) {
            self.zoomed = None;
        }
    }

    /// z: the focused pane (else the newest open one) fills the screen;
    /// z again, or Esc, goes back.
    fn zoom(&mut self) {
        if self.zoomed.take().is_some() {
            return;
        }
        let focused = match self.focus {
            Focus::Lab => Some(Pane::Lab),
            Focus::Log => Some(Pane::Log),
            Focus::Segments => Some(Pane::Segments),
            Focus::Table | Focus::Groups => None,
        };
        match focused.or_else(|| self.panes.newest()) {
            Some(pane) => {
                self.zoomed = Some(pane);
                self.set_info(format!("{} zoomed: z or Esc goes back", pane.name()));
            }
            None => self.set_info("open a pane to zoom it (d diagram, W segments, i details)"),
        }
    }

    /// The port whose segments are captured: the watched one, else the
    /// lab server's; only while the segments pane is open or a pcap file
    /// is being written.
    pub fn capture_port(&self) -> Option<u16> {
        let wanted = !self.segments_from_elsewhere()
            && (self.panes.is_open(Pane::Segments) || self.settings.pcap.is_some());
        let port = self
            .settings
            .port
            .or_else(|| self.session.follows_lab().then(|| self.lab.port()))
            .filter(|p| *p != 0);
        port.filter(|_| wanted)
    }

    /// The lab's link reports every segment itself, and a replay has its
    /// recording's: nothing to capture.
    fn segments_from_elsewhere(&self) -> bool {
        matches!(
            self.segments.capturing,
            Capturing::Link | Capturing::Recording
        )
    }

    /// Whether capture started for the port it was asked for.
    pub fn capture_started(&mut self, port: Option<u16>, result: Result<(), CaptureError>) {
        if self.segments_from_elsewhere() {
            return;
        }
        self.segments.capturing = match (port, result) {
            (Some(p), Ok(())) => Capturing::On(p),
            (Some(_), Err(why)) => {
                self.set_error(format!("no segments: {why}"));
                Capturing::Failed(why)
            }
            (None, _) if self.panes.is_open(Pane::Segments) => Capturing::NoPort,
            (None, _) => Capturing::Off,
        };
    }

    /// A segment seen on the wire.
    pub fn apply_segment(&mut self, c: crate::source::capture::Captured) {
        self.segments.log.seen(c.header, c.at, c.wall);
    }

    /// The recorded segments a replay's clock has reached.
    pub fn replay_segments(&mut self) -> bool {
        let Some(r) = self.session.replay() else {
            return false;
        };
        let due = r.playback.take_segments();
        let any = !due.is_empty();
        for (at, wall, h) in due {
            self.segments.log.seen(h, at, wall);
        }
        any && self.panes.is_open(Pane::Segments)
    }

    /// A packet entered, crossed or was lost on the lab's link.
    pub fn apply_passage(&mut self, p: &crate::source::link::Passage) {
        crate::lab::link::record(&mut self.segments.log, p, self.lab.port());
    }

    /// y or n to the question on screen.
    fn answer(&mut self, yes: bool) -> Option<Effect> {
        let Overlay::Confirm(question) = std::mem::take(&mut self.overlay) else {
            return None;
        };
        match question.then {
            OnYes::Quit => self.quit = yes,
            OnYes::Destroy(key, cookie, ns) if yes => {
                return Some(Effect::Destroy(key, cookie, ns));
            }
            OnYes::Destroy(..) => self.set_info("nothing destroyed"),
        }
        None
    }

    /// K: destroys the selected connection's socket through the kernel,
    /// after a question that names it and its owner.
    fn ask_destroy(&mut self) {
        let Some(conn) = self.selected_conn() else {
            return self.set_info("select a connection first, then K destroys it");
        };
        if conn.is_gone() {
            return self.set_info("that connection is already gone");
        }
        let owner = conn
            .row
            .owner
            .as_ref()
            .map_or_else(|| "owner unknown".to_string(), |o| o.label());
        let text = format!(
            "destroy {} ({}, {owner})? The kernel aborts it: the owner's next call fails (ECONNABORTED), a connected peer gets a RST. y destroys, n or Esc keeps it",
            conn.row.key.label(),
            conn.state()
        );
        let then = OnYes::Destroy(conn.row.key, conn.row.cookie, conn.row.netns);
        self.overlay = Overlay::Confirm(Question { text, then });
    }

    /// What the kernel said to a destroy request.
    pub fn destroyed(&mut self, key: &SocketKey, result: Result<(), DestroyError>) {
        match result {
            Ok(()) => self.set_info(format!(
                "destroyed {}: its owner gets ECONNABORTED, its peer a RST",
                key.label()
            )),
            Err(why) => self.set_error(format!("cannot destroy {}: {why}", key.label())),
        }
    }

    /// q: quits, but asks first while the lab holds sockets.
    fn ask_quit(&mut self) {
        match self.lab.busy() {
            Some(what) => {
                let text = format!("quit? {what} will be closed — y quits, n or Esc stays");
                let then = OnYes::Quit;
                self.overlay = Overlay::Confirm(Question { text, then });
            }
            None => self.quit = true,
        }
    }

    /// A new playback from `playback` on: the view starts over from its
    /// table (a pipeline's times never go back).
    pub fn replay_restarted(&mut self, playback: crate::source::playback::Playback) {
        self.session = Session::Replay(ReplaySession { playback });
        self.data = Data::default();
        self.table = TableView::default();
        self.memory.log = TransitionLog::new(self.settings.log_size);
        self.memory.log_scroll = 0;
        self.segments = SegmentsView {
            capturing: Capturing::Recording,
            ..SegmentsView::default()
        };
        self.relist();
    }

    fn toggle_classroom(&mut self) {
        self.classroom = !self.classroom;
        self.theme.contrast = self.classroom;
        let mode = if self.classroom { "on" } else { "off" };
        self.set_info(format!("presentation mode {mode}"));
    }

    fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        if self.paused {
            self.set_info("paused: reading continues, nothing is missed; space resumes");
        } else {
            if let Some(update) = self.held.take() {
                self.install(*update);
            }
            self.set_info("resumed");
        }
    }

    fn step_interval(&mut self, direction: i64) -> Option<Effect> {
        let ms = self.interval.as_millis() as u64;
        let next = if direction > 0 {
            INTERVAL_STEPS_MS.iter().copied().find(|&s| s > ms)
        } else {
            INTERVAL_STEPS_MS.iter().rev().copied().find(|&s| s < ms)
        };
        let Some(next) = next else {
            self.set_info(format!("reading every {} already (the limit)", fmt_ms(ms)));
            return None;
        };
        self.interval = Duration::from_millis(next);
        self.set_info(format!("reading the table every {}", fmt_ms(next)));
        Some(Effect::SetInterval(self.interval))
    }

    fn cycle_sort(&mut self) {
        self.table.sort = self.table.sort.next();
        self.relist();
        self.set_info(format!("sorted by state, then {}", self.table.sort.label()));
    }

    /// Applies a new filter (typed, or the lab's port).
    pub(super) fn set_filter(&mut self, filter: Filter) {
        self.follows_lab = None;
        self.filter = filter;
        self.relist();
    }

    pub(super) fn step(&mut self, delta: i64) {
        match self.focus {
            Focus::Groups => {
                self.table.step_group(delta);
                self.relist();
            }
            _ => self.move_cursor(delta),
        }
    }

    pub fn move_cursor(&mut self, delta: i64) {
        match self.focus {
            Focus::Log => {
                let last = self.memory.log.len().saturating_sub(1) as i64;
                let m = &mut self.memory;
                m.log_scroll = (m.log_scroll as i64)
                    .saturating_add(delta)
                    .clamp(0, last.max(0)) as usize;
            }
            Focus::Lab => {
                self.lab.move_cursor(delta);
                self.select_lab_in_table();
            }
            Focus::Segments => self.segments.scroll_by(delta),
            Focus::Table | Focus::Groups => {
                self.table.move_by(delta);
                self.selection_moved();
            }
        }
    }

    fn switch_panel(&mut self) {
        let lab = self.panes.is_open(Pane::Lab);
        let log = self.panes.is_open(Pane::Log);
        let segments = self.panes.is_open(Pane::Segments);
        self.focus = match self.focus {
            Focus::Groups => Focus::Table,
            Focus::Table if lab => Focus::Lab,
            Focus::Table | Focus::Lab if log => Focus::Log,
            Focus::Table | Focus::Lab | Focus::Log if segments => Focus::Segments,
            Focus::Table | Focus::Lab | Focus::Log | Focus::Segments => Focus::Groups,
        };
        if self.focus == Focus::Lab {
            self.select_lab_in_table();
        }
    }

    /// The group the table shows.
    pub fn group(&self) -> Group {
        self.table.group
    }

    pub fn set_page(&mut self, lines: usize) {
        self.table.set_page(lines);
    }

    pub fn set_info(&mut self, text: impl Into<String>) {
        self.status.say(text, false, self.now);
    }

    pub fn set_error(&mut self, text: impl Into<String>) {
        self.status.say(text, true, self.now);
    }

    /// The status message if it is still fresh.
    pub fn live_status(&self) -> Option<&Status> {
        self.status.live(self.now)
    }
}
