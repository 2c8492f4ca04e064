//! The `?` overlay: every key, from the same list the key map documents.

use crate::ui::action::KEY_HELP;
use crate::ui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.settings.theme;
    let key_width = KEY_HELP
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = KEY_HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<key_width$}  "), t.heading()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(" ? / Esc / q close this help", t.dim()));
    let height = (lines.len() as u16 + 2).min(area.height);
    let width = 92.min(area.width);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(popup);
    frame.render_widget(Clear, popup);
    let help = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(" keys "));
    frame.render_widget(help, popup);
}
