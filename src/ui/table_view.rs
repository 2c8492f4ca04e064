//! The table's own state: what it lists, in which group and order, and
//! which connection is selected. The selection is a connection id; the
//! cursor is only where that connection happens to be listed now.

use super::listing::{Group, Listing, SortKey};
use crate::pipeline::Mirror;
use crate::socket::{Conn, ConnId, Filter};

#[derive(Clone, Debug)]
pub struct TableView {
    pub listing: Listing,
    pub group: Group,
    pub sort: SortKey,
    pub selected: Option<ConnId>,
    /// Row position of the selection in the listing.
    pub cursor: usize,
    /// First table line on screen.
    pub offset: usize,
    /// Table lines that fit on screen.
    pub page: usize,
}

impl Default for TableView {
    fn default() -> Self {
        TableView {
            listing: Listing::default(),
            group: Group::All,
            sort: SortKey::default(),
            selected: None,
            cursor: 0,
            offset: 0,
            page: 10,
        }
    }
}

impl TableView {
    /// Lists the connections again if the filter, group or sort changed,
    /// and finds the selection.
    pub fn relist(&mut self, conns: &Mirror, filter: &Filter) {
        if !self.listing.is_for(filter, self.group, self.sort) {
            let all = conns.iter().map(|c| c.as_ref());
            self.listing = Listing::build(all, filter, self.group, self.sort);
        }
        self.follow_selection(conns);
    }

    /// One connection changed, appeared or was dropped.
    pub fn update(&mut self, old: Option<&Conn>, new: Option<&Conn>) {
        self.listing.update(old, new);
    }

    /// Finds the selected connection wherever it moved; if it is no longer
    /// listed, the cursor stays at its height and the connection listed
    /// there is selected.
    pub fn follow_selection(&mut self, conns: &Mirror) {
        let selected = self.selected.and_then(|id| conns.get(id));
        match selected.and_then(|c| self.listing.position_of(c)) {
            Some(pos) => self.cursor = pos,
            None => {
                self.cursor = self.cursor.min(self.listing.rows().saturating_sub(1));
                self.selected = self.listing.row_at(self.cursor);
            }
        }
        self.keep_cursor_visible();
    }

    /// Moves the cursor by `delta` rows and selects what it lands on.
    pub fn move_by(&mut self, delta: i64) {
        let last = self.listing.rows().saturating_sub(1) as i64;
        self.cursor = (self.cursor as i64)
            .saturating_add(delta)
            .clamp(0, last.max(0)) as usize;
        self.selected = self.listing.row_at(self.cursor);
        self.keep_cursor_visible();
    }

    /// Selects connection `conn` if the table lists it.
    pub fn select(&mut self, conn: &Conn) -> bool {
        let Some(pos) = self.listing.position_of(conn) else {
            return false;
        };
        self.cursor = pos;
        self.selected = Some(conn.id);
        self.keep_cursor_visible();
        true
    }

    /// Sets the table height (from the layout) and re-scrolls.
    pub fn set_page(&mut self, lines: usize) {
        self.page = lines.max(1);
        self.keep_cursor_visible();
    }

    /// The line the cursor is on.
    pub fn cursor_line(&self) -> Option<usize> {
        self.listing.line_of_row(self.cursor).map(|(line, _)| line)
    }

    pub fn keep_cursor_visible(&mut self) {
        let Some((line, under_heading)) = self.listing.line_of_row(self.cursor) else {
            self.offset = 0;
            return;
        };
        // Show the heading above the first row of a group too.
        let top = line - under_heading as usize;
        if top < self.offset {
            self.offset = top;
        } else if line >= self.offset + self.page {
            self.offset = line + 1 - self.page;
        }
        let max_offset = self.listing.lines().saturating_sub(self.page);
        self.offset = self.offset.min(max_offset);
    }

    /// The next or previous group, for the group panel.
    pub fn step_group(&mut self, delta: i64) {
        let groups: Vec<Group> = Group::entries(self.listing.namespaces.keys()).collect();
        let at = groups.iter().position(|g| *g == self.group).unwrap_or(0) as i64;
        let next = (at + delta).clamp(0, groups.len() as i64 - 1) as usize;
        self.group = groups[next];
    }
}
