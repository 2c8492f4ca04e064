//! The `?` overlay: every key, from the same lists the key map documents.
//! Two columns (table, lab) when there is room, one otherwise.

use crate::socket::{TcpState, explain};
use crate::ui::app::{App, Focus};
use crate::ui::keymap::{Section, help_for};
use crate::ui::listing::Group;
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
    let t = &app.settings.theme;
    let replay = app.settings.replay.is_some();
    let view: Vec<_> = help_for(Section::View, replay).collect();
    let lab_keys: Vec<_> = help_for(Section::Lab, replay)
        .chain(help_for(Section::Demo, replay))
        .collect();
    let keys = section("keys", &view, t.heading());
    let lab = section(
        "lab keys (lab panel open) and demo keys",
        &lab_keys,
        t.heading(),
    );
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
    let t = &app.settings.theme;
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

fn section(
    title: &'static str,
    entries: &[(&'static str, &'static str)],
    bold: Style,
) -> Vec<Line<'static>> {
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
