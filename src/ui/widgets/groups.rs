//! The group panel: "all" and each state with its count.

use crate::ui::app::{App, Focus};
use crate::ui::listing::Group;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, ListState};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let focused = app.focus == Focus::Groups;
    let namespaces = &app.table.listing.namespaces;
    let items: Vec<ListItem> = Group::entries(namespaces.keys())
        .map(|g| item(app, g))
        .collect();
    let selected = Group::entries(namespaces.keys()).position(|g| g == app.group());
    let highlight = if focused { t.selected() } else { t.heading() };
    let list = List::new(items)
        .block(
            Block::bordered()
                .title(" groups ")
                .border_style(t.focus_border(focused)),
        )
        .highlight_style(highlight);
    let mut state = ListState::default().with_selected(selected);
    frame.render_stateful_widget(list, area, &mut state);
}

fn item(app: &App, group: Group) -> ListItem<'static> {
    let t = &app.theme;
    let (count, style) = match group {
        Group::All => (app.counts().total(), t.heading()),
        Group::State(s) => {
            let n = app.counts().get(s);
            (n, if n == 0 { t.dim() } else { t.state(s) })
        }
        Group::Netns(ns) => {
            let n = app.table.listing.namespaces.get(ns).copied().unwrap_or(0);
            (n, t.heading())
        }
    };
    let label = format!("{:<12}", group.label());
    let mut spans = vec![
        Span::styled(label, style),
        Span::styled(format!("{count:>6} "), style),
    ];
    if let Group::State(s) = group {
        spans.push(Span::styled(
            sparkline(&app.memory.history.series(s, SPARK)),
            t.state(s),
        ));
    }
    ListItem::new(Line::from(spans))
}

/// Count samples shown per state (one per second).
const SPARK: usize = 9;

/// A count history as block characters, scaled to its own maximum, so a
/// TIME_WAIT build-up or a CLOSE_WAIT leak shows as a rising curve.
pub fn sparkline(series: &[usize]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = series.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return " ".repeat(series.len());
    }
    series
        .iter()
        .map(|&n| {
            if n == 0 {
                ' '
            } else {
                BARS[(n * (BARS.len() - 1)).div_ceil(max).min(BARS.len() - 1)]
            }
        })
        .collect()
}
