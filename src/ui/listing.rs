//! What the table shows: which connections pass the filter and group, in
//! which order, under which headings. Kept up to date one connection at a
//! time as deltas arrive (a change costs a few tree operations, however
//! many rows there are), rebuilt only when the filter, group or sort
//! changes; drawing asks for the lines on screen and nothing more.

use crate::socket::addr::{OrderKey, order_key};
use crate::socket::{Conn, ConnId, Filter, StateCounts, TcpState};
use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    All,
    State(TcpState),
    /// The rows of another network namespace (`--all-netns`, the lab's
    /// link).
    Netns(&'static str),
}

impl Group {
    /// The group panel's entries: "all", every state in lifecycle order,
    /// then each other namespace with rows.
    pub fn entries<'a>(
        namespaces: impl Iterator<Item = &'a &'static str> + 'a,
    ) -> impl Iterator<Item = Group> + 'a {
        std::iter::once(Group::All)
            .chain(TcpState::ALL.into_iter().map(Group::State))
            .chain(namespaces.map(|n| Group::Netns(n)))
    }

    pub fn label(self) -> &'static str {
        match self {
            Group::All => "all",
            Group::State(s) => s.name(),
            Group::Netns(n) => n,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Local,
    Remote,
    InState,
    Process,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Local => SortKey::Remote,
            SortKey::Remote => SortKey::InState,
            SortKey::InState => SortKey::Process,
            SortKey::Process => SortKey::Local,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Local => "local address",
            SortKey::Remote => "remote address",
            SortKey::InState => "time in state",
            SortKey::Process => "process",
        }
    }
}

/// One line of the table: a state heading (in the "all" group), the
/// heading of the recently ended connections, or a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A state and how many live rows it has here.
    Heading(TcpState, usize),
    /// Connections that ended in the last seconds, listed after every
    /// live one so they never push live rows off the screen.
    Gone(usize),
    Row(ConnId),
}

/// Where a row sorts: live rows by state (lifecycle order), then the
/// column; ended ones last, the most recent first; the id breaks ties so
/// equal rows never swap places between redraws.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    section: Section,
    column: Column,
    id: ConnId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Live(TcpState),
    Gone(Reverse<Instant>),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Column {
    Addresses(OrderKey, OrderKey),
    Since(Instant),
    /// Process name, then first PID.
    Owner(Option<Box<str>>, Option<u32>),
    None,
}

#[derive(Clone, Debug, Default)]
pub struct Listing {
    filter: Filter,
    group: Option<Group>,
    sort: SortKey,
    order: BTreeSet<RowKey>,
    /// Live connections per state that pass the filter (any group).
    pub counts: StateCounts,
    /// The same per other namespace.
    pub namespaces: std::collections::BTreeMap<&'static str, usize>,
    /// Rows listed per live state, and ended ones.
    live: StateCounts,
    gone: usize,
}

impl Listing {
    /// Lists `conns` afresh for this filter, group and sort.
    pub fn build<'a>(
        conns: impl Iterator<Item = &'a Conn>,
        filter: &Filter,
        group: Group,
        sort: SortKey,
    ) -> Listing {
        let mut listing = Listing {
            filter: filter.clone(),
            group: Some(group),
            sort,
            ..Listing::default()
        };
        for conn in conns {
            listing.add(conn);
        }
        listing
    }

    /// Whether it was built for this filter, group and sort.
    pub fn is_for(&self, filter: &Filter, group: Group, sort: SortKey) -> bool {
        self.group == Some(group) && self.sort == sort && self.filter.text() == filter.text()
    }

    /// A connection changed (from `old` to `new`), appeared (`old` none)
    /// or was dropped (`new` none). Where `old` was listed and counted is
    /// worked out again rather than stored: one row less in memory each.
    pub fn update(&mut self, old: Option<&Conn>, new: Option<&Conn>) {
        if let Some(conn) = old {
            self.remove(conn);
        }
        if let Some(conn) = new {
            self.add(conn);
        }
    }

    fn remove(&mut self, conn: &Conn) {
        let Some(key) = self.place(conn) else {
            return;
        };
        if !conn.is_gone() {
            self.counts.remove(conn.state());
            if let Some(ns) = conn.row.netns
                && let Some(n) = self.namespaces.get_mut(ns)
            {
                *n -= 1;
                if *n == 0 {
                    self.namespaces.remove(ns);
                }
            }
        }
        if let Some(key) = key
            && self.order.remove(&key)
        {
            match key.section {
                Section::Live(s) => self.live.remove(s),
                Section::Gone(_) => self.gone = self.gone.saturating_sub(1),
            }
        }
    }

    fn add(&mut self, conn: &Conn) {
        let Some(key) = self.place(conn) else {
            return;
        };
        if !conn.is_gone() {
            self.counts.add(conn.state());
            if let Some(ns) = conn.row.netns {
                *self.namespaces.entry(ns).or_default() += 1;
            }
        }
        if let Some(key) = key
            && self.order.insert(key.clone())
        {
            match key.section {
                Section::Live(s) => self.live.add(s),
                Section::Gone(_) => self.gone += 1,
            }
        }
    }

    /// `None` if the filter leaves `conn` out; else its place in the
    /// table, if it is in the group shown.
    fn place(&self, conn: &Conn) -> Option<Option<RowKey>> {
        if !self.filter.matches_conn(conn) {
            return None;
        }
        let in_group = match self.group.unwrap_or(Group::All) {
            Group::All => true,
            Group::State(s) => s == conn.state(),
            Group::Netns(ns) => conn.row.netns == Some(ns),
        };
        Some(in_group.then(|| self.key(conn)))
    }

    fn key(&self, c: &Conn) -> RowKey {
        if let Some(at) = c.gone_at {
            return RowKey {
                section: Section::Gone(Reverse(at)),
                column: Column::None,
                id: c.id,
            };
        }
        let k = &c.row.key;
        let column = match self.sort {
            SortKey::Local => Column::Addresses(order_key(&k.local), order_key(&k.remote)),
            SortKey::Remote => Column::Addresses(order_key(&k.remote), order_key(&k.local)),
            SortKey::InState => Column::Since(c.current_phase().entered),
            SortKey::Process => {
                let owner = c.row.owner.as_deref();
                Column::Owner(
                    owner.and_then(|o| o.name()).map(Box::from),
                    owner.and_then(|o| o.pids().next()),
                )
            }
        };
        RowKey {
            section: Section::Live(c.state()),
            column,
            id: c.id,
        }
    }

    /// How many rows (connections) it lists.
    pub fn rows(&self) -> usize {
        self.order.len()
    }

    /// How many lines: rows and headings.
    pub fn lines(&self) -> usize {
        self.sections()
            .map(|(heading, n)| n + heading.is_some() as usize)
            .sum()
    }

    /// The sections in order: each one's heading line (if it has one) and
    /// its number of rows. Only sections with rows.
    fn sections(&self) -> impl Iterator<Item = (Option<Line>, usize)> + '_ {
        // A group of many states (all, a namespace) has state headings.
        let headings = !matches!(self.group, Some(Group::State(_)));
        let live = self
            .live
            .present()
            .map(move |(s, n)| (headings.then_some(Line::Heading(s, n)), n));
        let gone = (self.gone > 0).then_some((Some(Line::Gone(self.gone)), self.gone));
        live.chain(gone)
    }

    /// The line a row is on, and whether a heading is right above it.
    pub fn line_of_row(&self, pos: usize) -> Option<(usize, bool)> {
        let (mut lines, mut rows) = (0, 0);
        for (heading, n) in self.sections() {
            lines += heading.is_some() as usize;
            if pos < rows + n {
                let first = pos == rows;
                return Some((lines + pos - rows, first && heading.is_some()));
            }
            lines += n;
            rows += n;
        }
        None
    }

    /// Up to `n` lines from line `offset`: what the screen shows.
    pub fn window(&self, offset: usize, n: usize) -> Vec<Line> {
        let mut out = Vec::with_capacity(n.min(self.lines()));
        let (mut line, mut row) = (0, 0);
        let mut sections = self.sections().peekable();
        // Skip whole sections above the window.
        while let Some(&(heading, rows)) = sections.peek() {
            let height = rows + heading.is_some() as usize;
            if line + height > offset {
                break;
            }
            line += height;
            row += rows;
            sections.next();
        }
        let mut ids = None;
        for (heading, rows) in sections {
            let mut first = row;
            if let Some(h) = heading {
                if line >= offset && out.len() < n {
                    out.push(h);
                }
                line += 1;
            }
            // Rows of this section above the window.
            let skip = offset.saturating_sub(line).min(rows);
            first += skip;
            line += skip;
            let iter = ids.get_or_insert_with(|| self.order.iter().skip(first));
            for key in iter.by_ref().take(rows - skip) {
                if out.len() == n {
                    return out;
                }
                out.push(Line::Row(key.id));
                line += 1;
            }
            row += rows;
        }
        out
    }

    /// The connection listed at row `pos`.
    pub fn row_at(&self, pos: usize) -> Option<ConnId> {
        self.order.iter().nth(pos).map(|k| k.id)
    }

    /// The row where connection `conn` is listed, if it is.
    pub fn position_of(&self, conn: &Conn) -> Option<usize> {
        let key = self.place(conn)??;
        self.order
            .contains(&key)
            .then(|| self.order.range(..key).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Family, Phase, SocketKey, SocketRow};

    fn conn(id: ConnId, port: u16, state: TcpState, gone: Option<Instant>) -> Conn {
        let key = SocketKey::new(
            Family::Inet,
            format!("127.0.0.1:{port}").parse().expect("addr"),
            "127.0.0.1:80".parse().expect("addr"),
        );
        let t0 = Instant::now();
        Conn {
            id,
            row: SocketRow::new(key, state),
            timeline: vec![Phase {
                state,
                entered: t0,
                entered_wall: std::time::SystemTime::UNIX_EPOCH,
                entry: crate::socket::Entry::Seen,
                cause: crate::socket::Cause::Unknown,
            }],
            appeared_at: None,
            gone_at: gone,
            end_cause: crate::socket::Cause::Unknown,
        }
    }

    /// Every line, the slow way, for comparing with windows.
    fn all_lines(l: &Listing) -> Vec<Line> {
        l.window(0, usize::MAX)
    }

    #[test]
    fn headings_rows_and_the_gone_section_in_order() {
        let t = Instant::now();
        let conns = [
            conn(1, 1003, TcpState::Established, None),
            conn(2, 1001, TcpState::Established, None),
            conn(3, 1002, TcpState::Listen, None),
            conn(4, 1004, TcpState::TimeWait, Some(t)),
        ];
        let l = Listing::build(conns.iter(), &Filter::default(), Group::All, SortKey::Local);
        assert_eq!(
            all_lines(&l),
            [
                Line::Heading(TcpState::Listen, 1),
                Line::Row(3),
                Line::Heading(TcpState::Established, 2),
                Line::Row(2),
                Line::Row(1),
                Line::Gone(1),
                Line::Row(4),
            ]
        );
        assert_eq!(l.lines(), 7);
        assert_eq!(l.counts.total(), 3, "the ended one is not counted");
        // Every window is the same slice of the whole.
        let whole = all_lines(&l);
        for offset in 0..8 {
            for n in 0..8 {
                let want: Vec<Line> = whole.iter().skip(offset).take(n).copied().collect();
                assert_eq!(l.window(offset, n), want, "offset {offset}, {n} lines");
            }
        }
        assert_eq!(l.line_of_row(0), Some((1, true)));
        assert_eq!(l.line_of_row(2), Some((4, false)));
        assert_eq!(l.line_of_row(3), Some((6, true)));
        assert_eq!(l.position_of(&conns[0]), Some(2));
        assert_eq!(l.row_at(3), Some(4));
    }

    #[test]
    fn updates_keep_it_the_same_as_a_rebuild() {
        let mut conns: Vec<Conn> = (0..50)
            .map(|i| {
                conn(
                    i,
                    2000 + (i * 7919 % 500) as u16,
                    TcpState::ALL[i as usize % 11],
                    None,
                )
            })
            .collect();
        let filter = Filter::parse("state ESTABLISHED,TIME_WAIT,LISTEN").expect("filter");
        let mut l = Listing::build(conns.iter(), &filter, Group::All, SortKey::Local);
        // Half change state, some end, some are dropped.
        for (i, c) in conns.iter_mut().enumerate() {
            let before = c.clone();
            match i % 4 {
                0 => c.row.state = TcpState::TimeWait,
                1 => c.gone_at = Some(Instant::now()),
                _ => {}
            }
            l.update(Some(&before), (i % 5 != 0).then_some(&*c));
        }
        let kept: Vec<&Conn> = conns
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 5 != 0)
            .map(|(_, c)| c)
            .collect();
        let fresh = Listing::build(kept.into_iter(), &filter, Group::All, SortKey::Local);
        assert_eq!(all_lines(&l), all_lines(&fresh));
        assert_eq!(l.counts, fresh.counts);
    }
}
