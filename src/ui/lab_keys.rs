//! What the lab keys and prompts do: each turns into one `LabCommand` for
//! the loop to send, or a message saying why not. The socket a key acts on
//! is fixed when the key is pressed (a prompt remembers it), by lab socket
//! id, so rows moving meanwhile cannot redirect it. Results come back as
//! typed outcomes, completed with what only the table knows.

use super::app::{App, Focus};
use super::effect::Effect;
use super::keymap::LabKey;
use super::panes::Pane;
use super::prompt::PromptKind;
use crate::lab::explain::PortUse;
use crate::lab::options::{OptionChanges, parse_count, parse_options, parse_target};
use crate::lab::{AcceptMode, Done, LabCommand, LabError, LabId, LabSocket, MAX_SEND_BYTES, Side};
use crate::socket::TcpState;

impl App {
    pub(super) fn lab_key(&mut self, key: LabKey) -> Option<Effect> {
        if !self.panes.is_open(Pane::Lab) {
            self.set_error("lab keys work while the lab panel is open: press L");
            return None;
        }
        let settings = &self.lab.settings;
        match key {
            LabKey::StartStop => Some(Effect::Lab(match settings.running {
                Some(_) => LabCommand::StopServer,
                None => LabCommand::StartServer(settings.next.clone()),
            })),
            LabKey::Connect => Some(Effect::Lab(LabCommand::Connect { count: 1 })),
            LabKey::ConnectMany => self.ask(PromptKind::Count, String::new()),
            LabKey::Target => {
                let current = settings.target.as_ref().map(|t| t.to_string());
                self.ask(PromptKind::Target, current.unwrap_or_default())
            }
            LabKey::AcceptOne => Some(Effect::Lab(LabCommand::AcceptOne)),
            LabKey::ToggleAccept => {
                let accept = match settings.accept {
                    AcceptMode::Auto => AcceptMode::Manual,
                    AcceptMode::Manual => AcceptMode::Auto,
                };
                configure(OptionChanges {
                    accept: Some(accept),
                    ..OptionChanges::default()
                })
            }
            LabKey::ToggleHold => configure(OptionChanges {
                hold: Some(!settings.hold),
                ..OptionChanges::default()
            }),
            LabKey::Options => self.ask(PromptKind::Options, settings.next.to_string()),
            LabKey::Send => {
                let id = self.target_socket()?.id;
                self.ask(PromptKind::Send { id }, String::new())
            }
            LabKey::ShutdownWrite => self.on_selected(|id, _| LabCommand::ShutdownWrite { id }),
            LabKey::Fill => self.on_selected(|id, _| LabCommand::Fill { id }),
            LabKey::Close => self.on_selected(|id, _| LabCommand::Close { id }),
            LabKey::Reset => self.on_selected(|id, _| LabCommand::Abort { id }),
            LabKey::ToggleRead => {
                self.on_selected(|id, s| LabCommand::SetReading { id, on: !s.reading })
            }
            LabKey::ToggleEcho => self.on_selected(|id, s| LabCommand::SetEcho { id, on: !s.echo }),
        }
    }

    fn ask(&mut self, kind: PromptKind, text: String) -> Option<Effect> {
        self.open_prompt(kind, text);
        None
    }

    /// The lab socket the user means: the lab panel's selection when it has
    /// focus, otherwise the table's selected connection if it is a lab
    /// socket.
    fn target_socket(&mut self) -> Option<LabSocket> {
        let id = match self.focus {
            Focus::Lab => self.lab.selected,
            _ => self.table.selected.and_then(|c| self.lab.socket_of(c)),
        };
        let found = id.and_then(|id| self.lab.socket(id)).cloned();
        if found.is_none() {
            self.set_error("select a lab socket first: Tab to the lab panel, or pick a lab connection in the table");
        }
        found
    }

    fn on_selected(&mut self, make: impl Fn(LabId, &LabSocket) -> LabCommand) -> Option<Effect> {
        let socket = self.target_socket()?;
        Some(Effect::Lab(make(socket.id, &socket)))
    }

    pub(super) fn submit_lab_prompt(&mut self, kind: PromptKind, text: &str) -> Option<Effect> {
        let max = self.lab.settings.max_connections;
        let result = match kind {
            PromptKind::Count => {
                parse_count(text, max).map(|count| Some(Effect::Lab(LabCommand::Connect { count })))
            }
            PromptKind::Target => parse_target_or_none(text)
                .map(|target| Some(Effect::Lab(LabCommand::SetTarget(target)))),
            PromptKind::Options => parse_options(text).and_then(|c| {
                if c == OptionChanges::default() {
                    return Err(format!(
                        "no options given: {}",
                        crate::lab::options::OPTION_WORDS
                    ));
                }
                Ok(configure(c))
            }),
            PromptKind::Send { id } => self.send_text(id, text),
            PromptKind::Filter | PromptKind::Jump => Ok(None),
        };
        match result {
            Ok(effect) => {
                self.overlay = super::panes::Overlay::None;
                effect
            }
            Err(e) => {
                self.set_error(e);
                None
            }
        }
    }

    fn send_text(&mut self, id: LabId, text: &str) -> Result<Option<Effect>, String> {
        if text.is_empty() {
            return Err("nothing to send: type some text, or Esc to cancel".into());
        }
        if text.len() > MAX_SEND_BYTES {
            return Err(format!(
                "the text is {} bytes: the lab sends at most {MAX_SEND_BYTES} bytes per send()",
                text.len()
            ));
        }
        match self.lab.socket(id) {
            None => Err(format!("socket #{id} is gone; select another")),
            Some(s) if s.side == Side::Listener => {
                Err("that is the listener: it only accepts; pick a connection".into())
            }
            Some(_) => Ok(Some(Effect::Lab(LabCommand::Send {
                id,
                text: text.to_string(),
            }))),
        }
    }

    /// A command's result for the status line, with what the table adds:
    /// whether a FIN waits behind unsent data, who holds a port.
    pub(super) fn lab_outcome(&mut self, result: Result<Done, LabError>) {
        match result {
            Ok(done) => {
                let note = done
                    .fin_from
                    .map(|id| self.fin_note(id))
                    .unwrap_or_default();
                self.set_info(format!("{}{note}", done.text));
            }
            Err(e) => {
                let port = e
                    .port_in_use()
                    .map(|p| self.port_use(p))
                    .unwrap_or_default();
                self.set_error(e.describe(&port));
            }
        }
    }

    /// Whether the FIN a close or shutdown queued can leave: not while
    /// unsent data sits in Send-Q ahead of it.
    fn fin_note(&self, id: LabId) -> String {
        let row = self
            .lab
            .rows
            .iter()
            .find(|r| r.socket == id)
            .and_then(|r| r.conn)
            .and_then(|c| self.data.get(c))
            .map(|c| &c.row);
        match row.and_then(|r| r.send_q) {
            Some(0) => "; Send-Q is empty, so the FIN leaves now".into(),
            Some(q) => format!(
                "; the FIN waits behind {q} unsent bytes (Send-Q) until the peer's window opens"
            ),
            None => String::new(),
        }
    }

    /// Who uses a port, from the table: for a bind() that failed with
    /// "Address already in use".
    pub(super) fn port_use(&self, port: u16) -> PortUse {
        let live = self.data.conns.iter().filter(|c| !c.is_gone());
        let on_port: Vec<_> = live.filter(|c| c.row.key.local.port() == port).collect();
        let listener = on_port
            .iter()
            .find(|c| c.state() == TcpState::Listen)
            .map(|c| {
                let at = crate::socket::addr::display(&c.row.key.local);
                match c.row.owner.as_deref().filter(|o| !o.procs.is_empty()) {
                    Some(o) => format!("{} is listening on {at}", describe_owner(o)),
                    None => format!(
                        "a socket is listening on {at} (its owner is not visible: run as root to see it)"
                    ),
                }
            });
        let time_waits = on_port
            .iter()
            .filter(|c| c.state() == TcpState::TimeWait)
            .count();
        PortUse {
            listener,
            time_waits,
        }
    }
}

/// `pid 4242 (python3)` or `pids 4242, 4250 (python3)`.
fn describe_owner(o: &crate::socket::Owner) -> String {
    let pids: Vec<String> = o.pids().map(|p| p.to_string()).collect();
    let name = o
        .name()
        .map(|n| format!(" ({})", crate::socket::printable(n)))
        .unwrap_or_default();
    match pids.len() {
        1 => format!("pid {}{name}", pids[0]),
        _ => format!("pids {}{name}", pids.join(", ")),
    }
}

fn configure(changes: OptionChanges) -> Option<Effect> {
    Some(Effect::Lab(LabCommand::Configure(changes)))
}

/// Empty means the lab server again.
fn parse_target_or_none(text: &str) -> Result<Option<crate::lab::Target>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_target(text).map(Some)
}
