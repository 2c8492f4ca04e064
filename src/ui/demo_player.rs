//! Playing a demo in the TUI: `n` makes the next step's socket calls
//! through the lab and shows what to look at; `r` starts over on a fresh
//! port, with the table following it there.

use super::app::{App, Effect};
use crate::demo::{self, Call, Role, Scenario};
use crate::lab::{LabCommand, OptionChanges, Side};

#[derive(Clone, Debug)]
pub struct DemoPlayer {
    pub scenario: Scenario,
    /// Index of the next step to play.
    pub next: usize,
    /// The line to show: the step just played and its narration.
    pub narration: String,
    /// Each step played so far: its narration and speaker notes.
    pub played: Vec<(String, String)>,
    /// A step looked back at with `p` (an index into `played`); `None`
    /// shows the latest.
    pub looking_back: Option<usize>,
    /// The socket the last step acted on: selected once the lab reports it,
    /// so the diagram and the details pane show it.
    pub focus: Option<Role>,
}

impl DemoPlayer {
    pub fn new(scenario: Scenario) -> Self {
        let narration = format!(
            "{} — {} steps; press n for the first",
            scenario.title,
            scenario.steps.len()
        );
        DemoPlayer {
            scenario,
            next: 0,
            narration,
            played: Vec::new(),
            looking_back: None,
            focus: None,
        }
    }

    /// The narration on screen: a looked-back step's, else the latest.
    pub fn shown(&self) -> &str {
        self.looking_back
            .and_then(|i| self.played.get(i))
            .map_or(&self.narration, |(text, _)| text)
    }

    /// The speaker notes of the step on screen.
    pub fn notes(&self) -> &str {
        let i = self
            .looking_back
            .or_else(|| self.played.len().checked_sub(1));
        i.and_then(|i| self.played.get(i))
            .map_or("", |(_, notes)| notes)
    }

    /// p: the step before the one on screen. Only the narration goes
    /// back: the sockets stay as they are (the kernel has moved on).
    pub fn back(&mut self) -> bool {
        let on_screen = self
            .looking_back
            .or_else(|| self.played.len().checked_sub(1));
        match on_screen {
            Some(i) if i > 0 => {
                self.looking_back = Some(i - 1);
                true
            }
            _ => false,
        }
    }

    /// n while looking back: forward through what was played; false when
    /// back at the latest (so n plays the next step).
    fn forward(&mut self) -> bool {
        let Some(i) = self.looking_back else {
            return false;
        };
        self.looking_back = (i + 1 < self.played.len().saturating_sub(1)).then_some(i + 1);
        true
    }
}

impl App {
    pub(super) fn demo_next(&mut self) -> Option<Effect> {
        let port = self.lab.port();
        if self.demo.is_none() && self.segments.link.is_some() {
            return self.link_next();
        }
        let Some(demo) = self.demo.as_mut() else {
            self.set_info("no demo is playing: tcpscope demo lists them");
            return None;
        };
        if demo.forward() {
            return None;
        }
        let Some(step) = demo.scenario.steps.get(demo.next).cloned() else {
            demo.narration = format!("{}: done — r plays it again", demo.scenario.title);
            return None;
        };
        let bind = self.lab.settings.next.bind;
        match demo::commands(&step.call, &self.lab.sockets, port, bind) {
            Ok(commands) => {
                demo.next += 1;
                let total = demo.scenario.steps.len();
                demo.narration =
                    format!("step {}/{total} · {} — {}", demo.next, step.text, step.say);
                demo.played
                    .push((demo.narration.clone(), step.notes.clone()));
                demo.focus = acted_on(&step.call, &self.lab.sockets);
                if matches!(step.call, Call::Wait(_)) {
                    return None;
                }
                if let Call::Link(call) = step.call {
                    return self.link_key(call);
                }
                Some(Effect::LabMany(commands))
            }
            Err(e) => {
                self.set_error(format!("demo step on line {}: {e}", step.line));
                None
            }
        }
    }

    /// p: the previous step's narration (and notes) back on screen.
    pub(super) fn demo_previous(&mut self) {
        let Some(demo) = self.demo.as_mut() else {
            return self.set_info("no demo is playing: tcpscope demo lists them");
        };
        if demo.back() {
            self.set_info("an earlier step: n goes forward again, then plays the next");
        } else {
            self.set_info("this is the first step played");
        }
    }

    /// Selects the demo's focus socket in the lab panel and the table.
    pub(super) fn demo_follow(&mut self) {
        let Some(role) = self.demo.as_ref().and_then(|d| d.focus) else {
            return;
        };
        let Some(id) = demo::resolve(role, &self.lab.sockets).map(|s| s.id) else {
            return;
        };
        if self.lab.rows.iter().any(|r| r.socket == id) {
            self.lab.selected = Some(id);
            self.select_lab_in_table();
        }
    }

    /// Closes every lab socket (RST, so nothing lingers) and the server,
    /// and starts the scenario over on a fresh port; the table's filter
    /// follows the new port.
    pub(super) fn demo_restart(&mut self) -> Option<Effect> {
        let mut commands: Vec<LabCommand> = self
            .lab
            .sockets
            .iter()
            .filter(|s| s.open && s.side != Side::Listener)
            .map(|s| LabCommand::Abort { id: s.id })
            .collect();
        if self.lab.settings.running.is_some() {
            commands.push(LabCommand::StopServer);
        }
        commands.push(LabCommand::Configure(OptionChanges {
            port: Some(0),
            ..OptionChanges::default()
        }));
        self.lab_filter = Some(self.lab.port());
        let demo = self.demo.as_mut()?;
        *demo = DemoPlayer::new(demo.scenario.clone());
        Some(Effect::LabMany(commands))
    }
}

/// The socket a call acts on (for a connect, the newest client).
fn acted_on(call: &Call, sockets: &[crate::lab::LabSocket]) -> Option<Role> {
    let count = |side: Side| sockets.iter().filter(|s| s.side == side).count();
    match call {
        Call::Listen { .. } | Call::Stop => Some(Role::Listener),
        Call::Connect(n) => Some(Role::Client(count(Side::Client) + n)),
        Call::Accept => Some(Role::Server(count(Side::Server) + 1)),
        Call::Send(r, _) | Call::Fill(r) | Call::Shutdown(r) | Call::Close(r) | Call::Reset(r) => {
            Some(*r)
        }
        Call::Read(r, _) | Call::Echo(r, _) | Call::Keepalive(r, _) => Some(*r),
        Call::Wait(_) | Call::Link(_) => None,
    }
}
