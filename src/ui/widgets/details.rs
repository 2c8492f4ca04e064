//! The details pane: everything known about the selected connection —
//! queues, timer, owner, tcp_info (read only while this pane is open),
//! and the states it went through.

use super::cells;
use crate::socket::human as format;
use crate::socket::{Conn, Phase};
use crate::socket::{SocketKey, TcpDetails, TcpState, addr, explain, printable};
use crate::ui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

/// Wanted height; the pane shrinks to fit smaller terminals.
pub const HEIGHT: u16 = 22;

/// Lines the pane wants for the current selection (borders included),
/// allowing two extra for the explanation to wrap.
pub fn wanted_height(app: &App) -> u16 {
    let lines = app
        .selected_conn()
        .map_or(1, |c| conn_lines(app, c).len() + 2);
    (lines as u16 + 2).min(HEIGHT)
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let block = Block::bordered()
        .title(" details (i closes) ")
        .border_style(t.dim());
    let lines = match app.selected_conn() {
        Some(conn) => conn_lines(app, conn),
        None => vec![Line::styled(
            "select a connection to see its details",
            t.dim(),
        )],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

fn label(text: &'static str, app: &App) -> Span<'static> {
    Span::styled(format!("{text:<9}"), app.theme.heading())
}

fn conn_lines(app: &App, conn: &Conn) -> Vec<Line<'static>> {
    let t = &app.theme;
    let row = &conn.row;
    let age = format::age_at_least(
        conn.time_in_state(app.now),
        conn.current_phase().entry_seen(),
    );
    let gone = if conn.is_gone() { "  (gone)" } else { "" };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!(
                "{} → {}  ",
                addr::display(&row.key.local),
                addr::display(&row.key.remote)
            ),
            t.heading(),
        ),
        Span::styled(row.state.name(), t.state(row.state)),
        Span::raw(format!(" for {age}{gone}")),
    ])];
    let timer = cells::timer(row, app.now);
    let queues = if row.state == TcpState::Listen {
        format!(
            "accept queue {} of backlog {}",
            cells::queue(row.recv_q),
            cells::queue(row.send_q)
        )
    } else {
        format!(
            "Recv-Q {}  Send-Q {}",
            cells::queue(row.recv_q),
            cells::queue(row.send_q)
        )
    };
    let timer = if timer.is_empty() {
        "none".to_string()
    } else {
        timer
    };
    lines.push(Line::from(vec![
        label("queues", app),
        Span::raw(format!("{queues}   timer {timer}")),
    ]));
    lines.push(Line::from(vec![
        label("owner", app),
        Span::raw(owner(app, conn)),
    ]));
    lines.extend(close_wait_line(app, conn));
    lines.extend(tcp_info_lines(app, conn));
    lines.extend(timeline_lines(app, conn));
    lines.push(Line::from(vec![
        label("meaning", app),
        Span::styled(explain::meaning(row.state), t.dim()),
    ]));
    lines
}

/// One end's states in a line, or, when both ends are local, a ladder:
/// the two timelines side by side, aligned in time.
fn timeline_lines(app: &App, conn: &Conn) -> Vec<Line<'static>> {
    let Some(other) = app.selected_peer() else {
        let mut lines = vec![Line::from(vec![
            label("timeline", app),
            Span::raw(timeline(app, conn)),
        ])];
        lines.extend(why_lines(app, conn));
        return lines;
    };
    ladder(app, conn, other)
}

/// Most transitions explained under a one-end timeline (the latest).
const WHY_ROWS: usize = 4;

/// `FIN_WAIT_1 ← close() by python3 (4242)`, one line per recent state;
/// nothing when no cause is known (polling without root says none).
fn why_lines(app: &App, conn: &Conn) -> Vec<Line<'static>> {
    let t = &app.theme;
    if !conn.timeline.iter().any(|p| p.cause.is_known()) {
        return Vec::new();
    }
    let skip = conn.timeline.len().saturating_sub(WHY_ROWS);
    let mut lines = Vec::new();
    for (i, p) in conn.timeline.iter().enumerate().skip(skip) {
        let head = if i == skip {
            label("why", app)
        } else {
            label("", app)
        };
        lines.push(Line::from(vec![
            head,
            Span::styled(p.state.name(), t.state(p.state)),
            Span::styled(format!(" ← {}", p.cause.words()), t.dim()),
        ]));
    }
    if let Some(end) = conn.is_gone().then_some(&conn.end_cause) {
        lines.push(Line::from(vec![
            label("", app),
            Span::styled("gone", t.dim()),
            Span::styled(format!(" ← {}", end.words()), t.dim()),
        ]));
    }
    lines
}

/// A CLOSE_WAIT waits on its own program: since when the peer closed,
/// and which process has yet to call close().
fn close_wait_line(app: &App, conn: &Conn) -> Option<Line<'static>> {
    if conn.state() != TcpState::CloseWait || conn.is_gone() {
        return None;
    }
    let phase = conn.current_phase();
    let since: chrono::DateTime<chrono::Local> = phase.entered_wall.into();
    let ago = format::age_at_least(
        app.now.saturating_duration_since(phase.entered),
        phase.entry_seen(),
    );
    let holder = match conn.row.owner.as_deref().filter(|o| !o.procs.is_empty()) {
        Some(o) => format!("held open by {}, which has not called close()", o.all()),
        None => "its holder is not known (run as root to see it)".to_string(),
    };
    Some(Line::from(vec![
        label("closing", app),
        Span::styled(
            format!(
                "the peer closed {ago} ago (at {}); {holder}",
                since.format("%H:%M:%S%.3f")
            ),
            app.theme.state(TcpState::CloseWait),
        ),
    ]))
}

/// Most rungs shown in the ladder (the latest ones).
const LADDER_ROWS: usize = 10;
const LADDER_COLUMN: usize = 22;

/// One rung: when, and the state each end entered then (if it moved).
type Rung<'a> = (std::time::Instant, Option<&'a Phase>, Option<&'a Phase>);

/// Both ends' phases merged into rungs; phases seen in the same reading
/// share a rung.
fn rungs<'a>(this: &'a Conn, other: &'a Conn) -> Vec<Rung<'a>> {
    let mut steps: Vec<(std::time::Instant, bool, &Phase)> = this
        .timeline
        .iter()
        .map(|p| (p.entered, true, p))
        .chain(other.timeline.iter().map(|p| (p.entered, false, p)))
        .collect();
    steps.sort_by_key(|(at, mine, _)| (*at, !*mine));
    let mut rows: Vec<Rung> = Vec::new();
    for (at, mine, phase) in steps {
        match rows.last_mut() {
            Some(last) if last.0 == at && mine && last.1.is_none() => last.1 = Some(phase),
            Some(last) if last.0 == at && !mine && last.2.is_none() => last.2 = Some(phase),
            _ => rows.push((at, mine.then_some(phase), (!mine).then_some(phase))),
        }
    }
    rows
}

fn ladder(app: &App, this: &Conn, other: &Conn) -> Vec<Line<'static>> {
    let t = &app.theme;
    let rows = rungs(this, other);
    let Some(start) = rows.first().map(|r| r.0) else {
        return Vec::new();
    };
    let side = |k: &SocketKey| format!("{:<LADDER_COLUMN$}", addr::display(&k.local));
    let mut lines = vec![Line::from(vec![
        label("timeline", app),
        Span::styled(
            format!(
                "{:<11}{}{}",
                "time",
                side(&this.row.key),
                side(&other.row.key)
            ),
            t.heading(),
        ),
    ])];
    let skip = rows.len().saturating_sub(LADDER_ROWS);
    for (at, left, right) in rows.into_iter().skip(skip) {
        let offset = at.saturating_duration_since(start).as_secs_f64();
        let why = rung_why(left, right);
        let (l, ls) = rung_cell(app, left);
        let (r, rs) = rung_cell(app, right);
        lines.push(Line::from(vec![
            Span::raw(" ".repeat(9)),
            Span::styled(format!("+{offset:<10.6}"), t.dim()),
            Span::styled(l, ls),
            Span::styled(r, rs),
            Span::styled(why, t.dim()),
        ]));
    }
    lines
}

/// Why the ends on a rung moved, in words: `← FIN received`.
fn rung_why(left: Option<&Phase>, right: Option<&Phase>) -> String {
    let known = |p: Option<&Phase>| p.filter(|p| p.cause.is_known()).map(|p| p.cause.words());
    match (known(left), known(right)) {
        (Some(l), Some(r)) => format!("← {l} / {r}"),
        (Some(w), None) | (None, Some(w)) => format!("← {w}"),
        (None, None) => String::new(),
    }
}

fn rung_cell(app: &App, p: Option<&Phase>) -> (String, ratatui::style::Style) {
    let t = &app.theme;
    match p {
        Some(p) if p.entry_seen() => (
            format!("{:<LADDER_COLUMN$}", p.state.name()),
            t.state(p.state),
        ),
        Some(p) => {
            let text = format!("{} (already)", p.state.name());
            (format!("{text:<LADDER_COLUMN$}"), t.state(p.state))
        }
        None => (format!("{:<LADDER_COLUMN$}", "│"), t.dim()),
    }
}

/// Every process holding the socket (a forked child shares its parent's
/// descriptors: that is the `+` in the table), the user and the inode.
fn owner(app: &App, conn: &Conn) -> String {
    let row = &conn.row;
    let mut parts = Vec::new();
    let held = row.owner.as_deref().filter(|o| !o.procs.is_empty());
    parts.push(match held {
        Some(o) if o.procs.len() > 1 => {
            format!("{} processes share it: {}", o.procs.len(), o.all())
        }
        Some(o) => o.all(),
        None if row.state == TcpState::TimeWait => {
            "none: the kernel keeps a TIME_WAIT on its own".to_string()
        }
        None => match stream_kind(app) {
            Some(kind) => format!("no process named in {kind}"),
            None => "no process (an orphan the kernel finishes, or not visible: run as root)"
                .to_string(),
        },
    });
    match (&row.user, row.uid) {
        (Some(u), Some(uid)) => parts.push(format!("user {} (uid {uid})", printable(u))),
        (None, Some(uid)) => parts.push(format!("uid {uid}")),
        _ => {}
    }
    if let Some(inode) = row.inode {
        parts.push(format!("inode {inode}"));
    }
    parts.join(" · ")
}

/// What the rows come from when it is a stream, not this kernel: advice
/// about sources and root would be advice about the wrong machine.
fn stream_kind(app: &App) -> Option<&'static str> {
    let source = app.source_name.as_str();
    if source.starts_with("remote") {
        Some("the remote host's stream")
    } else if source.starts_with("replay") {
        Some("the recording")
    } else {
        None
    }
}

fn tcp_info_lines(app: &App, conn: &Conn) -> Vec<Line<'static>> {
    let t = &app.theme;
    let note = |text: String| {
        vec![Line::from(vec![
            label("tcp_info", app),
            Span::styled(text, t.dim()),
        ])]
    };
    let Some(reading) = app.selected_details() else {
        return note("reading…".into());
    };
    if !reading.supported {
        return note(match stream_kind(app) {
            Some(kind) => format!("not in {kind}: it carries states, queues and owners"),
            None => format!(
                "not available from {}; use --source sockdiag (Linux)",
                app.source_name
            ),
        });
    }
    match &reading.info {
        Err(e) => note(e.clone()),
        Ok(None) => note(format!(
            "none: the kernel keeps no tcp_info for a socket in {}",
            conn.state()
        )),
        Ok(Some(d)) => info_lines(app, d),
    }
}

fn info_lines(app: &App, d: &TcpDetails) -> Vec<Line<'static>> {
    let ms = |us: u32| match us {
        0..1000 => format!("{us} µs"),
        _ => format!("{:.1} ms", f64::from(us) / 1000.0),
    };
    // The kernel's "no threshold yet" value.
    let ssthresh = match d.snd_ssthresh {
        0x7fff_ffff.. => "∞".to_string(),
        n => n.to_string(),
    };
    let opt = |v: Option<u64>, f: fn(u64) -> String| v.map_or_else(|| "?".to_string(), f);
    let first = format!(
        "rtt {} ± {} · min {} · cwnd {} · ssthresh {} · mss {} · rto {}{}",
        ms(d.rtt_us),
        ms(d.rttvar_us),
        d.min_rtt_us.map_or_else(|| "?".to_string(), ms),
        d.snd_cwnd,
        ssthresh,
        d.snd_mss,
        ms(d.rto_us),
        d.congestion
            .as_ref()
            .map(|c| format!(" · {c}"))
            .unwrap_or_default(),
    );
    let second = format!(
        "retransmits {} now, {} total · unacked {} · lost {} · acked {} · received {} · delivery {}",
        d.retransmits,
        d.total_retrans
            .map_or_else(|| "?".to_string(), |n| n.to_string()),
        d.unacked,
        d.lost,
        opt(d.bytes_acked, bytes),
        opt(d.bytes_received, bytes),
        opt(d.delivery_rate, rate),
    );
    vec![
        Line::from(vec![label("tcp_info", app), Span::raw(first)]),
        Line::from(vec![Span::raw(" ".repeat(9)), Span::raw(second)]),
    ]
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// Bytes per second as bits per second, the way links are rated.
fn rate(bytes_per_s: u64) -> String {
    let bits = bytes_per_s as f64 * 8.0;
    match bits {
        b if b >= 1e9 => format!("{:.1} Gbit/s", b / 1e9),
        b if b >= 1e6 => format!("{:.1} Mbit/s", b / 1e6),
        b => format!("{:.0} kbit/s", b / 1e3),
    }
}

/// `ESTABLISHED ≥12s → FIN_WAIT_2 200ms → TIME_WAIT 3s (now)`.
fn timeline(app: &App, conn: &Conn) -> String {
    let phases = &conn.timeline;
    let mut parts = Vec::with_capacity(phases.len());
    for (i, p) in phases.iter().enumerate() {
        let end = phases.get(i + 1).map_or(app.now, |next| next.entered);
        let stayed = format::age_at_least(end.saturating_duration_since(p.entered), p.entry_seen());
        let now = if i + 1 == phases.len() { " (now)" } else { "" };
        parts.push(format!("{} {stayed}{now}", p.state));
    }
    parts.join(" → ")
}
