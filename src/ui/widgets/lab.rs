//! The lab panel: the server's settings on one line, then every lab
//! socket with its side, the kernel's state for it, bytes, and the last
//! socket call made on it.

use crate::lab::{LabSocket, ServerOptions, Side};
use crate::socket::addr;
use crate::ui::app::{App, Focus};
use crate::ui::lab_view::LabRow;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

/// "state" is the kernel's, read from the socket table like every row.
const TITLES: [&str; 8] = [
    "#",
    "side",
    "local",
    "remote",
    "state",
    "sent",
    "recv",
    "last call",
];

/// Lines the panel wants: border, settings line, titles, rows.
pub fn wanted_height(app: &App) -> u16 {
    (app.lab.rows.len() as u16).max(2) + 4
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Focus::Lab;
    let block = Block::bordered()
        .title(" lab ")
        .border_style(t.focus_border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [settings, table] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Paragraph::new(settings_line(app)), settings);
    if app.lab.rows.is_empty() {
        let hint = "no lab sockets yet: S starts the server, c connects a client";
        frame.render_widget(Line::styled(hint, t.dim()), table);
        return;
    }
    draw_rows(frame, table, app, focused);
}

/// What the lab actor reports: the running server's own options, or the
/// options the next start will use, and the lab-wide settings.
fn settings_line(app: &App) -> Line<'static> {
    let t = &app.theme;
    let s = &app.lab.settings;
    let onoff = |b: bool| if b { "on" } else { "off" };
    let options = |o: &ServerOptions| {
        let buffers = o
            .buffers
            .map(|n| format!(" · buffers {n}"))
            .unwrap_or_default();
        format!(
            "backlog {} · reuseaddr {}{buffers}",
            o.backlog,
            onoff(o.reuseaddr)
        )
    };
    let mut spans = match &s.running {
        Some(r) => {
            let mut spans = vec![
                Span::styled(format!("server listening on {}", r.addr), t.heading()),
                Span::raw(format!(" ({})", options(&r.options))),
            ];
            if options(&s.next) != options(&r.options) {
                spans.push(Span::styled(
                    format!(" · next start: {}", options(&s.next)),
                    t.dim(),
                ));
            }
            spans
        }
        None => {
            let at = match s.next.port {
                0 => format!("{}, a free port", s.next.bind),
                p => std::net::SocketAddr::new(s.next.bind, p).to_string(),
            };
            vec![
                Span::styled(format!("server stopped (S starts it on {at})"), t.dim()),
                Span::raw(format!(" ({})", options(&s.next))),
            ]
        }
    };
    spans.extend([
        Span::styled(" │ ", t.dim()),
        Span::raw(format!(
            "accept {} · hold {} · clients → {}",
            s.accept.label(),
            onoff(s.hold),
            s.target_label()
        )),
    ]);
    Line::from(spans)
}

fn draw_rows(frame: &mut Frame, area: Rect, app: &App, focused: bool) {
    let t = &app.theme;
    let page = usize::from(area.height.saturating_sub(1)).max(1);
    let cursor = app.lab.cursor();
    let offset = cursor.saturating_sub(page - 1);
    let rows: Vec<Row> = app
        .lab
        .rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(page)
        .map(|(i, r)| {
            let row = socket_row(app, *r);
            if i == cursor {
                row.style(if focused { t.selected() } else { t.heading() })
            } else {
                row
            }
        })
        .collect();
    let (local, remote) = address_widths(app);
    let widths = [
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(local),
        Constraint::Length(remote),
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(Row::new(TITLES).style(t.heading()))
        .column_spacing(1);
    frame.render_widget(table, area);
}

/// Address columns as wide as the longest address listed.
fn address_widths(app: &App) -> (u16, u16) {
    let width = |text: String| text.chars().count().clamp(6, 47) as u16;
    app.lab.rows.iter().fold((6, 6), |(l, r), row| {
        let Some(s) = app.lab.socket(row.socket) else {
            return (l, r);
        };
        let remote = s
            .remote
            .map_or_else(|| "*".to_string(), |a| addr::display(&a));
        (l.max(width(addr::display(&s.local))), r.max(width(remote)))
    })
}

fn socket_row(app: &App, r: LabRow) -> Row<'static> {
    let t = &app.theme;
    let Some(s) = app.lab.socket(r.socket) else {
        return Row::new([Cell::from("")]);
    };
    let state = app.lab.state(r, &app.data.conns);
    let state_cell = match state {
        Some(st) => Cell::from(Span::styled(st.name(), t.state(st))),
        None if s.open => Cell::from(Span::styled("not shown", t.dim())),
        None => Cell::from(Span::styled("gone", t.dim())),
    };
    let remote = s
        .remote
        .map_or_else(|| "*".to_string(), |a| addr::display(&a));
    let row = Row::new([
        Cell::from(format!("#{}", s.id)),
        Cell::from(s.side.label()),
        Cell::from(addr::display(&s.local)),
        Cell::from(remote),
        state_cell,
        Cell::from(bytes(s.sent)),
        Cell::from(bytes(s.received)),
        Cell::from(call_text(s)),
    ]);
    if s.open { row } else { row.style(t.dim()) }
}

/// The last call plus what is unusual about the socket's policy.
fn call_text(s: &LabSocket) -> String {
    let mut text = s.call_text();
    if s.side != Side::Listener && s.open {
        if !s.reading {
            text.push_str("  [not reading]");
        }
        if s.echo {
            text.push_str("  [echo]");
        }
        if s.peer_closed {
            text.push_str("  [peer closed]");
        }
    }
    text
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} K", n as f64 / 1024.0),
        _ => format!("{:.1} M", n as f64 / 1_048_576.0),
    }
}
