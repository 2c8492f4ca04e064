//! The segments pane (`W`): the selected connection's ladder — client on
//! the left, server on the right, one arrow per segment with its flags and
//! numbers, each end's new state beside the arrow that moved it.

use crate::socket::crossings::{Crossing, Fate};
use crate::socket::ladder::{self, Direction, End, Rung, RungKind};
use crate::socket::{Conn, Segment, TcpState, addr};
use crate::ui::app::{App, Focus};
use crate::ui::segments_view::Capturing;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use std::net::SocketAddr;
use std::time::Instant;

/// Width of the time column: `+12.345s `.
const TIME: usize = 9;
/// The narrowest state column (ESTABLISHED).
const STATE: usize = 11;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Focus::Segments;
    let (title, lines) = match ladder_of(app) {
        Ok((client, conn, rungs)) => {
            let width = usize::from(area.width.saturating_sub(2));
            let height = usize::from(area.height.saturating_sub(3));
            let lines = ladder_lines(app, client, conn, &rungs, width, height);
            (title(app, rungs.len()), lines)
        }
        Err(why) => (title(app, 0), vec![Line::styled(why, t.dim())]),
    };
    let block = Block::bordered()
        .title(title)
        .border_style(t.focus_border(focused));
    let body = Paragraph::new(lines).wrap(Wrap { trim: false });
    frame.render_widget(body.block(block), area);
}

fn title(app: &App, rungs: usize) -> String {
    let port = match (app.segments.capturing.clone(), app.session.link().copied()) {
        (Capturing::On(p), _) => format!(" on port {p}"),
        (Capturing::Link, Some(l)) => {
            let pace = if l.down {
                "link down: all lost".to_string()
            } else if l.step {
                "step mode: n next, D drops, F flows".to_string()
            } else {
                format!(
                    "{} each way; n steps, D drops",
                    crate::ui::fmt::fmt_ms(l.delay.as_millis() as u64)
                )
            };
            format!(" on the lab's link · {pace}")
        }
        _ => String::new(),
    };
    let back = match app.segments.scroll {
        0 => String::new(),
        n => format!(", {n} back"),
    };
    format!(" segments{port} ({rungs} rungs{back}; W closes, z zooms) ")
}

type Ladder<'a> = (SocketAddr, &'a Conn, Vec<Rung>);

/// The selected connection's ladder, or why there is none.
fn ladder_of(app: &App) -> Result<Ladder<'_>, String> {
    match &app.segments.capturing {
        Capturing::Failed(why) => return Err(format!("no segments: {why}")),
        Capturing::NoPort => {
            return Err(
                "segments are captured for one port: start tcpscope with a port \
                        (tcpscope 8080), or open the lab (tcpscope lab)"
                    .into(),
            );
        }
        Capturing::Off | Capturing::On(_) | Capturing::Link | Capturing::Recording => {}
    }
    let selected = app
        .selected_conn()
        .ok_or("select a connection: its segments appear here")?;
    // A listener sends nothing itself: show its newest connection.
    let conn = if selected.state() == crate::socket::TcpState::Listen {
        newest_accepted(app, selected)
            .ok_or("a listener sends no segments: its connections' will show here")?
    } else {
        selected
    };
    let crossings: Vec<Crossing> = app
        .segments
        .log
        .between(&conn.row.key)
        .map(|l| l.iter().cloned().collect())
        .unwrap_or_default();
    if crossings.is_empty() {
        return Err(format!(
            "no segments of {} seen since capture began",
            conn.row.key.label()
        ));
    }
    // The other end, when it is on this machine (or across the lab's link).
    let k = &conn.row.key;
    let peer = app
        .data
        .conns
        .between(k.remote, k.local)
        .map_or_else(|| End::far(conn), |p| End::of(p));
    let (client, rungs) = ladder::build(&crossings, End::of(conn), peer);
    Ok((client, conn, rungs))
}

/// The newest connection to the listener's port (either end: before
/// the handshake ends, only the client's exists).
fn newest_accepted<'a>(app: &'a App, listener: &Conn) -> Option<&'a Conn> {
    let port = listener.row.key.local.port();
    let key = |c: &Conn| c.row.key;
    app.data
        .conns
        .iter()
        .map(|c| c.as_ref())
        .filter(|c| key(c).remote.port() != 0)
        .filter(|c| key(c).local.port() == port || key(c).remote.port() == port)
        .max_by_key(|c| c.id)
}

fn ladder_lines(
    app: &App,
    client: SocketAddr,
    conn: &Conn,
    rungs: &[Rung],
    width: usize,
    height: usize,
) -> Vec<Line<'static>> {
    let state_w = rungs
        .iter()
        .flat_map(|r| [states_text(&r.left).len(), states_text(&r.right).len()])
        .max()
        .unwrap_or(0)
        .clamp(STATE, 24);
    let arrow_w = width.saturating_sub(TIME + 2 * state_w + 2);
    let server = if conn.row.key.local == client {
        conn.row.key.remote
    } else {
        conn.row.key.local
    };
    let mut lines = vec![ends_line(app, client, server, width)];
    let start = rungs.first().map_or(app.now, |r| r.at);
    let end = rungs
        .len()
        .saturating_sub(app.segments.scroll.min(rungs.len()));
    let first = end.saturating_sub(height);
    let shape = Shape { state_w, arrow_w };
    for rung in &rungs[first..end] {
        lines.push(rung_line(app, rung, start, shape));
    }
    lines
}

fn ends_line(app: &App, client: SocketAddr, server: SocketAddr, width: usize) -> Line<'static> {
    let t = &app.theme;
    let left = format!("{:TIME$}client {}", "", addr::display(&client));
    let right = format!("server {}", addr::display(&server));
    let gap = width.saturating_sub(left.chars().count() + right.chars().count());
    Line::from(vec![
        Span::styled(left, t.heading()),
        Span::raw(" ".repeat(gap)),
        Span::styled(right, t.heading()),
    ])
}

#[derive(Clone, Copy)]
struct Shape {
    state_w: usize,
    arrow_w: usize,
}

fn rung_line(app: &App, rung: &Rung, start: Instant, shape: Shape) -> Line<'static> {
    let t = &app.theme;
    let since = rung.at.saturating_duration_since(start).as_secs_f64();
    let mut spans = vec![Span::styled(
        format!("{:<TIME$}", format!("+{since:.3}s")),
        t.dim(),
    )];
    spans.push(state_span(app, &rung.left, shape.state_w, true));
    let middle = match &rung.kind {
        RungKind::Segment {
            direction,
            segment,
            fate,
            flight,
        } => {
            let mut label = label(segment);
            if let Some(f) = flight {
                label.push_str(&format!(" ({:.1}s)", f.as_secs_f64()));
            }
            let style = if segment.retransmission || *fate == Fate::Dropped {
                t.warning()
            } else {
                Style::default()
            };
            Span::styled(arrow(&label, *direction, *fate, shape.arrow_w), style)
        }
        RungKind::Change => Span::styled(format!("{:^w$}", "(timer)", w = shape.arrow_w), t.dim()),
    };
    spans.push(Span::raw(" "));
    spans.push(middle);
    spans.push(Span::raw(" "));
    spans.push(state_span(app, &rung.right, shape.state_w, false));
    Line::from(spans)
}

fn states_text(states: &[TcpState]) -> String {
    states
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join("→")
}

fn state_span(app: &App, states: &[TcpState], width: usize, right_align: bool) -> Span<'static> {
    let text = states_text(states);
    let text = if right_align {
        format!("{text:>width$}")
    } else {
        format!("{text:<width$}")
    };
    let style = states
        .last()
        .map_or_else(Style::default, |s| app.theme.state(*s));
    Span::styled(text, style)
}

/// `SYN+ACK seq 0 ack 1 win 65483`, and what is special about it.
pub fn label(s: &Segment) -> String {
    let mut text = s.flags.names().join("+");
    text.push_str(&format!(" seq {}", s.seq));
    if s.flags.has(crate::socket::Flags::ACK) {
        text.push_str(&format!(" ack {}", s.ack));
    }
    if s.len > 0 {
        text.push_str(&format!(" len {}", s.len));
    }
    text.push_str(&format!(" win {}", s.win));
    if s.retransmission {
        text.push_str(" RETRANSMISSION");
    }
    text
}

/// `──SYN seq 0 win 65495────▶` in `width` columns; a segment still on
/// the lab's link is dashed with a hollow tip, a dropped one ends in a
/// cross.
pub fn arrow(label: &str, direction: Direction, fate: Fate, width: usize) -> String {
    let (line, tip, note) = match (fate, direction) {
        (Fate::Delivered, Direction::Right) => ('─', "▶", ""),
        (Fate::Delivered, Direction::Left) => ('─', "◀", ""),
        (Fate::InFlight, Direction::Right) => ('┄', "▷", " (in flight)"),
        (Fate::InFlight, Direction::Left) => ('┄', "◁", " (in flight)"),
        (Fate::Dropped, _) => ('─', "✕", " DROPPED"),
    };
    let text = format!(" {label}{note} ");
    let inner = width.saturating_sub(1);
    let text: String = text.chars().take(inner.saturating_sub(2)).collect();
    let fill = inner.saturating_sub(text.chars().count());
    let (before, after) = (2.min(fill), fill.saturating_sub(2.min(fill)));
    let run = |n: usize| line.to_string().repeat(n);
    match direction {
        Direction::Right => format!("{}{text}{}{tip}", run(before), run(after)),
        Direction::Left => format!("{tip}{}{text}{}", run(after), run(before)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_point_the_way_the_segment_goes_and_fit() {
        let r = arrow("SYN seq 0", Direction::Right, Fate::Delivered, 20);
        assert_eq!(r, "── SYN seq 0 ──────▶");
        let l = arrow("ACK", Direction::Left, Fate::Delivered, 12);
        assert_eq!(l, "◀──── ACK ──");
        assert_eq!(l.chars().count(), 12, "exactly the width");
        let dropped = arrow("FIN", Direction::Right, Fate::Dropped, 30);
        assert!(dropped.ends_with('✕') && dropped.contains("DROPPED"));
        let tiny = arrow(
            "SYN+ACK seq 0 ack 1 win 65483",
            Direction::Right,
            Fate::Delivered,
            10,
        );
        assert_eq!(tiny.chars().count(), 10);
    }
}
