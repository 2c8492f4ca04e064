//! The demo pane: the step just played, the call it made, and what to
//! look at.

use crate::ui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};

pub const HEIGHT: u16 = 5;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(demo) = &app.demo else { return };
    let t = &app.settings.theme;
    let title = format!(" demo: {} (n next · r restart) ", demo.scenario.title);
    let block = Block::bordered().title(title).border_style(t.heading());
    let text = Paragraph::new(Line::raw(demo.narration.clone())).wrap(Wrap { trim: true });
    frame.render_widget(text.block(block), area);
}
