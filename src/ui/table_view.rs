//! The table's own state: what it lists, in which group and order, and
//! which connection is selected. The selection is a connection id; the
//! cursor is only where that connection happens to be listed now.

use super::listing::{Group, Line, Listing, SortKey};
use crate::socket::{Conn, ConnId, Filter};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct TableView {
    pub listing: Listing,
    pub group: Group,
    pub sort: SortKey,
    pub selected: Option<ConnId>,
    /// Position in `listing.rows` of the selection.
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
    /// Lists `conns` again and finds the selected connection wherever it
    /// moved; if it is gone for good, the cursor stays at its height and
    /// the connection listed there is selected.
    pub fn rebuild(&mut self, conns: &[Arc<Conn>], filter: &Filter) {
        self.listing = Listing::build(conns, filter, self.group, self.sort);
        match self
            .selected
            .and_then(|id| self.listing.position_of(conns, id))
        {
            Some(pos) => self.cursor = pos,
            None => {
                self.cursor = self.cursor.min(self.listing.rows.len().saturating_sub(1));
                self.selected = self.conn_at_cursor(conns).map(|c| c.id);
            }
        }
        self.keep_cursor_visible();
    }

    /// Index in `conns` of the selected connection, if it is listed.
    pub fn selected_index(&self) -> Option<usize> {
        self.listing.conn_at(self.cursor)
    }

    fn conn_at_cursor<'a>(&self, conns: &'a [Arc<Conn>]) -> Option<&'a Conn> {
        self.selected_index()
            .and_then(|i| conns.get(i))
            .map(|c| c.as_ref())
    }

    /// Moves the cursor by `delta` rows and selects what it lands on.
    pub fn move_by(&mut self, delta: i64, conns: &[Arc<Conn>]) {
        let last = self.listing.rows.len().saturating_sub(1) as i64;
        self.cursor = (self.cursor as i64)
            .saturating_add(delta)
            .clamp(0, last.max(0)) as usize;
        self.selected = self.conn_at_cursor(conns).map(|c| c.id);
        self.keep_cursor_visible();
    }

    /// Selects connection `id` if the table lists it.
    pub fn select(&mut self, id: ConnId, conns: &[Arc<Conn>]) -> bool {
        let Some(pos) = self.listing.position_of(conns, id) else {
            return false;
        };
        self.cursor = pos;
        self.selected = Some(id);
        self.keep_cursor_visible();
        true
    }

    /// Sets the table height (from the layout) and re-scrolls.
    pub fn set_page(&mut self, lines: usize) {
        self.page = lines.max(1);
        self.keep_cursor_visible();
    }

    pub fn keep_cursor_visible(&mut self) {
        let Some(&line) = self.listing.rows.get(self.cursor) else {
            self.offset = 0;
            return;
        };
        // Show the heading above the first row of a group too.
        let top = match line.checked_sub(1).map(|l| self.listing.lines[l]) {
            Some(Line::Heading(..) | Line::Gone(_)) => line - 1,
            _ => line,
        };
        if top < self.offset {
            self.offset = top;
        } else if line >= self.offset + self.page {
            self.offset = line + 1 - self.page;
        }
        let max_offset = self.listing.lines.len().saturating_sub(self.page);
        self.offset = self.offset.min(max_offset);
    }

    /// The next or previous group, for the group panel.
    pub fn step_group(&mut self, delta: i64) {
        let groups: Vec<Group> = Group::entries().collect();
        let at = groups.iter().position(|g| *g == self.group).unwrap_or(0) as i64;
        let next = (at + delta).clamp(0, groups.len() as i64 - 1) as usize;
        self.group = groups[next];
    }
}
