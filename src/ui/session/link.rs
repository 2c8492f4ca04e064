//! The lab's slow-motion link as the keys see it: how it is set, and
//! what `n`, `D`, `F` (and a demo's link steps) ask of it.

use crate::lab::link::LinkOrder;
use crate::ui::effect::{Effect, Reply};
use crate::ui::fmt::fmt_ms;
use crate::ui::keymap::LinkKey;
use std::time::Duration;

/// How the lab's link is set (`lab --wire`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    pub delay: Duration,
    /// Segments wait for `n`.
    pub step: bool,
    /// Everything is dropped.
    pub down: bool,
}

impl LinkStatus {
    pub fn new(delay: Duration, step: bool) -> LinkStatus {
        LinkStatus {
            delay,
            step,
            down: false,
        }
    }

    /// A key for the link.
    pub fn key(&mut self, key: LinkKey) -> Reply {
        match key {
            LinkKey::Next => self.next(),
            LinkKey::DropNext => self.steer(LinkOrder::DropNext),
            LinkKey::Flow => self.steer(LinkOrder::Hold(false)),
        }
    }

    /// n: step mode first, then the next waiting segment through.
    fn next(&mut self) -> Reply {
        if !self.step {
            self.step = true;
            return Reply::info(
                "step mode: segments wait on the link; n lets the next one through, F lets them flow",
            )
            .with(Effect::Link(LinkOrder::Hold(true)));
        }
        Reply::effect(Effect::Link(LinkOrder::Release(1)))
    }

    /// Notes what a call changes and hands it to the loop; the loop's
    /// controller says only a refusal.
    pub fn steer(&mut self, call: LinkOrder) -> Reply {
        match call {
            LinkOrder::Hold(on) => self.step = on,
            LinkOrder::Delay(ms) => self.delay = Duration::from_millis(ms),
            LinkOrder::Down(on) => self.down = on,
            LinkOrder::Release(_) | LinkOrder::DropNext | LinkOrder::Flood(_) => {}
        }
        let text = match call {
            LinkOrder::DropNext => "the next segment on the link will be lost".to_string(),
            LinkOrder::Hold(false) => format!(
                "segments flow again, each {} on the link",
                fmt_ms(self.delay.as_millis() as u64)
            ),
            LinkOrder::Delay(ms) => format!("each segment now takes {} to cross", fmt_ms(ms)),
            _ => String::new(),
        };
        let reply = if text.is_empty() {
            Reply::nothing()
        } else {
            Reply::info(text)
        };
        reply.with(Effect::Link(call))
    }
}
