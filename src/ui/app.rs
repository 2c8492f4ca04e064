//! The UI state. Only the event loop mutates it; widgets read `&App`.
//! Parts are addressed by identity: the table's selection is a connection
//! id, the lab's a lab socket id, never a position in a list.

use super::demo_player::DemoPlayer;
use super::keymap::{Action, Mode};
use super::lab_view::LabView;
use super::listing::{Group, Line};
use super::panes::{OnYes, Overlay, Pane, Panes, Question};
use super::prompt::{Prompt, PromptKind};
use super::segments_view::{Capturing, SegmentsView};
use super::status::{Status, StatusLine};
use super::table_view::TableView;
use super::theme::Theme;
use crate::lab::{LabCommand, LabConfig, LabEvent};
use crate::pipeline::Mirror;
use crate::pipeline::history::{CountHistory, TransitionLog};
use crate::pipeline::runner::{DetailsReading, Feed, MAX_PENDING_EVENTS, Update};
use crate::socket::{Conn, ConnId, Filter, SocketKey, StateCounts};
use crate::source::Degradation;
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

/// Side effects the loop carries out for the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    SetInterval(Duration),
    /// Destroy the socket on these ends (its cookie, if known).
    /// Destroy the socket on these ends (its cookie, if known), in the
    /// lab link's namespace it lives in, if any.
    Destroy(SocketKey, Option<u64>, Option<&'static str>),
    Lab(LabCommand),
    /// Several lab commands, in order (a demo step).
    LabMany(Vec<LabCommand>),
    /// Steer the lab's link.
    Link(crate::lab::link::LinkCall),
    /// Start the replay over at this moment of the recording.
    ReplaySeek(std::time::SystemTime),
}

/// How the app was started: what the header reports.
#[derive(Clone, Debug)]
pub struct Settings {
    pub port: Option<u16>,
    pub filter: Filter,
    pub interval: Duration,
    pub source: String,
    pub theme: Theme,
    pub lab: LabConfig,
    /// Open with the lab panel showing (`tcpscope lab`).
    pub lab_visible: bool,
    /// Transition log entries kept.
    pub log_size: usize,
    /// Presentation mode: big, high-contrast, fewer columns.
    pub classroom: bool,
    /// A scenario to play step by step (`tcpscope demo NAME`).
    pub demo: Option<crate::demo::Scenario>,
    /// Also write the captured segments to this pcap file.
    pub pcap: Option<std::path::PathBuf>,
    /// The lab runs across the slow-motion link (`lab --wire`).
    pub link: bool,
    /// Also write the event stream to this file (`--record`).
    pub record: Option<std::path::PathBuf>,
    /// A recording played back (`tcpscope replay`): the keys steer it.
    pub replay: Option<crate::source::playback::Playback>,
    /// Serve Prometheus metrics here as well (`--metrics`).
    pub metrics: Option<std::net::SocketAddr>,
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
    pub settings: Settings,
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
    pub demo: Option<DemoPlayer>,
    pub status: StatusLine,
    pub paused: bool,
    held: Option<Box<Update>>,
    /// The other end of the selected connection, when it is local.
    peer: Option<ConnId>,
    /// What the pipeline was last asked to read tcp_info for.
    details_asked: Option<SocketKey>,
    /// The rows on screen the pipeline was last told of.
    rows_asked: Vec<SocketKey>,
    /// The port the filter follows while it is the lab server's.
    pub(super) lab_filter: Option<u16>,
    /// The clock widgets measure ages against; set by the loop before drawing.
    pub now: Instant,
    pub quit: bool,
}

impl Settings {
    /// The one port the sources need to read: the watched port, else the
    /// lab server's while the table follows it (its filter is that port).
    pub fn watched_port(&self) -> Option<u16> {
        let lab = || self.lab_visible.then(|| self.filter.text().parse().ok());
        self.port.or_else(|| lab().flatten())
    }
}

impl App {
    pub fn new(mut settings: Settings, now: Instant) -> Self {
        settings.theme.contrast |= settings.classroom;
        let lab = LabView::new(&settings.lab);
        let mut open = Vec::new();
        if settings.lab_visible {
            open.push(Pane::Lab);
        }
        // On the link the segments tell the story; elsewhere the diagram.
        match (settings.demo.is_some(), settings.link) {
            (true, false) => open.extend([Pane::Diagram, Pane::Details]),
            (true, true) => open.extend([Pane::Details, Pane::Segments]),
            (false, true) => open.push(Pane::Segments),
            (false, false) => {}
        }
        // Only the lab's port is followed; a port given is fixed.
        let lab_filter = settings.watched_port().filter(|_| settings.port.is_none());
        App {
            memory: Memory {
                log: TransitionLog::new(settings.log_size),
                log_scroll: 0,
                history: CountHistory::default(),
            },
            demo: settings.demo.clone().map(DemoPlayer::new),
            lab,
            segments: SegmentsView {
                capturing: Self::segment_source(&settings),
                ..SegmentsView::default()
            },
            zoomed: None,
            data: Data::default(),
            table: TableView::default(),
            panes: Panes::with(&open),
            overlay: Overlay::None,
            focus: Focus::Table,
            status: StatusLine::default(),
            settings,
            paused: false,
            held: None,
            peer: None,
            details_asked: None,
            rows_asked: Vec::new(),
            lab_filter,
            now,
            quit: false,
        }
    }

    pub fn mode(&self) -> Mode {
        match self.overlay {
            Overlay::Prompt(_) => Mode::Prompt,
            Overlay::Help | Overlay::Messages => Mode::Reading,
            Overlay::Confirm(_) => Mode::Confirm,
            Overlay::None if self.demo.is_some() => Mode::Demo,
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
            Feed::Failed(text) => {
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

    /// The port the sources read now (every port, for `None`): the lab's
    /// moves with its server, and a filter of the user's own needs all.
    pub fn watched_port(&self) -> Option<u16> {
        self.settings.port.or(self.lab_filter)
    }

    /// A table filtered to the lab's port follows the server to a new port.
    fn follow_lab_port(&mut self) {
        let Some(old) = self.lab_filter else { return };
        let new = self.lab.port();
        if new == old || new == 0 {
            return;
        }
        if let Ok(filter) = Filter::parse(&new.to_string()) {
            self.settings.filter = filter;
            self.lab_filter = Some(new);
            self.relist();
        }
    }

    /// Rebuilds the table around the selected connection, re-links the
    /// lab, and finds the selection's other end.
    pub fn relist(&mut self) {
        self.table.relist(&self.data.conns, &self.settings.filter);
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
            // In a replay, g (and Home) jump in time.
            Action::Top if self.settings.replay.is_some() => {
                self.open_prompt(PromptKind::Jump, String::new());
            }
            Action::Top => self.move_cursor(i64::MIN / 2),
            Action::Bottom => self.move_cursor(i64::MAX / 2),
            Action::Scroll(n) => self.move_cursor(i64::from(n)),
            Action::SwitchPanel => self.switch_panel(),
            Action::Confirm if self.focus == Focus::Groups => self.focus = Focus::Table,
            Action::Confirm | Action::ToggleDetails => self.toggle(Pane::Details),
            Action::Back => self.back(),
            Action::TogglePause if self.settings.replay.is_some() => self.replay_pause(),
            Action::TogglePause => self.toggle_pause(),
            Action::Slower if self.settings.replay.is_some() => self.replay_speed(2.0),
            Action::Faster if self.settings.replay.is_some() => self.replay_speed(0.5),
            Action::Slower => return self.step_interval(1),
            Action::Faster => return self.step_interval(-1),
            Action::ReplayStep => self.replay_step(),
            Action::ReplayBack => return self.replay_back(),
            Action::CycleSort => self.cycle_sort(),
            Action::ToggleHelp => self.toggle_overlay(Overlay::Help),
            Action::ToggleMessages => self.toggle_overlay(Overlay::Messages),
            Action::OpenFilter => {
                let text = self.settings.filter.text().to_string();
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
            // On the lab's link, d in the segments pane drops the next one.
            Action::ToggleDiagram if self.settings.link && self.focus == Focus::Segments => {
                return self.link_key(crate::lab::link::LinkCall::DropNext);
            }
            Action::ToggleDiagram => self.toggle(Pane::Diagram),
            Action::Link(call) => return self.link_key(call),
            Action::ToggleSegments => self.toggle(Pane::Segments),
            Action::Zoom => self.zoom(),
            Action::ToggleClassroom => self.toggle_classroom(),
            Action::DemoNext => return self.demo_next(),
            Action::DemoRestart => return self.demo_restart(),
            Action::DemoPrevious => self.demo_previous(),
            Action::ToggleNotes => self.toggle(Pane::Notes),
            Action::Lab(key) => return self.lab_key(key),
        }
        None
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
            .or_else(|| self.settings.lab_visible.then(|| self.lab.port()))
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

    /// Where segments come from when the app starts (and a replay starts
    /// over).
    fn segment_source(settings: &Settings) -> Capturing {
        match (settings.link, settings.replay.is_some()) {
            (true, _) => Capturing::Link,
            (false, true) => Capturing::Recording,
            (false, false) => Capturing::Off,
        }
    }

    /// Whether capture started for the port it was asked for.
    pub fn capture_started(&mut self, port: Option<u16>, result: Result<(), String>) {
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
        let Some(p) = &self.settings.replay else {
            return false;
        };
        let due = p.take_segments();
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

    /// n outside a demo, on the lab's link: step mode, and the next
    /// waiting segment through.
    pub(super) fn link_next(&mut self) -> Option<Effect> {
        use crate::lab::link::LinkCall;
        let link = self.segments.link.as_mut()?;
        if !link.step {
            link.step = true;
            self.set_info("step mode: segments wait on the link; n lets the next one through, F lets them flow");
            return Some(Effect::Link(LinkCall::Hold(true)));
        }
        Some(Effect::Link(LinkCall::Release(1)))
    }

    /// Steers the lab's link; without one, says what would.
    pub(super) fn link_key(&mut self, call: crate::lab::link::LinkCall) -> Option<Effect> {
        use crate::lab::link::LinkCall;
        let Some(link) = self.segments.link.as_mut() else {
            self.set_info("no link to steer: start the lab with tcpscope lab --wire (root)");
            return None;
        };
        match call {
            LinkCall::Hold(on) => link.step = on,
            LinkCall::Delay(ms) => link.delay = Duration::from_millis(ms),
            LinkCall::Down(on) => link.down = on,
            LinkCall::Release(_) | LinkCall::DropNext | LinkCall::Flood(_) => {}
        }
        let text = match call {
            LinkCall::DropNext => "the next segment on the link will be lost".to_string(),
            LinkCall::Hold(false) => format!(
                "segments flow again, each {} on the link",
                fmt_ms(link.delay.as_millis() as u64)
            ),
            LinkCall::Delay(ms) => format!("each segment now takes {} to cross", fmt_ms(ms)),
            _ => String::new(),
        };
        if !text.is_empty() {
            self.set_info(text);
        }
        Some(Effect::Link(call))
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
    pub fn destroyed(&mut self, key: &SocketKey, result: Result<(), String>) {
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

    fn replay_pause(&mut self) {
        let Some(p) = &self.settings.replay else {
            return;
        };
        let text = if p.toggle_pause() {
            "replay paused: → plays the next event, space goes on"
        } else {
            "replay playing"
        };
        self.set_info(text);
    }

    fn replay_speed(&mut self, by: f64) {
        let Some(p) = &self.settings.replay else {
            return;
        };
        let speed = p.scale_speed(by);
        self.set_info(format!("replay at {}× real time", fmt_speed(speed)));
    }

    fn replay_step(&mut self) {
        let Some(p) = &self.settings.replay else {
            return self.set_info("→ steps through a recording: tcpscope replay FILE");
        };
        if !p.step() {
            self.set_info("the recording has no more events");
        }
    }

    /// ←: one event fewer on screen.
    fn replay_back(&mut self) -> Option<Effect> {
        let Some(p) = &self.settings.replay else {
            self.set_info("← steps back through a recording: tcpscope replay FILE");
            return None;
        };
        Some(Effect::ReplaySeek(p.previous_event()))
    }

    /// A new playback from `playback` on: the view starts over from its
    /// table (a pipeline's times never go back).
    pub fn replay_restarted(&mut self, playback: crate::source::playback::Playback) {
        self.settings.replay = Some(playback);
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
        self.settings.classroom = !self.settings.classroom;
        self.settings.theme.contrast = self.settings.classroom;
        let mode = if self.settings.classroom { "on" } else { "off" };
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
        let ms = self.settings.interval.as_millis() as u64;
        let next = if direction > 0 {
            INTERVAL_STEPS_MS.iter().copied().find(|&s| s > ms)
        } else {
            INTERVAL_STEPS_MS.iter().rev().copied().find(|&s| s < ms)
        };
        let Some(next) = next else {
            self.set_info(format!("reading every {} already (the limit)", fmt_ms(ms)));
            return None;
        };
        self.settings.interval = Duration::from_millis(next);
        self.set_info(format!("reading the table every {}", fmt_ms(next)));
        Some(Effect::SetInterval(self.settings.interval))
    }

    fn cycle_sort(&mut self) {
        self.table.sort = self.table.sort.next();
        self.relist();
        self.set_info(format!("sorted by state, then {}", self.table.sort.label()));
    }

    /// Applies a new filter (typed, or the lab's port).
    pub(super) fn set_filter(&mut self, filter: Filter) {
        self.lab_filter = None;
        self.settings.filter = filter;
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

/// `0.001`, `2`, `0.5`: a speed without trailing zeros.
pub fn fmt_speed(speed: f64) -> String {
    let text = format!("{speed:.5}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn fmt_ms(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
