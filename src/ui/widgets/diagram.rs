//! The state-diagram view (`d`): the whole TCP state machine, each state
//! coloured when the filtered table has sockets in it, the selected
//! connection's state (and its peer's, when local) marked, and the arrow
//! of its last transition lit for a few seconds. Below: what that state
//! means.

use super::diagram_art::{ART, MASK};
use super::table::FLASH;
use crate::socket::Conn;
use crate::socket::cause::CauseKind;
use crate::socket::{TcpState, TimerKind, addr, explain};
use crate::ui::app::App;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

/// The arrow letter in [`MASK`] for a transition.
fn arrow(from: TcpState, to: TcpState) -> Option<char> {
    use TcpState::*;
    let c = match (from, to) {
        (Closed, Listen) => 'a',
        (Closed, SynSent) => 'b',
        (Listen, SynSent) => 'c',
        (Listen, SynRecv) => 'd',
        (SynSent, SynRecv) => 'e',
        (SynSent, Established) => 'f',
        (SynRecv, Established) => 'g',
        (SynRecv, FinWait1) => 'h',
        (Established, FinWait1) => 'i',
        (Established, CloseWait) => 'j',
        (FinWait1, FinWait2) => 'k',
        (FinWait1, Closing) => 'l',
        (CloseWait, LastAck) => 'm',
        (FinWait2, TimeWait) => 'n',
        (Closing, TimeWait) => 'o',
        (LastAck, Closed) => 'p',
        (TimeWait, Closed) => 'q',
        _ => return None,
    };
    Some(c)
}

/// What to mark: the selected connection's state, its peer's, and the
/// arrows of their recent transitions.
struct Marks {
    selected: Option<TcpState>,
    peer: Option<TcpState>,
    lit: Vec<char>,
}

fn marks(app: &App) -> Marks {
    let Some(conn) = app.selected_conn() else {
        return Marks {
            selected: None,
            peer: None,
            lit: Vec::new(),
        };
    };
    let peer = app.selected_peer();
    let recent = |c: &Conn| {
        c.last_change()
            .filter(|(_, at)| app.now.saturating_duration_since(*at) < FLASH)
            .and_then(|(from, _)| arrow(from, c.state()))
    };
    let mut lit: Vec<char> = recent(conn).into_iter().collect();
    lit.extend(peer.and_then(recent));
    Marks {
        selected: Some(conn.state()),
        peer: peer.map(|p| p.state()),
        lit,
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let height = ART.len() as u16;
    let [title, body, below] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(height.min(area.height.saturating_sub(1))),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(title_line(app), title);
    let m = marks(app);
    let width = ART.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16;
    let left = area.x + area.width.saturating_sub(width) / 2;
    let clocks = countdowns(app);
    let lines: Vec<Line> = ART
        .iter()
        .zip(MASK)
        .map(|(art, mask)| art_line(app, &with_countdowns(art, &clocks), mask, &m))
        .collect();
    let at = Rect {
        x: left,
        width: body.width.saturating_sub(left - area.x),
        ..body
    };
    frame.render_widget(Paragraph::new(lines), at);
    if below.height > 0 {
        frame.render_widget(explanation(app, &m), below);
    }
}

/// The running TIME_WAIT (2MSL) and FIN_WAIT_2 (orphan fin timeout)
/// timers of the selected connection and its peer, as `(state, left)`.
fn countdowns(app: &App) -> Vec<(TcpState, String)> {
    [app.selected_conn(), app.selected_peer()]
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let timer = c.row.timer.as_ref()?;
            let ours = matches!(
                (c.state(), timer.kind),
                (TcpState::TimeWait, TimerKind::TimeWait)
                    | (TcpState::FinWait2, TimerKind::FinTimeout)
            );
            let left = crate::socket::human::age(timer.remaining(app.now));
            ours.then(|| (c.state(), left))
        })
        .collect()
}

/// The art row with a countdown written into it, keeping its width so
/// the arrow mask still lines up: on the 2MSL arrow out of TIME_WAIT,
/// and in the margin left of FIN_WAIT_2.
fn with_countdowns(art: &str, clocks: &[(TcpState, String)]) -> String {
    let mut row = art.to_string();
    for (state, left) in clocks {
        let (anchor, text) = match state {
            TcpState::TimeWait => ("──── timeout=2MSL ────", format!(" 2MSL: {left} left ")),
            _ => ("           [ FIN_WAIT_2 ]", format!("{left} left ")),
        };
        let Some(at) = row.find(anchor) else { continue };
        let width = anchor.chars().count();
        let replaced = match state {
            TcpState::TimeWait => format!("{text:─^width$}"),
            _ => format!("{text:>11}[ FIN_WAIT_2 ]"),
        };
        if replaced.chars().count() == width {
            row.replace_range(at..at + anchor.len(), &replaced);
        }
    }
    row
}

fn title_line(app: &App) -> Line<'static> {
    let t = &app.theme;
    match app.selected_conn() {
        Some(c) => Line::from(vec![
            Span::styled("state diagram · ", t.heading()),
            Span::raw(format!(
                "▶ {} → {} in {}",
                addr::display(&c.row.key.local),
                addr::display(&c.row.key.remote),
                c.state()
            )),
            Span::styled("  (↑↓ another connection, d back to the table)", t.dim()),
        ]),
        None => Line::styled(
            "state diagram · no connection selected (d back to the table)",
            t.heading(),
        ),
    }
}

/// One row of the art with boxes coloured and marked, arrows lit.
fn art_line(app: &App, art: &str, mask: &str, m: &Marks) -> Line<'static> {
    let t = &app.theme;
    let lit = lit_style(app);
    let chars: Vec<char> = art.chars().collect();
    let mask: Vec<char> = mask.chars().collect();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '['
            && let Some((span, len)) = box_span(app, &chars[i..], m)
        {
            spans.push(span);
            i += len;
            continue;
        }
        let edge = mask.get(i).copied().unwrap_or('.');
        let style = if m.lit.contains(&edge) {
            lit
        } else if edge == '.' {
            Style::default()
        } else {
            t.dim()
        };
        spans.push(Span::styled(chars[i].to_string(), style));
        i += 1;
    }
    Line::from(spans)
}

fn lit_style(app: &App) -> Style {
    let t = &app.theme;
    if t.color {
        Style::default()
            .fg(ratatui::style::Color::Yellow)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
}

/// `[ NAME ]` as a chip: coloured when sockets are in that state, marked
/// `▶ ◀` for the selected connection and `» «` for its peer.
fn box_span(app: &App, rest: &[char], m: &Marks) -> Option<(Span<'static>, usize)> {
    let end = rest.iter().position(|&c| c == ']')?;
    let name: String = rest[1..end].iter().collect();
    let state = TcpState::parse(name.trim())?;
    let t = &app.theme;
    let count = app.counts().get(state);
    let (open, close, extra) = if m.selected == Some(state) {
        ('▶', '◀', Modifier::REVERSED | Modifier::BOLD)
    } else if m.peer == Some(state) {
        ('»', '«', Modifier::UNDERLINED | Modifier::BOLD)
    } else {
        ('[', ']', Modifier::empty())
    };
    let text = format!("{open}{}{close}", &name);
    let style = if count > 0 {
        t.chip(state, count)
    } else {
        t.state(state)
    };
    Some((Span::styled(text, style.add_modifier(extra)), end + 1))
}

/// The label of a lit arrow: `ESTABLISHED → CLOSE_WAIT  received
/// segment: FIN received`, while the arrow is lit and its cause known.
fn last_move(app: &App, c: &Conn) -> Option<Line<'static>> {
    let (from, at) = c.last_change()?;
    let cause = &c.current_phase().cause;
    if app.now.saturating_duration_since(at) >= FLASH || !cause.is_known() {
        return None;
    }
    let kind = match cause.kind() {
        CauseKind::Call => "app call",
        CauseKind::Segment => "received segment",
        CauseKind::Timer => "timer",
        CauseKind::Unknown => return None,
    };
    Some(Line::from(vec![
        Span::styled(format!("{from} → {}  ", c.state()), lit_style(app)),
        Span::styled(format!("{kind}: "), app.theme.heading()),
        Span::raw(cause.words()),
    ]))
}

/// Counts per state, the lit arrows' causes, and what the selected
/// state means.
fn explanation(app: &App, m: &Marks) -> Paragraph<'static> {
    let t = &app.theme;
    let counts: Vec<Span> = app
        .counts()
        .present()
        .flat_map(|(s, n)| {
            [
                Span::styled(format!(" {s} {n} "), t.chip(s, n)),
                Span::raw(" "),
            ]
        })
        .collect();
    let mut lines = vec![Line::from(counts)];
    let ends = app.selected_conn().into_iter().chain(app.selected_peer());
    lines.extend(ends.filter_map(|c| last_move(app, c)));
    if let Some(state) = m.selected {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{state}: "),
                t.state(state).add_modifier(Modifier::BOLD),
            ),
            Span::raw(explain::meaning(state)),
        ]));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(Block::default())
}
