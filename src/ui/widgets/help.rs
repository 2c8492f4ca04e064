//! The `?` overlay: every key, from the same lists the key map documents.
//! Two columns (table, lab) when there is room, one otherwise.

use crate::socket::{TcpState, explain};
use crate::ui::app::{App, Focus};
use crate::ui::keymap::{Section, help_for};
use crate::ui::listing::Group;
use crate::ui::session::Session;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

const TWO_COLUMNS_WIDTH: u16 = 100;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    // `?` on a state in the group panel explains that state instead.
    if let (Focus::Groups, Group::State(state)) = (app.focus, app.group()) {
        return explain_state(frame, area, app, state);
    }
    let t = &app.theme;
    let session = app.session.kinds();
    let lines = |s| help_for(s, session).filter_map(|b| b.label.map(|l| (l, b.help)));
    let view: Vec<_> = lines(Section::View).collect();
    let lab_keys: Vec<_> = lines(Section::Lab).chain(lines(Section::Demo)).collect();
    let keys = section(
        &format!("keys in the {}", app.session.name()),
        &view,
        t.heading(),
    );
    let lab = section(other_title(&app.session), &lab_keys, t.heading());
    let footer = Line::styled(" ? / Esc / q close this help", t.dim());
    let two = area.width >= TWO_COLUMNS_WIDTH;
    let rows = if two {
        keys.len().max(lab.len())
    } else {
        keys.len() + lab.len() + 1
    } + 3;
    let height = (rows as u16).min(area.height);
    let width = area.width.min(if two { 150 } else { 90 });
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    let block = Block::bordered().title(" help ");
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [body, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    frame.render_widget(footer, foot);
    if two {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(47), Constraint::Percentage(53)])
                .areas(body);
        frame.render_widget(Paragraph::new(keys), left);
        frame.render_widget(Paragraph::new(lab), right);
    } else {
        let mut all = keys;
        all.push(Line::raw(""));
        all.extend(lab);
        frame.render_widget(Paragraph::new(all), body);
    }
}

/// A `width` × `height` rectangle in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [middle] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(middle);
    popup
}

fn explain_state(frame: &mut Frame, area: Rect, app: &App, state: TcpState) {
    let t = &app.theme;
    let popup = centered(area, area.width.min(72), area.height.min(9));
    frame.render_widget(Clear, popup);
    let text = vec![
        Line::raw(explain::meaning(state)),
        Line::raw(""),
        Line::styled(
            "? closes · Tab to the table, then ? lists every key",
            t.dim(),
        ),
    ];
    let block = Block::bordered()
        .title(format!(" {state} "))
        .border_style(t.state(state));
    frame.render_widget(
        Paragraph::new(text)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(block),
        popup,
    );
}

/// The second column's title: what its keys belong to here.
fn other_title(session: &Session) -> &'static str {
    match (session.demo().is_some(), session.link().is_some()) {
        (true, true) => "demo, lab (lab panel open) and link keys",
        (true, false) => "demo and lab keys (lab panel open)",
        (false, true) => "lab (lab panel open) and link keys",
        (false, false) => "lab keys (lab panel open)",
    }
}

/// A titled list of keys; nothing at all without keys.
fn section(
    title: &str,
    entries: &[(&'static str, &'static str)],
    bold: Style,
) -> Vec<Line<'static>> {
    if entries.is_empty() {
        return Vec::new();
    }
    let width = entries
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = vec![Line::styled(format!(" {title}"), bold)];
    lines.extend(entries.iter().map(|(keys, what)| {
        Line::from(vec![
            Span::styled(format!(" {keys:<width$}  "), bold),
            Span::raw(*what),
        ])
    }));
    lines
}
