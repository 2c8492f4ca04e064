//! The socket table, TCPView-style: new rows flash, changed rows show
//! `OLD→NEW`, vanished rows stay greyed until the tracker drops them.

use crate::socket::addr;
use crate::track::Conn;
use crate::ui::app::{App, Focus};
use crate::ui::format;
use crate::ui::listing::{Group, Line};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table};
use std::time::Duration;

/// How long a new or changed row stays highlighted.
pub const FLASH: Duration = Duration::from_secs(3);

/// Below this table width only address and state columns are shown.
const COMPACT_WIDTH: u16 = 64;

const TITLES: [&str; 5] = [
    "Local Address",
    "Remote Address",
    "State",
    "In state",
    "PID/Process",
];

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.settings.theme;
    let focused = app.focus == Focus::Table;
    let selected_line = app.listing.rows.get(app.cursor).copied();
    let visible = app
        .listing
        .lines
        .iter()
        .enumerate()
        .skip(app.offset)
        .take(app.page);
    let rows: Vec<Row> = visible
        .map(|(n, line)| {
            let row = line_row(app, line);
            if Some(n) == selected_line {
                row.style(patch_selected(app, line, focused))
            } else {
                row
            }
        })
        .collect();
    // Narrow screens keep the three columns that say the most.
    let columns = if area.width < COMPACT_WIDTH {
        3
    } else {
        TITLES.len()
    };
    let header = Row::new(TITLES.into_iter().take(columns)).style(t.heading());
    let widths: Vec<Constraint> = column_widths(app).into_iter().take(columns).collect();
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .block(
            Block::bordered()
                .title(title(app))
                .border_style(t.focus_border(focused)),
        );
    frame.render_widget(table, area);
}

/// Address and state columns as wide as what is on screen needs; the
/// process column takes the rest.
fn column_widths(app: &App) -> [Constraint; 5] {
    let mut local = TITLES[0].len();
    let mut remote = TITLES[1].len();
    let mut state = TITLES[2].len();
    for line in app.listing.lines.iter().skip(app.offset).take(app.page) {
        let Line::Row(i) = *line else { continue };
        let conn = &app.conns[i];
        local = local.max(addr::display(&conn.row.key.local).chars().count());
        remote = remote.max(addr::display(&conn.row.key.remote).chars().count());
        state = state.max(state_cell(app, conn).0.chars().count());
    }
    let len = |n: usize| Constraint::Length(n.min(47) as u16);
    [
        len(local),
        len(remote),
        len(state),
        Constraint::Length(8),
        Constraint::Fill(1),
    ]
}

fn title(app: &App) -> String {
    match app.group {
        Group::All => format!(" sockets ({}) ", app.counts().total()),
        Group::State(s) => format!(" {s} ({}) ", app.counts().get(s)),
    }
}

fn line_row<'a>(app: &'a App, line: &Line) -> Row<'a> {
    match *line {
        Line::Heading(state, n) => {
            let t = &app.settings.theme;
            let text = format!("{state} ({n})");
            Row::new([Cell::from(Span::styled(
                text,
                t.state(state).patch(t.heading()),
            ))])
        }
        Line::Row(i) => conn_row(app, &app.conns[i]),
    }
}

fn conn_row<'a>(app: &App, conn: &'a Conn) -> Row<'a> {
    let t = &app.settings.theme;
    let (state_text, flash) = state_cell(app, conn);
    let phase = conn.current_phase();
    let age = format::age_at_least(conn.time_in_state(app.now), phase.entry_seen);
    let cells = [
        Cell::from(addr::display(&conn.row.key.local)),
        Cell::from(addr::display(&conn.row.key.remote)),
        // A flashing row has its own colours; the state colour would vanish on it.
        Cell::from(match flash {
            Some(_) => Span::raw(state_text),
            None => Span::styled(state_text, t.state(conn.state())),
        }),
        Cell::from(age),
        Cell::from(conn.row.pid_label()),
    ];
    let row = Row::new(cells);
    match flash {
        Some(style) => row.style(style),
        None => row,
    }
}

/// The state text and the row's highlight, if any.
fn state_cell(app: &App, conn: &Conn) -> (String, Option<Style>) {
    let t = &app.settings.theme;
    let recent = |at| app.now.saturating_duration_since(at) < FLASH;
    if conn.is_gone() {
        return (format!("{} (gone)", conn.state()), Some(t.gone()));
    }
    if let Some((from, _)) = conn.last_change().filter(|(_, at)| recent(*at)) {
        return (format!("{from}→{}", conn.state()), Some(t.changed()));
    }
    if conn.appeared_at.is_some_and(recent) {
        return (conn.state().to_string(), Some(t.appeared()));
    }
    (conn.state().to_string(), None)
}

fn patch_selected(app: &App, line: &Line, focused: bool) -> Style {
    let t = &app.settings.theme;
    let base = match *line {
        Line::Row(i) => state_cell(app, &app.conns[i]).1.unwrap_or_default(),
        Line::Heading(..) => Style::default(),
    };
    if focused {
        base.patch(t.selected())
    } else {
        base.patch(t.heading())
    }
}
