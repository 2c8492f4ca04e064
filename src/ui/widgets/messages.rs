//! The message history (`M`): every status line so far, newest first,
//! whole (the status line cuts long ones), and the quit question.

use super::help::centered;
use crate::ui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let popup = centered(
        area,
        area.width.saturating_sub(4).min(140),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, popup);
    let mut lines: Vec<Line> = app
        .status
        .newest_first()
        .map(|s| {
            let age = crate::socket::human::age(app.now.saturating_duration_since(s.at));
            let style = if s.error {
                t.error()
            } else {
                Default::default()
            };
            Line::from(vec![
                Span::styled(format!("{age:>7} ago  "), t.dim()),
                Span::styled(s.line(), style),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::styled("no messages yet", t.dim()));
    }
    let title = format!(
        " messages ({}, newest first; M / Esc closes) ",
        app.status.len()
    );
    let body = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(title));
    frame.render_widget(body, popup);
}

/// A yes/no question in the middle of the screen.
pub fn confirm(frame: &mut Frame, area: Rect, app: &App, title: &str, text: &str) {
    let t = &app.theme;
    let width = area.width.min(70);
    let body = Paragraph::new(Line::raw(text.to_string())).wrap(Wrap { trim: true });
    // As tall as the wrapped question (plus the border), so its answer
    // keys are never cut off.
    let lines = body.line_count(width.saturating_sub(2)) as u16;
    let popup = centered(area, width, area.height.min(lines + 2));
    frame.render_widget(Clear, popup);
    let title = format!(" {title} ");
    let body = body.block(Block::bordered().title(title).border_style(t.warning()));
    frame.render_widget(body, popup);
}
