//! The bottom line: the filter prompt, a message, or key hints.

use crate::ui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.settings.theme;
    let line = if let Some(prompt) = &app.prompt {
        let error = app.live_status().filter(|s| s.error);
        let mut spans = vec![
            Span::styled(prompt.kind.label(), t.heading()),
            Span::raw(prompt.text.clone()),
            Span::raw("█"),
        ];
        if let Some(e) = error {
            spans.extend([Span::raw("  "), Span::styled(e.text.clone(), t.error())]);
        }
        Line::from(spans)
    } else if let Some(status) = app.live_status() {
        let style = if status.error {
            t.error()
        } else {
            Default::default()
        };
        Line::styled(status.text.clone(), style)
    } else {
        Line::styled(
            if app.lab.visible {
                "S server  c connect  x close  w shutdown  R reset  t send  Tab panels  ? help  q quit"
            } else {
                "q quit  / filter  space pause  Tab panels  s sort  +/- interval  L lab  ? help"
            },
            t.dim(),
        )
    };
    frame.render_widget(line, area);
}
