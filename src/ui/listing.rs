//! What the table shows: which connections pass the filter and group,
//! in which order, under which headings. Recomputed on every change of
//! data, filter, group or sort; never during drawing.

use crate::socket::{Filter, StateCounts, TcpState};
use crate::track::Conn;
use std::cmp::Ordering;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    All,
    State(TcpState),
}

impl Group {
    /// The group panel's entries: "all", then every state in lifecycle order.
    pub fn entries() -> impl Iterator<Item = Group> {
        std::iter::once(Group::All).chain(TcpState::ALL.into_iter().map(Group::State))
    }

    pub fn label(self) -> &'static str {
        match self {
            Group::All => "all",
            Group::State(s) => s.name(),
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

/// One line of the table: a state heading (in the "all" group) or a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    Heading(TcpState, usize),
    Row(usize),
}

#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub lines: Vec<Line>,
    /// Index into `lines` of every `Row`, in order.
    pub rows: Vec<usize>,
    /// Live connections per state that pass the filter (any group).
    pub counts: StateCounts,
}

impl Listing {
    pub fn build(conns: &[Arc<Conn>], filter: &Filter, group: Group, sort: SortKey) -> Listing {
        let matching: Vec<usize> = (0..conns.len())
            .filter(|&i| filter.matches(&conns[i].row))
            .collect();
        let counts = matching
            .iter()
            .map(|&i| &conns[i])
            .filter(|c| !c.is_gone())
            .map(|c| &c.row.state)
            .collect();
        let mut shown: Vec<usize> = matching
            .into_iter()
            .filter(|&i| group == Group::All || Group::State(conns[i].state()) == group)
            .collect();
        shown.sort_by(|&a, &b| compare(&conns[a], &conns[b], sort));
        let mut listing = Listing {
            counts,
            ..Listing::default()
        };
        listing.lay_out(conns, &shown, group == Group::All);
        listing
    }

    fn lay_out(&mut self, conns: &[Arc<Conn>], shown: &[usize], headings: bool) {
        let mut current = None;
        for (n, &i) in shown.iter().enumerate() {
            let state = conns[i].state();
            if headings && current != Some(state) {
                current = Some(state);
                let in_group = shown[n..]
                    .iter()
                    .take_while(|&&j| conns[j].state() == state)
                    .count();
                self.lines.push(Line::Heading(state, in_group));
            }
            self.rows.push(self.lines.len());
            self.lines.push(Line::Row(i));
        }
    }

    /// Position in `rows` of the connection with this id.
    pub fn position_of(&self, conns: &[Arc<Conn>], id: u64) -> Option<usize> {
        self.rows.iter().position(|&line| match self.lines[line] {
            Line::Row(i) => conns[i].id == id,
            Line::Heading(..) => false,
        })
    }

    /// The connection index shown at `rows[pos]`.
    pub fn conn_at(&self, pos: usize) -> Option<usize> {
        match self.lines.get(*self.rows.get(pos)?)? {
            Line::Row(i) => Some(*i),
            Line::Heading(..) => None,
        }
    }
}

/// State first (lifecycle order), then the chosen column; the id breaks
/// ties so equal rows never swap places between redraws.
fn compare(a: &Conn, b: &Conn, sort: SortKey) -> Ordering {
    let by_column = match sort {
        SortKey::Local => {
            (a.row.key.local, a.row.key.remote).cmp(&(b.row.key.local, b.row.key.remote))
        }
        SortKey::Remote => {
            (a.row.key.remote, a.row.key.local).cmp(&(b.row.key.remote, b.row.key.local))
        }
        SortKey::InState => a.current_phase().entered.cmp(&b.current_phase().entered),
        SortKey::Process => (a.row.process.as_deref(), a.row.pids.first())
            .cmp(&(b.row.process.as_deref(), b.row.pids.first())),
    };
    a.state()
        .cmp(&b.state())
        .then(by_column)
        .then(a.id.cmp(&b.id))
}
