//! The status line and its history. A message repeated while it is still
//! on screen is counted (`×12`), not stacked, so a storm of the same error
//! (EMFILE) stays one line; every message is kept, whole, for `M`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long an info message stays in the status line; errors stay twice as long.
pub const STATUS_TTL: Duration = Duration::from_secs(5);
/// Messages kept for the history overlay.
pub const HISTORY: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub at: Instant,
    /// How many times it was said in a row.
    pub count: u32,
}

impl Status {
    /// The text with its repeat count.
    pub fn line(&self) -> String {
        match self.count {
            0 | 1 => self.text.clone(),
            n => format!("{} (×{n})", self.text),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct StatusLine {
    /// Newest last.
    history: VecDeque<Status>,
}

impl StatusLine {
    pub fn say(&mut self, text: impl Into<String>, error: bool, now: Instant) {
        let text = text.into();
        match error {
            true => tracing::warn!("status: {text}"),
            false => tracing::info!("status: {text}"),
        }
        let on_screen = self.live(now).is_some();
        if let Some(last) = self.history.back_mut()
            && on_screen
            && last.text == text
            && last.error == error
        {
            last.count = last.count.saturating_add(1);
            last.at = now;
            return;
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Status {
            text,
            error,
            at: now,
            count: 1,
        });
    }

    /// The latest message if it is still fresh.
    pub fn live(&self, now: Instant) -> Option<&Status> {
        let status = self.history.back()?;
        let ttl = if status.error {
            STATUS_TTL * 2
        } else {
            STATUS_TTL
        };
        (now.saturating_duration_since(status.at) < ttl).then_some(status)
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Status> {
        self.history.iter().rev()
    }

    pub fn len(&self) -> usize {
        self.history.len()
    }

    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_and_everything_is_kept() {
        let t = Instant::now();
        let mut s = StatusLine::default();
        for _ in 0..40 {
            s.say("accept() failed: too many open files", true, t);
        }
        s.say("connected", false, t);
        assert_eq!(s.len(), 2);
        let all: Vec<String> = s.newest_first().map(Status::line).collect();
        assert_eq!(
            all,
            ["connected", "accept() failed: too many open files (×40)"]
        );
        assert!(s.live(t + STATUS_TTL).is_none(), "info expires");
    }

    #[test]
    fn the_same_message_after_it_left_the_screen_is_a_new_line() {
        let t = Instant::now();
        let mut s = StatusLine::default();
        s.say("paused", false, t);
        s.say("paused", false, t + STATUS_TTL * 3);
        let all: Vec<String> = s.newest_first().map(Status::line).collect();
        assert_eq!(all, ["paused", "paused"]);
    }
}
