//! The socket table, TCPView-style: new rows flash, changed rows show
//! `OLD→NEW`, vanished rows stay greyed until the tracker drops them.
//! Columns drop from the right as the terminal narrows.

use super::cells;
use crate::columns::{self, Column};
use crate::socket::Conn;
use crate::socket::human as format;
use crate::ui::app::{App, Focus};
use crate::ui::listing::{Group, Line};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table};
use std::time::Duration;

/// How long a new or changed row stays highlighted.
pub const FLASH: Duration = Duration::from_secs(3);

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Focus::Table;
    let tv = &app.table;
    let selected_line = tv.cursor_line();
    let visible = tv.listing.window(tv.offset, tv.page);
    let shown = columns::table(area.width, app.classroom);
    // Rows of other namespaces: a column says whose, after the state.
    let namespaces = visible.iter().any(|line| match *line {
        Line::Row(id) => app.data.get(id).is_some_and(|c| c.row.netns.is_some()),
        _ => false,
    });
    let cols = match namespaces {
        true => columns::with_netns(shown),
        false => shown.to_vec(),
    };
    let cols = cols.as_slice();
    let rows: Vec<Row> = visible
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let row = line_row(app, line, cols);
            if Some(tv.offset + n) == selected_line {
                row.style(patch_selected(app, line, focused))
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(cols.iter().map(|c| c.title())).style(t.heading());
    let table = Table::new(rows, widths(app, cols, &visible))
        .header(header)
        .column_spacing(1)
        .block(
            Block::bordered()
                .title(title(app))
                .border_style(t.focus_border(focused)),
        );
    frame.render_widget(table, area);
}

/// Each column as wide as what is on screen needs; the process column
/// takes the rest.
fn widths(app: &App, cols: &[Column], visible: &[Line]) -> Vec<Constraint> {
    let mut w: Vec<usize> = cols.iter().map(|c| c.title().chars().count()).collect();
    for line in visible {
        // A group heading sits in the first column: room for its count.
        let heading = match *line {
            Line::Heading(state, n) => Some(state.name().len() + digits(n) + 3),
            Line::Gone(n) => Some("GONE".len() + digits(n) + 3),
            Line::Row(_) => None,
        };
        if let (Some(need), Some(first)) = (heading, w.first_mut()) {
            *first = (*first).max(need);
        }
        let Line::Row(id) = *line else { continue };
        let Some(conn) = app.data.get(id) else {
            continue;
        };
        for (width, col) in w.iter_mut().zip(cols) {
            if *col != Column::Process {
                *width = (*width).max(text(app, conn, *col).chars().count());
            }
        }
    }
    cols.iter()
        .zip(w)
        .map(|(c, n)| match c {
            Column::Process => Constraint::Fill(1),
            _ => Constraint::Length(n.min(47) as u16),
        })
        .collect()
}

fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn title(app: &App) -> String {
    match app.group() {
        Group::All => format!(" sockets ({}) ", app.counts().total()),
        Group::State(s) => format!(" {s} ({}) ", app.counts().get(s)),
        Group::Netns(ns) => {
            let n = app.table.listing.namespaces.get(ns).copied().unwrap_or(0);
            format!(" namespace {} ({n}) ", crate::socket::printable(ns))
        }
    }
}

fn line_row<'a>(app: &'a App, line: &Line, cols: &[Column]) -> Row<'a> {
    match *line {
        Line::Heading(state, n) => {
            let t = &app.theme;
            let text = format!("{state} ({n})");
            Row::new([Cell::from(Span::styled(
                text,
                t.state(state).patch(t.heading()),
            ))])
        }
        Line::Gone(n) => {
            let t = &app.theme;
            let text = format!("GONE ({n})");
            Row::new([Cell::from(Span::styled(text, t.gone().patch(t.heading())))])
        }
        Line::Row(id) => match app.data.get(id) {
            Some(conn) => conn_row(app, conn, cols),
            None => Row::new([Cell::from("")]),
        },
    }
}

/// A cell's plain text (also what column widths are measured on): the
/// column model's, but for what the table draws its own way.
fn text(app: &App, conn: &Conn, col: Column) -> String {
    let row = &conn.row;
    match col {
        Column::State if app.classroom => format!(" {} ", state_cell(app, conn).0),
        Column::State => state_cell(app, conn).0,
        Column::RecvQ => cells::recv_q(row, &app.theme).content.into_owned(),
        Column::SendQ => cells::send_q(row, &app.theme).content.into_owned(),
        Column::InState => format::age_at_least(
            conn.time_in_state(app.now),
            conn.current_phase().entry_seen(),
        ),
        col => col.text(row, app.now),
    }
}

fn conn_row<'a>(app: &App, conn: &'a Conn, cols: &[Column]) -> Row<'a> {
    let t = &app.theme;
    let (state_text, flash) = state_cell(app, conn);
    let cell = |col: &Column| match col {
        // A flashing row has its own colours; the state colour would vanish on it.
        // In presentation mode the state is a coloured label you can read
        // from the back of the room.
        Column::State if app.classroom && flash.is_none() => Cell::from(Span::styled(
            format!(" {state_text} "),
            t.chip(conn.state(), 1),
        )),
        Column::State if flash.is_none() => {
            Cell::from(Span::styled(state_text.clone(), t.state(conn.state())))
        }
        Column::RecvQ => Cell::from(cells::recv_q(&conn.row, t)),
        Column::SendQ => Cell::from(cells::send_q(&conn.row, t)),
        col => Cell::from(text(app, conn, *col)),
    };
    let row = Row::new(cols.iter().map(cell));
    match flash {
        Some(style) => row.style(style),
        None => row,
    }
}

/// The state text and the row's highlight, if any.
fn state_cell(app: &App, conn: &Conn) -> (String, Option<Style>) {
    let t = &app.theme;
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
    let t = &app.theme;
    let base = match *line {
        Line::Row(id) => app
            .data
            .get(id)
            .and_then(|c| state_cell(app, c).1)
            .unwrap_or_default(),
        Line::Heading(..) | Line::Gone(_) => Style::default(),
    };
    if focused {
        base.patch(t.selected())
    } else {
        base.patch(t.heading())
    }
}
