//! The bottom line: the prompt, a message, or key hints.

use crate::ui::app::App;
use crate::ui::panes::Pane;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

/// Input characters shown however long the error beside them.
const MIN_SHOWN: usize = 12;

/// The last `room` characters of `text`, the cut marked with `…`.
fn tail(text: &str, room: usize) -> String {
    let count = text.chars().count();
    if count <= room {
        return text.to_string();
    }
    let kept: String = text.chars().skip(count - room + 1).collect();
    format!("…{kept}")
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let line = if let Some(prompt) = app.prompt() {
        let error = app.live_status().filter(|s| s.error).map(|e| e.line());
        let label = prompt.kind.label();
        // The cursor, two spaces and the error stay in sight: a long
        // input (a paste) shows its end, as a shell's line does.
        let used = label.chars().count() + 1 + error.as_ref().map_or(0, |e| e.chars().count() + 2);
        let room = usize::from(area.width).saturating_sub(used).max(MIN_SHOWN);
        let mut spans = vec![
            Span::styled(label, t.heading()),
            Span::raw(tail(&prompt.text, room)),
            Span::raw("█"),
        ];
        if let Some(e) = error {
            spans.extend([Span::raw("  "), Span::styled(e, t.error())]);
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
        Line::styled(app.session.hint(app.panes.is_open(Pane::Lab)), t.dim())
    };
    frame.render_widget(line, area);
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn a_long_input_shows_its_end() {
        assert_eq!(tail("sport 80", 20), "sport 80");
        assert_eq!(tail("state LISTEN", 6), "…ISTEN");
        assert_eq!(tail("ab", 2), "ab");
    }
}
