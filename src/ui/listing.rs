//! What the table shows: which connections pass the filter and group,
//! in which order, under which headings. Recomputed on every change of
//! data, filter, group or sort; never during drawing.

use crate::socket::{Conn, ConnId};
use crate::socket::{Filter, StateCounts, TcpState};
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

/// One line of the table: a state heading (in the "all" group), the
/// heading of the recently ended connections, or a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A state and how many live rows it has here.
    Heading(TcpState, usize),
    /// Connections that ended in the last seconds, listed after every
    /// live one so they never push live rows off the screen.
    Gone(usize),
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
        let in_group = |i: &usize| group == Group::All || Group::State(conns[*i].state()) == group;
        let (gone, live): (Vec<usize>, Vec<usize>) = matching
            .into_iter()
            .filter(in_group)
            .partition(|&i| conns[i].is_gone());
        let live = sort_indices(conns, live, sort);
        let mut gone = gone;
        // The most recently ended first.
        gone.sort_by_key(|&i| (std::cmp::Reverse(conns[i].gone_at), conns[i].id));
        let mut listing = Listing {
            counts,
            ..Listing::default()
        };
        listing.lay_out(conns, &live, group == Group::All);
        if !gone.is_empty() {
            listing.lines.push(Line::Gone(gone.len()));
            for i in gone {
                listing.rows.push(listing.lines.len());
                listing.lines.push(Line::Row(i));
            }
        }
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
    pub fn position_of(&self, conns: &[Arc<Conn>], id: ConnId) -> Option<usize> {
        self.rows.iter().position(|&line| match self.lines[line] {
            Line::Row(i) => conns[i].id == id,
            _ => false,
        })
    }

    /// The connection index shown at `rows[pos]`.
    pub fn conn_at(&self, pos: usize) -> Option<usize> {
        match self.lines.get(*self.rows.get(pos)?)? {
            Line::Row(i) => Some(*i),
            _ => None,
        }
    }
}

/// Sorts by state, then the column; address columns (the default) go
/// through precomputed integer keys, which measured several times faster
/// than comparing `SocketAddr`s over 25k rows on every update.
fn sort_indices(conns: &[Arc<Conn>], shown: Vec<usize>, sort: SortKey) -> Vec<usize> {
    let first_second = |c: &Conn| match sort {
        SortKey::Remote => (c.row.key.remote, c.row.key.local),
        _ => (c.row.key.local, c.row.key.remote),
    };
    match sort {
        SortKey::Local | SortKey::Remote => {
            let mut keyed: Vec<(AddrOrder, usize)> = shown
                .into_iter()
                .map(|i| {
                    let c = &conns[i];
                    let (a, b) = first_second(c);
                    ((c.state() as u8, addr_key(&a), addr_key(&b), c.id), i)
                })
                .collect();
            keyed.sort_unstable_by_key(|(k, _)| *k);
            keyed.into_iter().map(|(_, i)| i).collect()
        }
        _ => {
            let mut shown = shown;
            shown.sort_by(|&a, &b| compare(&conns[a], &conns[b], sort));
            shown
        }
    }
}

/// state, first address, second address, id: a total order.
type AddrOrder = (u8, (bool, u128, u16), (bool, u128, u16), u64);

/// An address as integers, ordered the way `SocketAddr` orders (IPv4
/// before IPv6, then address, then port).
fn addr_key(a: &std::net::SocketAddr) -> (bool, u128, u16) {
    match a.ip() {
        std::net::IpAddr::V4(v4) => (false, u128::from(u32::from(v4)), a.port()),
        std::net::IpAddr::V6(v6) => (true, u128::from(v6), a.port()),
    }
}

/// Process name, then first PID.
fn owner_order(c: &Conn) -> (Option<&str>, Option<u32>) {
    let owner = c.row.owner.as_deref();
    (
        owner.and_then(|o| o.name()),
        owner.and_then(|o| o.pids().next()),
    )
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
        SortKey::Process => owner_order(a).cmp(&owner_order(b)),
    };
    a.state()
        .cmp(&b.state())
        .then(by_column)
        .then(a.id.cmp(&b.id))
}

#[cfg(test)]
mod tests {
    use super::addr_key;
    use std::net::SocketAddr;

    #[test]
    fn integer_keys_order_like_socket_addrs() {
        let addrs: Vec<SocketAddr> = [
            "10.0.0.1:80",
            "10.0.0.1:443",
            "9.255.255.255:1",
            "[::1]:22",
            "[::]:80",
            "[fe80::1]:1",
            "255.255.255.255:65535",
        ]
        .iter()
        .map(|a| a.parse().expect("addr"))
        .collect();
        for a in &addrs {
            for b in &addrs {
                assert_eq!(addr_key(a).cmp(&addr_key(b)), a.cmp(b), "{a} vs {b}");
            }
        }
    }
}
