//! The demo pane: the step just played, the call it made, and what to
//! look at.

use crate::ui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};

pub const HEIGHT: u16 = 5;

/// Rows the demo pane wants: one more for the kernel's counters.
pub fn height(app: &App) -> u16 {
    HEIGHT + u16::from(app.segments.counters_line().is_some())
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(demo) = app.session.demo().map(|d| &d.player) else {
        return;
    };
    let t = &app.theme;
    let back = if demo.looking_back.is_some() {
        "looking back · "
    } else {
        ""
    };
    let title = format!(
        " demo: {} ({back}n next · p previous · r restart) ",
        demo.scenario.title
    );
    let block = Block::bordered().title(title).border_style(t.heading());
    let mut lines = vec![Line::raw(demo.shown().to_string())];
    if let Some(counters) = app.segments.counters_line() {
        lines.push(Line::styled(counters, t.dim()));
    }
    let text = Paragraph::new(lines).wrap(Wrap { trim: true });
    frame.render_widget(text.block(block), area);
}

/// The speaker-notes pane (`N`): what the presenter wants to remember
/// about the step on screen, kept off the narration the class reads.
pub fn draw_notes(frame: &mut Frame, area: Rect, app: &App) {
    let Some(demo) = app.session.demo().map(|d| &d.player) else {
        return;
    };
    let t = &app.theme;
    let block = Block::bordered()
        .title(" speaker notes (N closes) ")
        .border_style(t.dim());
    let notes = match demo.notes() {
        "" => Line::styled(
            "no notes for this step (add 'note:' lines to the demo file)",
            t.dim(),
        ),
        text => Line::raw(text.to_string()),
    };
    let body = Paragraph::new(notes).wrap(Wrap { trim: true });
    frame.render_widget(body.block(block), area);
}
