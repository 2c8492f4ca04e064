//! The transition log panel: newest first, one line per event, following
//! the table's filter.

use crate::socket::EventKind;
use crate::ui::app::{App, Focus};
use chrono::{DateTime, Local};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

pub const HEIGHT: u16 = 9;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Focus::Log;
    let filter = &app.filter;
    let rows = usize::from(area.height.saturating_sub(2));
    // The filter judges each event itself: a CLOSE_WAIT filter shows the
    // change into CLOSE_WAIT and the one out of it.
    let lines: Vec<Line> = app
        .memory
        .log
        .newest_first()
        .filter(|e| filter.matches_event(e))
        .skip(app.memory.log_scroll)
        .take(rows)
        .map(|e| {
            let time: DateTime<Local> = e.wall.into();
            let what = match e.kind {
                EventKind::New => vec![Span::styled(e.state.name(), t.state(e.state))],
                EventKind::State { from, to } => vec![
                    Span::styled(from.name(), t.state(from)),
                    Span::raw(" → "),
                    Span::styled(to.name(), t.state(to)),
                ],
                EventKind::Gone => vec![Span::styled(format!("{} → gone", e.state), t.dim())],
            };
            let mut spans = vec![
                Span::styled(format!("{}  ", time.format("%H:%M:%S%.3f")), t.dim()),
                Span::raw(format!("{:<48} ", e.key.label())),
            ];
            spans.extend(what);
            if e.cause.is_known() {
                spans.push(Span::styled(format!("  ← {}", e.cause.words()), t.dim()));
            }
            Line::from(spans)
        })
        .collect();
    let log = &app.memory.log;
    let dropped = match log.dropped {
        0 => String::new(),
        n => format!(", {n} older dropped"),
    };
    let title = format!(
        " transitions ({} kept{dropped}, newest first; e closes) ",
        log.len()
    );
    let block = Block::bordered()
        .title(title)
        .border_style(t.focus_border(focused));
    let body = if lines.is_empty() {
        Paragraph::new(Line::styled(
            "no transitions yet: they appear here as connections change state",
            t.dim(),
        ))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body.block(block), area);
}
