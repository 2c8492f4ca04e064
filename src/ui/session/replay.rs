//! A recording played back: its clock is what `space`, `+ -`, `→ ←` and
//! `g` steer, where the live view's keys steer the reading.

use crate::source::playback::Playback;
use crate::ui::effect::{Effect, Reply};
use crate::ui::fmt::fmt_speed;
use crate::ui::keymap::ReplayKey;

#[derive(Clone, Debug)]
pub struct ReplaySession {
    pub playback: Playback,
}

impl ReplaySession {
    /// A key for the recording's clock (`g` opens the jump prompt in the
    /// app, then comes back here as [`ReplaySession::jump`]).
    pub fn key(&mut self, key: ReplayKey) -> Reply {
        let p = &self.playback;
        match key {
            ReplayKey::Pause if p.toggle_pause() => {
                Reply::info("replay paused: → plays the next event, space goes on")
            }
            ReplayKey::Pause => Reply::info("replay playing"),
            ReplayKey::Faster => self.speed(2.0),
            ReplayKey::Slower => self.speed(0.5),
            ReplayKey::Step if p.step() => Reply::nothing(),
            ReplayKey::Step => Reply::info("the recording has no more events"),
            // One event fewer on screen: the view starts over from there.
            ReplayKey::Back => Reply::effect(Effect::ReplaySeek(p.previous_event())),
            ReplayKey::Jump => Reply::nothing(),
        }
    }

    fn speed(&self, by: f64) -> Reply {
        let speed = self.playback.scale_speed(by);
        Reply::info(format!("replay at {}× real time", fmt_speed(speed)))
    }

    /// `12.5`, `12.5s` or `1:02.5` from the recording's start.
    pub fn jump(&self, text: &str) -> Result<Effect, String> {
        let t = text.trim().trim_end_matches('s');
        let seconds = match t.split_once(':') {
            Some((m, s)) => m
                .parse::<f64>()
                .ok()
                .zip(s.parse::<f64>().ok())
                .map(|(m, s)| m * 60.0 + s),
            None => t.parse::<f64>().ok(),
        };
        match seconds.filter(|s| s.is_finite() && *s >= 0.0) {
            Some(s) => Ok(Effect::ReplaySeek(self.playback.moment(s))),
            None => Err(format!(
                "'{text}' is not a time: give seconds from the start, e.g. 12.5 or 1:02.5"
            )),
        }
    }

    /// The header's words: speed, where the clock is, and whether it runs.
    pub fn position_text(&self) -> String {
        let pos = self.playback.position();
        let state = match (pos.done, pos.paused) {
            (true, _) => " · the end",
            (false, true) => " · paused",
            (false, false) => "",
        };
        format!(
            "{}× · {:.3}s of {:.3}s{state}",
            fmt_speed(pos.speed),
            pos.elapsed.as_secs_f64(),
            pos.length.as_secs_f64()
        )
    }
}
