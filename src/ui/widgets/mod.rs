//! Drawing. Every function here reads `&App` and writes a frame; none
//! does I/O or changes state.

mod cells;
mod demo;
mod details;
mod diagram;
mod diagram_art;
mod groups;
mod header;
mod help;
mod lab;
mod log;
mod messages;
pub mod segments;
mod status;
mod table;

use super::app::App;
use super::panes::{Overlay, Pane};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Paragraph, Wrap};

/// Below this the UI shows one line asking for more room.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;
/// Below this width the group panel is hidden (Tab still selects groups).
pub const GROUPS_MIN_WIDTH: u16 = 90;
const GROUPS_WIDTH: u16 = 30;

/// Where each part goes for a given terminal size.
pub struct Areas {
    pub header: Rect,
    pub groups: Option<Rect>,
    pub table: Rect,
    pub details: Option<Rect>,
    pub log: Option<Rect>,
    pub demo: Option<Rect>,
    pub notes: Option<Rect>,
    pub lab: Option<Rect>,
    pub segments: Option<Rect>,
    pub status: Rect,
}

pub fn areas(area: Rect, app: &App) -> Areas {
    let header_height = header::height(app);
    let [header, body, status] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some(pane) = app.zoomed {
        return zoomed(pane, header, body, status);
    }
    let (body, lab) = split_lab(body, app);
    let (body, demo) = split_bottom(body, app.session.demo().is_some(), demo::height(app));
    let notes_open = app.session.demo().is_some() && app.panes.is_open(Pane::Notes);
    let (body, notes) = split_bottom(body, notes_open, demo::HEIGHT);
    let (body, log) = split_bottom(body, app.panes.is_open(Pane::Log), log::HEIGHT);
    let segments_height = (body.height / 2).max(8);
    let (body, segments) = split_bottom(body, app.panes.is_open(Pane::Segments), segments_height);
    let (body, details) = split_details(body, app);
    let (groups, table) = if area.width < GROUPS_MIN_WIDTH {
        (None, body)
    } else {
        let [g, t] =
            Layout::horizontal([Constraint::Length(GROUPS_WIDTH), Constraint::Min(10)]).areas(body);
        (Some(g), t)
    };
    Areas {
        header,
        groups,
        table,
        details,
        log,
        demo,
        notes,
        lab,
        segments,
        status,
    }
}

/// One pane on the whole body; the table keeps a line so that the
/// selection (which the pane follows) still has a place.
fn zoomed(pane: Pane, header: Rect, body: Rect, status: Rect) -> Areas {
    let mut a = Areas {
        header,
        groups: None,
        table: Rect { height: 0, ..body },
        details: None,
        log: None,
        demo: None,
        notes: None,
        lab: None,
        segments: None,
        status,
    };
    let slot = match pane {
        Pane::Details => &mut a.details,
        Pane::Log => &mut a.log,
        Pane::Lab => &mut a.lab,
        Pane::Segments => &mut a.segments,
        Pane::Notes => &mut a.notes,
        Pane::Diagram => {
            a.table = body;
            return a;
        }
    };
    *slot = Some(body);
    a
}

/// A full-width pane of `height` under the body, when open and there is room.
fn split_bottom(area: Rect, open: bool, height: u16) -> (Rect, Option<Rect>) {
    if !open || area.height < height + 5 {
        return (area, None);
    }
    let [body, pane] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(height)]).areas(area);
    (body, Some(pane))
}

/// The details pane sits under the table when open and there is room.
fn split_details(area: Rect, app: &App) -> (Rect, Option<Rect>) {
    let height = details::wanted_height(app).min(area.height.saturating_sub(5));
    if !app.panes.is_open(Pane::Details) || height < 6 {
        return (area, None);
    }
    let [table, pane] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(height)]).areas(area);
    (table, Some(pane))
}

/// The lab panel spans the full width below the table and takes what it
/// needs, up to half the height.
fn split_lab(area: Rect, app: &App) -> (Rect, Option<Rect>) {
    if !app.panes.is_open(Pane::Lab) {
        return (area, None);
    }
    let most = (area.height / 2).max(area.height.saturating_sub(5).min(6));
    let height = lab::wanted_height(app).min(most);
    let [table, panel] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(height)]).areas(area);
    (table, Some(panel))
}

/// Table lines that fit: the table area less its border and column titles.
pub fn table_page(area: Rect, app: &App) -> usize {
    usize::from(areas(area, app).table.height.saturating_sub(3))
}

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if app.blank {
        return; // a black screen while the presenter talks
    }
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small ({}x{}): need at least {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        );
        let text = Paragraph::new(text).wrap(Wrap { trim: true });
        frame.render_widget(text, area);
        return;
    }
    let a = areas(area, app);
    header::draw(frame, a.header, app);
    let table_shown = a.table.height > 0;
    if !table_shown {
        // Zoomed onto a pane other than the diagram.
    } else if app.panes.is_open(Pane::Diagram) {
        // The diagram needs the width: it takes the table's and the groups' place.
        diagram::draw(frame, a.groups.map_or(a.table, |g| g.union(a.table)), app);
    } else {
        if let Some(groups) = a.groups {
            groups::draw(frame, groups, app);
        }
        table::draw(frame, a.table, app);
    }
    if let Some(pane) = a.details {
        details::draw(frame, pane, app);
    }
    if let Some(pane) = a.log {
        log::draw(frame, pane, app);
    }
    if let Some(pane) = a.segments {
        segments::draw(frame, pane, app);
    }
    if let Some(pane) = a.demo {
        demo::draw(frame, pane, app);
    }
    if let Some(pane) = a.notes {
        demo::draw_notes(frame, pane, app);
    }
    if let Some(panel) = a.lab {
        lab::draw(frame, panel, app);
    }
    status::draw(frame, a.status, app);
    match &app.overlay {
        Overlay::Help => help::draw(frame, area, app),
        Overlay::Messages => messages::draw(frame, area, app),
        Overlay::Confirm(q) => messages::confirm(frame, area, app, q.then.title(), &q.text),
        Overlay::None | Overlay::Prompt(_) => {}
    }
}
