//! When the screen is drawn. What a person does (a key, a lab action)
//! shows at once; what the kernel does is drawn at most once per interval,
//! and only when it changed something shown. So a busy port costs the
//! frames a person can follow, not one per batch of events: every state
//! a connection passed through is still in its row's `OLD→NEW` and its
//! timeline, so drawing less often loses nothing.

use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct FramePacer {
    /// The shortest time between two frames drawn for data.
    every: Duration,
    /// When the last frame was drawn.
    last: Option<Instant>,
    /// Data changed something shown since that frame.
    stale: bool,
    /// A person acted: the next turn of the loop draws, whatever the pace.
    urgent: bool,
}

impl FramePacer {
    pub fn new(every: Duration) -> Self {
        FramePacer {
            every,
            last: None,
            stale: true,
            urgent: true,
        }
    }

    /// The interval changed (`+`/`-`): frames follow it from now on.
    pub fn set_interval(&mut self, every: Duration) {
        self.every = every;
    }

    /// A key or the lab's answer: draw now.
    pub fn act(&mut self) {
        self.urgent = true;
    }

    /// Data changed something on screen: draw when the pace allows.
    pub fn changed(&mut self) {
        self.stale = true;
    }

    /// When the next frame is due, if one is: at once for an action; for
    /// data, an interval after the last frame (at once if that has
    /// passed, so a change on a quiet screen shows without waiting).
    pub fn due(&self) -> Option<Instant> {
        let last = self.last?;
        if self.urgent {
            return Some(last);
        }
        self.stale.then(|| last + self.every)
    }

    /// Whether a frame should be drawn at `now`.
    pub fn should_draw(&self, now: Instant) -> bool {
        self.last.is_none() || self.due().is_some_and(|due| due <= now)
    }

    /// A frame was drawn at `now`: it showed everything until then.
    pub fn drawn(&mut self, now: Instant) {
        self.last = Some(now);
        self.stale = false;
        self.urgent = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_millis(250);

    fn drawn_at(t0: Instant) -> FramePacer {
        let mut p = FramePacer::new(EVERY);
        assert!(p.should_draw(t0), "the first frame is drawn at once");
        p.drawn(t0);
        p
    }

    #[test]
    fn nothing_changed_means_no_frame() {
        let t0 = Instant::now();
        let p = drawn_at(t0);
        assert_eq!(p.due(), None);
        assert!(!p.should_draw(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn data_draws_at_most_once_per_interval() {
        let t0 = Instant::now();
        let mut p = drawn_at(t0);
        let soon = t0 + Duration::from_millis(10);
        p.changed();
        assert!(!p.should_draw(soon), "too soon after the last frame");
        assert_eq!(p.due(), Some(t0 + EVERY));
        assert!(p.should_draw(t0 + EVERY));
        p.drawn(t0 + EVERY);
        // A thousand more changes before the next interval: one frame.
        for _ in 0..1000 {
            p.changed();
        }
        assert!(!p.should_draw(t0 + EVERY + Duration::from_millis(249)));
        assert!(p.should_draw(t0 + EVERY * 2));
    }

    #[test]
    fn a_change_on_a_quiet_screen_shows_at_once() {
        let t0 = Instant::now();
        let mut p = drawn_at(t0);
        p.changed();
        assert!(p.should_draw(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn an_action_draws_at_once_whatever_the_pace() {
        let t0 = Instant::now();
        let mut p = drawn_at(t0);
        p.act();
        assert!(p.should_draw(t0 + Duration::from_millis(1)));
        p.drawn(t0 + Duration::from_millis(1));
        assert_eq!(p.due(), None, "the frame showed the data too");
    }

    #[test]
    fn a_longer_interval_spaces_frames_further() {
        let t0 = Instant::now();
        let mut p = drawn_at(t0);
        p.set_interval(Duration::from_secs(1));
        p.changed();
        assert!(!p.should_draw(t0 + EVERY));
        assert!(p.should_draw(t0 + Duration::from_secs(1)));
    }
}
