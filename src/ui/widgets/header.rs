//! Title line, one coloured chip per state, and the degradation line.

use crate::socket::TcpState;
use crate::ui::app::App;
use crate::ui::fmt::fmt_ms;
use crate::ui::listing::Group;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Two lines, plus one when there is something the user should know.
pub fn height(app: &App) -> u16 {
    if notice(app).is_some() { 3 } else { 2 }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = vec![title(app), chips(app, area.width)];
    if let Some((text, style)) = notice(app) {
        lines.push(Line::styled(text, style));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn title(app: &App) -> Line<'static> {
    let t = &app.theme;
    let sep = || Span::styled(" │ ", t.dim());
    let mut spans = vec![Span::styled("tcpscope", t.heading())];
    if let Some(port) = app.settings().port {
        spans.extend([sep(), Span::raw(format!("port {port}"))]);
    }
    if !app.filter.is_empty() {
        spans.extend([sep(), Span::raw(format!("filter: {}", app.filter.text()))]);
    }
    if app.group() != Group::All {
        spans.extend([sep(), Span::raw(format!("group: {}", app.group().label()))]);
    }
    let total = app.counts().total();
    spans.extend([
        sep(),
        Span::raw(format!(
            "{total} socket{}",
            if total == 1 { "" } else { "s" }
        )),
        sep(),
        Span::raw(format!("every {}", fmt_ms(app.interval.as_millis() as u64))),
        sep(),
        Span::styled(app.source_name.clone(), t.dim()),
    ]);
    if let Some(r) = app.session.replay() {
        spans.extend([sep(), Span::styled(r.position_text(), t.heading())]);
    }
    if app.paused {
        let style = t.warning().add_modifier(Modifier::REVERSED);
        spans.extend([Span::raw("  "), Span::styled(" PAUSED ", style)]);
    }
    Line::from(spans)
}

/// Chips for the states that have sockets, lifecycle order; short names
/// when the full ones do not fit.
fn chips(app: &App, width: u16) -> Line<'static> {
    let t = &app.theme;
    let present: Vec<(TcpState, usize)> = app.counts().present().collect();
    if present.is_empty() {
        return Line::styled("no sockets match", t.dim());
    }
    let full_width: usize = present
        .iter()
        .map(|(s, n)| s.name().len() + n.to_string().len() + 3)
        .sum();
    let short = full_width > usize::from(width);
    let spans = present.iter().flat_map(|&(state, n)| {
        let name = if short {
            short_name(state)
        } else {
            state.name()
        };
        [
            Span::styled(format!(" {name} {n} "), t.chip(state, n)),
            Span::raw(" "),
        ]
    });
    Line::from(spans.collect::<Vec<_>>())
}

fn short_name(state: TcpState) -> &'static str {
    match state {
        TcpState::Listen => "LSN",
        TcpState::SynSent => "SYN_S",
        TcpState::SynRecv => "SYN_R",
        TcpState::Established => "EST",
        TcpState::FinWait1 => "FW1",
        TcpState::FinWait2 => "FW2",
        TcpState::CloseWait => "CW",
        TcpState::Closing => "CLSG",
        TcpState::LastAck => "LA",
        TcpState::TimeWait => "TW",
        TcpState::Closed => "CLSD",
    }
}

/// A failing reading beats a suspicious one beats a known limitation:
/// show the most urgent.
fn notice(app: &App) -> Option<(String, Style)> {
    let t = &app.theme;
    if let Some(why) = &app.data.failing {
        let text = format!("⚠ the table is not being updated: {why}");
        return Some((text, t.error()));
    }
    if let Some(w) = &app.data.warning {
        return Some((format!("⚠ {w}"), t.warning()));
    }
    if app.data.degradations.is_empty() {
        return None;
    }
    // Every limitation on one line, most important first; the terminal
    // cuts what does not fit (M shows the full messages).
    let all: Vec<String> = app
        .data
        .degradations
        .iter()
        .map(ToString::to_string)
        .collect();
    Some((format!("ⓘ {}", all.join(" · ")), t.dim()))
}
