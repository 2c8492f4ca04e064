//! What the lab keys and prompts do: each turns into one `LabCommand`
//! for the loop to send, or a message saying why not.

use super::action::LabKey;
use super::app::{App, Effect, Focus};
use super::prompt::PromptKind;
use crate::lab::options::{parse_count, parse_options, parse_target};
use crate::lab::{AcceptMode, LabCommand, LabId, LabSocket, MAX_SEND_BYTES, Side};

impl App {
    pub(super) fn lab_key(&mut self, key: LabKey) -> Option<Effect> {
        if !self.lab.visible {
            self.set_error("lab keys work while the lab panel is open: press L");
            return None;
        }
        match key {
            LabKey::StartStop => Some(self.start_stop()),
            LabKey::Connect => self.connect(1),
            LabKey::ConnectMany => self.ask(PromptKind::Count, String::new()),
            LabKey::Target => {
                let current = self
                    .lab
                    .target
                    .as_ref()
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                self.ask(PromptKind::Target, current)
            }
            LabKey::AcceptOne => Some(Effect::Lab(LabCommand::AcceptOne)),
            LabKey::ToggleAccept => self.toggle_accept(),
            LabKey::ToggleHold => {
                self.lab.hold = !self.lab.hold;
                Some(Effect::Lab(LabCommand::SetHold(self.lab.hold)))
            }
            LabKey::Options => self.ask(PromptKind::Options, self.lab.options.to_string()),
            LabKey::Send => {
                self.target_socket()?;
                self.ask(PromptKind::Send, String::new())
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

    fn start_stop(&mut self) -> Effect {
        match self.lab.server {
            Some(_) => Effect::Lab(LabCommand::StopServer),
            None => Effect::Lab(LabCommand::StartServer(self.lab.options.clone())),
        }
    }

    fn connect(&mut self, count: usize) -> Option<Effect> {
        let target = self.lab.target.clone();
        Some(Effect::Lab(LabCommand::Connect { target, count }))
    }

    fn toggle_accept(&mut self) -> Option<Effect> {
        self.lab.accept = match self.lab.accept {
            AcceptMode::Auto => AcceptMode::Manual,
            AcceptMode::Manual => AcceptMode::Auto,
        };
        Some(Effect::Lab(LabCommand::SetAcceptMode(self.lab.accept)))
    }

    /// The lab socket the user means: the lab panel's selection when it has
    /// focus, otherwise the table's selected row if it is a lab socket.
    fn target_socket(&mut self) -> Option<LabSocket> {
        let found = match self.focus {
            Focus::Lab => self.lab.selected().cloned(),
            _ => self.listing.conn_at(self.cursor).and_then(|conn| {
                let row = self.lab.rows.iter().find(|r| r.conn == Some(conn))?;
                Some(self.lab.sockets[row.socket].clone())
            }),
        };
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
        let result = match kind {
            PromptKind::Count => parse_count(text, self.lab.max_connections).map(|n| {
                let target = self.lab.target.clone();
                Some(Effect::Lab(LabCommand::Connect { target, count: n }))
            }),
            PromptKind::Target => self.set_target(text),
            PromptKind::Options => self.set_options(text),
            PromptKind::Send => self.send_text(text),
            PromptKind::Filter => Ok(None),
        };
        match result {
            Ok(effect) => {
                self.prompt = None;
                effect
            }
            Err(e) => {
                self.set_error(e);
                None
            }
        }
    }

    fn set_target(&mut self, text: &str) -> Result<Option<Effect>, String> {
        if text.trim().is_empty() {
            self.lab.target = None;
        } else {
            self.lab.target = Some(parse_target(text)?);
        }
        self.set_info(format!("clients connect to {}", self.lab.target_label()));
        Ok(None)
    }

    fn set_options(&mut self, text: &str) -> Result<Option<Effect>, String> {
        let changes = parse_options(text)?;
        let o = &mut self.lab.options;
        o.bind = changes.bind.unwrap_or(o.bind);
        o.port = changes.port.unwrap_or(o.port);
        o.backlog = changes.backlog.unwrap_or(o.backlog);
        o.reuseaddr = changes.reuseaddr.unwrap_or(o.reuseaddr);
        o.buffers = changes.buffers.unwrap_or(o.buffers);
        let mut effect = None;
        if let Some(mode) = changes.accept {
            self.lab.accept = mode;
            effect = Some(Effect::Lab(LabCommand::SetAcceptMode(mode)));
        }
        if let Some(hold) = changes.hold {
            self.lab.hold = hold;
            effect = Some(Effect::Lab(LabCommand::SetHold(hold)));
        }
        let when = if self.lab.server.is_some() {
            "at the next start (S twice)"
        } else {
            "when the server starts (S)"
        };
        self.set_info(format!(
            "server options: {} — used {when}",
            self.lab.options
        ));
        Ok(effect)
    }

    fn send_text(&mut self, text: &str) -> Result<Option<Effect>, String> {
        if text.is_empty() {
            return Err("nothing to send: type some text, or Esc to cancel".into());
        }
        if text.len() > MAX_SEND_BYTES {
            return Err(format!(
                "the text is {} bytes: the lab sends at most {MAX_SEND_BYTES} bytes per send()",
                text.len()
            ));
        }
        let Some(socket) = self.target_socket() else {
            return Err("the socket to send on is gone; select another".into());
        };
        if socket.side == Side::Listener {
            return Err("that is the listener: it only accepts; pick a connection".into());
        }
        Ok(Some(Effect::Lab(LabCommand::Send {
            id: socket.id,
            text: text.to_string(),
        })))
    }
}
