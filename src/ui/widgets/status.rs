//! The bottom line: the prompt, a message, or key hints.

use crate::ui::app::App;
use crate::ui::panes::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.settings.theme;
    let line = if let Some(prompt) = app.prompt() {
        let error = app.live_status().filter(|s| s.error);
        let mut spans = vec![
            Span::styled(prompt.kind.label(), t.heading()),
            Span::raw(prompt.text.clone()),
            Span::raw("█"),
        ];
        if let Some(e) = error {
            spans.extend([Span::raw("  "), Span::styled(e.line(), t.error())]);
        }
        Line::from(spans)
    } else if let Some(status) = app.live_status() {
        let style = if status.error {
            t.error()
        } else {
            Default::default()
        };
        Line::styled(status.line(), style)
    } else {
        Line::styled(
            if app.panes.is_open(Pane::Lab) {
                "S server  c connect  x close  w shutdown  R reset  t send  Tab panels  M messages  ? help  q quit"
            } else {
                "q quit  / filter  space pause  Tab panels  s sort  +/- interval  L lab  M messages  ? help"
            },
            t.dim(),
        )
    };
    frame.render_widget(line, area);
}
