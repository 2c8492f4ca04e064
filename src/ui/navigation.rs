//! Moving around: the cursor in the focused panel, scrolling, groups
//! and panels. The selection follows the connection, not the row.

use super::app::{App, Focus};
use super::listing::{Group, Line};

impl App {
    pub(super) fn step(&mut self, delta: i64) {
        match self.focus {
            Focus::Groups => self.step_group(delta),
            _ => self.move_cursor(delta),
        }
    }

    pub fn move_cursor(&mut self, delta: i64) {
        if self.focus == Focus::Log {
            let last = self.log.len().saturating_sub(1) as i64;
            self.log_scroll = (self.log_scroll as i64)
                .saturating_add(delta)
                .clamp(0, last.max(0)) as usize;
            return;
        }
        if self.focus == Focus::Lab {
            self.lab.move_cursor(delta);
            return self.select_lab_in_table();
        }
        let last = self.listing.rows.len().saturating_sub(1) as i64;
        self.cursor = (self.cursor as i64)
            .saturating_add(delta)
            .clamp(0, last.max(0)) as usize;
        self.remember_selection();
        self.keep_cursor_visible();
    }

    pub(super) fn step_group(&mut self, delta: i64) {
        let groups: Vec<Group> = Group::entries().collect();
        let at = groups.iter().position(|g| *g == self.group).unwrap_or(0) as i64;
        let next = (at + delta).clamp(0, groups.len() as i64 - 1) as usize;
        self.group = groups[next];
        self.relist();
    }

    pub(super) fn switch_panel(&mut self) {
        self.focus = match self.focus {
            Focus::Groups => Focus::Table,
            Focus::Table if self.lab.visible => Focus::Lab,
            Focus::Table | Focus::Lab if self.log_open => Focus::Log,
            Focus::Table | Focus::Lab | Focus::Log => Focus::Groups,
        };
        if self.focus == Focus::Lab {
            self.select_lab_in_table();
        }
    }

    /// Sets the table height (from the layout) and re-scrolls.
    pub fn set_page(&mut self, lines: usize) {
        self.page = lines.max(1);
        self.keep_cursor_visible();
    }

    pub(super) fn keep_cursor_visible(&mut self) {
        let Some(&line) = self.listing.rows.get(self.cursor) else {
            self.offset = 0;
            return;
        };
        // Show the state heading above the first row of a group too.
        let top = match line.checked_sub(1).map(|l| self.listing.lines[l]) {
            Some(Line::Heading(..)) => line - 1,
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
}
