//! A demo in the TUI: `n` makes the next step's socket calls through
//! the lab and shows what to look at; `p` looks back at a step's
//! narration; `r` starts over on a fresh port. On the link, a step may
//! steer it.

use super::link::LinkStatus;
use crate::demo::{self, Instruction, Role, Scenario};
use crate::lab::{LabCommand, OptionChanges, Side};
use crate::ui::effect::{Effect, Reply};
use crate::ui::lab_view::LabView;

/// A demo being played, and the link it runs across, if any.
#[derive(Clone, Debug)]
pub struct DemoSession {
    pub player: DemoPlayer,
    pub link: Option<LinkStatus>,
}

impl DemoSession {
    pub fn new(scenario: Scenario, link: Option<LinkStatus>) -> DemoSession {
        DemoSession {
            player: DemoPlayer::new(scenario),
            link,
        }
    }

    /// n: forward through steps looked back at, else the next step.
    pub fn next(&mut self, lab: &LabView) -> Reply {
        let demo = &mut self.player;
        if demo.forward() {
            return Reply::nothing();
        }
        let Some(step) = demo.scenario.steps.get(demo.next).cloned() else {
            demo.narration = format!("{}: done — r plays it again", demo.scenario.title);
            return Reply::nothing();
        };
        let bind = lab.settings.next.bind;
        let commands = match demo::commands(&step.call, &lab.sockets, lab.port(), bind) {
            Ok(commands) => commands,
            Err(e) => return Reply::error(format!("demo step on line {}: {e}", step.line)),
        };
        demo.next += 1;
        let total = demo.scenario.steps.len();
        demo.narration = format!("step {}/{total} · {} — {}", demo.next, step.text, step.say);
        demo.played
            .push((demo.narration.clone(), step.notes.clone()));
        demo.focus = acted_on(&step.call, &lab.sockets);
        match (step.call, self.link.as_mut()) {
            (Instruction::Wait(_), _) => Reply::nothing(),
            (Instruction::Link(call), Some(link)) => link.steer(call),
            (Instruction::Link(_), None) => {
                Reply::error("this step steers the link: the demo runs without one")
            }
            _ => Reply::effect(Effect::LabMany(commands)),
        }
    }

    /// p: the previous step's narration (and notes) back on screen.
    pub fn previous(&mut self) -> Reply {
        if self.player.back() {
            Reply::info("an earlier step: n goes forward again, then plays the next")
        } else {
            Reply::info("this is the first step played")
        }
    }

    /// r: closes every lab socket (RST, so nothing lingers) and the
    /// server, and starts the scenario over on a fresh port.
    pub fn restart(&mut self, lab: &LabView) -> Reply {
        let mut commands: Vec<LabCommand> = lab
            .sockets
            .iter()
            .filter(|s| s.open && s.side != Side::Listener)
            .map(|s| LabCommand::Abort { id: s.id })
            .collect();
        if lab.settings.running.is_some() {
            commands.push(LabCommand::StopServer);
        }
        commands.push(LabCommand::Configure(OptionChanges {
            port: Some(0),
            ..OptionChanges::default()
        }));
        self.player = DemoPlayer::new(self.player.scenario.clone());
        Reply::effect(Effect::LabMany(commands))
    }

    /// The socket the last step acted on, once the lab reports it.
    pub fn focus(&self, lab: &LabView) -> Option<crate::lab::LabId> {
        let role = self.player.focus?;
        demo::resolve(role, &lab.sockets).map(|s| s.id)
    }
}

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

/// The socket a call acts on (for a connect, the newest client).
fn acted_on(call: &Instruction, sockets: &[crate::lab::LabSocket]) -> Option<Role> {
    let count = |side: Side| sockets.iter().filter(|s| s.side == side).count();
    match call {
        Instruction::Listen { .. } | Instruction::Stop => Some(Role::Listener),
        Instruction::Connect(n) => Some(Role::Client(count(Side::Client) + n)),
        Instruction::Accept => Some(Role::Server(count(Side::Server) + 1)),
        Instruction::Send(r, _)
        | Instruction::Fill(r)
        | Instruction::Shutdown(r)
        | Instruction::Close(r)
        | Instruction::Reset(r) => Some(*r),
        Instruction::Read(r, _) | Instruction::Echo(r, _) | Instruction::Keepalive(r, _) => {
            Some(*r)
        }
        Instruction::Wait(_) | Instruction::Link(_) => None,
    }
}
