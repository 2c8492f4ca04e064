//! The UI state. Only the event loop mutates it; widgets read `&App`.

use super::action::{Action, Mode};
use super::lab_view::LabView;
use super::listing::{Group, Listing, SortKey};
use super::prompt::{Prompt, PromptKind};
use super::theme::Theme;
use crate::lab::{LabCommand, LabConfig, LabEvent};
use crate::pipeline::history::{CountHistory, TransitionLog};
use crate::pipeline::runner::{DetailsReading, Feed, Update};
use crate::socket::SocketKey;
use crate::socket::{Conn, ConnId};
use crate::socket::{Filter, StateCounts};
use crate::source::Degradation;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Poll intervals `+` and `-` step through.
pub const INTERVAL_STEPS_MS: [u64; 10] = [10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10000];

/// How long an info message stays in the status line; errors stay twice as long.
pub const STATUS_TTL: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Groups,
    Table,
    Lab,
    Log,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub at: Instant,
}

/// Side effects the loop carries out for the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    SetInterval(Duration),
    Lab(LabCommand),
    /// Several lab commands, in order (a demo step).
    LabMany(Vec<LabCommand>),
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
}

pub struct App {
    pub conns: Vec<Arc<Conn>>,
    pub listing: Listing,
    /// Position in `listing.rows` of the selection.
    pub cursor: usize,
    /// First table line on screen.
    pub offset: usize,
    /// Table lines that fit on screen.
    pub page: usize,
    pub selected: Option<ConnId>,
    /// Index in `conns` of the selected connection's other end, if local.
    peer: Option<usize>,
    pub group: Group,
    pub focus: Focus,
    pub sort: SortKey,
    pub settings: Settings,
    pub paused: bool,
    held: Option<Box<Update>>,
    pub help: bool,
    /// The details pane of the selected connection is open.
    pub details_open: bool,
    /// The latest tcp_info reading for the pane.
    pub details: Option<DetailsReading>,
    /// What the sampler was last asked to watch.
    details_asked: Option<SocketKey>,
    pub prompt: Option<Prompt>,
    pub lab: LabView,
    pub log: TransitionLog,
    pub log_open: bool,
    /// How many (filtered) log lines are scrolled past, newest first.
    pub log_scroll: usize,
    pub history: CountHistory,
    /// The state-diagram view replaces the table.
    pub diagram: bool,
    /// The demo being played, if any.
    pub demo: Option<super::demo_player::DemoPlayer>,
    pub status: Option<Status>,
    pub warning: Option<String>,
    pub degradations: Vec<Degradation>,
    pub dumps: u64,
    /// The clock widgets measure ages against; set by the loop before drawing.
    pub now: Instant,
    pub quit: bool,
}

impl App {
    pub fn new(mut settings: Settings, now: Instant) -> Self {
        settings.theme.contrast |= settings.classroom;
        let lab = LabView::new(&settings.lab, settings.lab_visible);
        App {
            lab,
            log: TransitionLog::new(settings.log_size),
            log_open: false,
            log_scroll: 0,
            history: CountHistory::default(),
            diagram: settings.demo.is_some(),
            demo: settings
                .demo
                .clone()
                .map(super::demo_player::DemoPlayer::new),
            details_open: settings.demo.is_some(),
            conns: Vec::new(),
            listing: Listing::default(),
            cursor: 0,
            offset: 0,
            page: 10,
            selected: None,
            peer: None,
            group: Group::All,
            focus: Focus::Table,
            sort: SortKey::default(),
            settings,
            paused: false,
            held: None,
            help: false,
            details: None,
            details_asked: None,
            prompt: None,
            status: None,
            warning: None,
            degradations: Vec::new(),
            dumps: 0,
            now,
            quit: false,
        }
    }

    pub fn mode(&self) -> Mode {
        if self.prompt.is_some() {
            Mode::Prompt
        } else if self.help {
            Mode::Help
        } else {
            Mode::Normal
        }
    }

    pub fn counts(&self) -> &StateCounts {
        &self.listing.counts
    }

    pub fn selected_conn(&self) -> Option<&Conn> {
        let i = self.listing.conn_at(self.cursor)?;
        Some(&self.conns[i])
    }

    /// New data from the sampler. While paused it is held, not shown.
    pub fn apply_feed(&mut self, feed: Feed) {
        match feed {
            Feed::Update(update) if self.paused => self.hold(update),
            Feed::Update(update) => self.install(*update),
            Feed::Failed(text) => self.set_error(text),
        }
    }

    fn hold(&mut self, mut update: Box<Update>) {
        if let Some(older) = self.held.take() {
            let mut events = older.events;
            events.append(&mut update.events);
            update.events = events;
        }
        self.held = Some(update);
    }

    fn install(&mut self, update: Update) {
        self.log.record(&update.events, &update.conns);
        self.conns = update.conns;
        self.warning = update.warning;
        self.degradations = update.degradations;
        self.dumps = update.dumps;
        if update.details.is_some() {
            self.details = update.details;
        }
        self.relist();
        self.history.sample(self.listing.counts, self.now);
    }

    /// The connection whose tcp_info the sampler should read, when that
    /// differs from what it was last told (`Some(None)`: stop reading).
    pub fn details_request(&mut self) -> Option<Option<SocketKey>> {
        let wanted = if self.details_open {
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
        self.details.as_ref().filter(|d| d.key == key)
    }

    /// News from the lab: its sockets, its server, a command's result.
    pub fn apply_lab(&mut self, event: LabEvent) {
        let old_port = self.lab.port();
        let status = self.lab.apply(event);
        self.follow_lab_port(old_port);
        match status {
            Some(Ok(text)) => self.set_info(text),
            Some(Err(text)) => self.set_error(text),
            None => {}
        }
        self.lab.relink(&self.conns);
        self.demo_follow();
    }

    /// A table filtered to the lab's port follows the server to a new port.
    fn follow_lab_port(&mut self, old_port: u16) {
        let new_port = self.lab.port();
        if new_port == old_port
            || new_port == 0
            || self.settings.filter.text() != old_port.to_string()
        {
            return;
        }
        if let Ok(filter) = Filter::parse(&new_port.to_string()) {
            self.settings.filter = filter;
            self.relist();
        }
    }

    /// Rebuilds the listing and puts the cursor back on the selected
    /// connection wherever it moved; if it is gone for good, the cursor
    /// stays at the same height.
    pub fn relist(&mut self) {
        self.listing = Listing::build(&self.conns, &self.settings.filter, self.group, self.sort);
        let found = self
            .selected
            .and_then(|id| self.listing.position_of(&self.conns, id));
        match found {
            Some(pos) => self.cursor = pos,
            None => self.cursor = self.cursor.min(self.listing.rows.len().saturating_sub(1)),
        }
        self.remember_selection();
        self.keep_cursor_visible();
        self.lab.relink(&self.conns);
    }

    pub(super) fn remember_selection(&mut self) {
        let at = self.listing.conn_at(self.cursor);
        self.selected = at.map(|i| self.conns[i].id);
        if let Some(i) = at {
            self.lab.select_conn(i);
        }
        self.find_peer();
    }

    /// Looks up, once per change of selection or data rather than on every
    /// frame, the other end of the selected connection when it is local.
    fn find_peer(&mut self) {
        self.peer = self.selected_conn().and_then(|c| {
            let k = c.row.key;
            self.conns
                .iter()
                .position(|p| p.row.key.local == k.remote && p.row.key.remote == k.local)
        });
    }

    /// The other end of the selected connection, when it is on this machine.
    pub fn selected_peer(&self) -> Option<&Conn> {
        self.peer
            .and_then(|i| self.conns.get(i))
            .map(|c| c.as_ref())
    }

    /// Puts the table's cursor on the lab's selected socket, if the table
    /// shows it.
    pub fn select_lab_in_table(&mut self) {
        let Some(conn) = self.lab.selected_row().and_then(|r| r.conn) else {
            return;
        };
        let id = self.conns[conn].id;
        if let Some(pos) = self.listing.position_of(&self.conns, id) {
            self.cursor = pos;
            self.selected = Some(id);
            self.find_peer();
            self.keep_cursor_visible();
        }
    }

    pub fn handle(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::Up => self.step(-1),
            Action::Down => self.step(1),
            Action::PageUp => self.move_cursor(-(self.page.max(1) as i64)),
            Action::PageDown => self.move_cursor(self.page.max(1) as i64),
            Action::Top => self.move_cursor(i64::MIN / 2),
            Action::Bottom => self.move_cursor(i64::MAX / 2),
            Action::Scroll(n) => self.move_cursor(i64::from(n)),
            Action::SwitchPanel => self.switch_panel(),
            Action::Confirm if self.focus == Focus::Groups => self.focus = Focus::Table,
            Action::Confirm | Action::ToggleDetails => self.details_open = !self.details_open,
            Action::TogglePause => self.toggle_pause(),
            Action::Slower => return self.step_interval(1),
            Action::Faster => return self.step_interval(-1),
            Action::CycleSort => self.cycle_sort(),
            Action::ToggleHelp => self.help = !self.help,
            Action::OpenFilter => {
                self.open_prompt(PromptKind::Filter, self.settings.filter.text().to_string())
            }
            Action::Prompt(key) => return self.prompt_key(key),
            Action::Quit => self.quit = true,
            Action::Resize(..) => {}
            Action::ToggleLab => self.toggle_lab(),
            Action::ToggleLog => {
                self.log_open = !self.log_open;
                if !self.log_open && self.focus == Focus::Log {
                    self.focus = Focus::Table;
                }
            }
            Action::ToggleDiagram => self.diagram = !self.diagram,
            Action::ToggleClassroom => {
                self.settings.classroom = !self.settings.classroom;
                self.settings.theme.contrast = self.settings.classroom;
                let mode = if self.settings.classroom { "on" } else { "off" };
                self.set_info(format!("presentation mode {mode}"));
            }
            Action::Lab(super::action::LabKey::ToggleRead) if self.demo.is_some() => {
                return self.demo_restart();
            }
            Action::Lab(key) => return self.lab_key(key),
            Action::DemoNext => return self.demo_next(),
        }
        None
    }

    pub fn open_prompt(&mut self, kind: PromptKind, text: String) {
        self.prompt = Some(Prompt { kind, text });
    }

    fn toggle_lab(&mut self) {
        self.lab.visible = !self.lab.visible;
        if !self.lab.visible && self.focus == Focus::Lab {
            self.focus = Focus::Table;
        }
        if self.lab.visible {
            self.set_info("lab open: S starts the server, c connects a client, ? lists the keys");
        }
    }

    fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        if self.paused {
            self.set_info("paused: polling continues, nothing is missed; space resumes");
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
            self.set_info(format!("polling every {} already (the limit)", fmt_ms(ms)));
            return None;
        };
        self.settings.interval = Duration::from_millis(next);
        self.set_info(format!("polling every {}", fmt_ms(next)));
        Some(Effect::SetInterval(self.settings.interval))
    }

    fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
        self.relist();
        self.set_info(format!("sorted by state, then {}", self.sort.label()));
    }

    pub fn set_info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
            at: self.now,
        });
    }

    pub fn set_error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
            at: self.now,
        });
    }

    /// The status message if it is still fresh.
    pub fn live_status(&self) -> Option<&Status> {
        let status = self.status.as_ref()?;
        let ttl = if status.error {
            STATUS_TTL * 2
        } else {
            STATUS_TTL
        };
        (self.now.saturating_duration_since(status.at) < ttl).then_some(status)
    }
}

pub fn fmt_ms(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
