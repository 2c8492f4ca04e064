//! Demos: scripted scenarios on real lab sockets, one step at a time,
//! each showing the socket call it makes and what to look at. Scenario
//! files live in `assets/demos/`; a teacher can write their own.

pub mod link;
pub mod runner;
pub mod script;

pub use script::{Expect, Instruction, Role, Scenario, ScriptError, Step};

use crate::lab::{AcceptMode, LabCommand, LabSocket, OptionChanges, ServerOptions, Side};

/// The scenarios that ship with tcpscope: (name, file text).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "handshake",
        include_str!("../../assets/demos/handshake.demo"),
    ),
    (
        "client-close",
        include_str!("../../assets/demos/client-close.demo"),
    ),
    (
        "server-close-restart",
        include_str!("../../assets/demos/server-close-restart.demo"),
    ),
    (
        "close-wait-leak",
        include_str!("../../assets/demos/close-wait-leak.demo"),
    ),
    (
        "half-close",
        include_str!("../../assets/demos/half-close.demo"),
    ),
    ("reset", include_str!("../../assets/demos/reset.demo")),
    ("backlog", include_str!("../../assets/demos/backlog.demo")),
    (
        "fin-wait-1",
        include_str!("../../assets/demos/fin-wait-1.demo"),
    ),
    ("last-ack", include_str!("../../assets/demos/last-ack.demo")),
    (
        "simultaneous-close",
        include_str!("../../assets/demos/simultaneous-close.demo"),
    ),
    // Across the slow-motion link (root): segments delayed, held, lost.
    (
        "slow-handshake",
        include_str!("../../assets/demos/slow-handshake.demo"),
    ),
    (
        "slow-close",
        include_str!("../../assets/demos/slow-close.demo"),
    ),
    ("lost-syn", include_str!("../../assets/demos/lost-syn.demo")),
    (
        "lost-final-ack",
        include_str!("../../assets/demos/lost-final-ack.demo"),
    ),
    (
        "simultaneous-close-wire",
        include_str!("../../assets/demos/simultaneous-close-wire.demo"),
    ),
    (
        "keepalive",
        include_str!("../../assets/demos/keepalive.demo"),
    ),
    (
        "syn-backlog",
        include_str!("../../assets/demos/syn-backlog.demo"),
    ),
];

/// A built-in scenario by name, or a scenario file by path.
pub fn load(name: &str) -> Result<Scenario, String> {
    if let Some((n, text)) = BUILTIN.iter().find(|(n, _)| *n == name) {
        return script::parse(n, text).map_err(|e| format!("built-in demo {n}: {e}"));
    }
    let text = std::fs::read_to_string(name).map_err(|e| {
        let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        format!(
            "'{name}' is neither a demo ({}) nor a readable file ({why})",
            names.join(", ")
        )
    })?;
    script::parse(name, &text).map_err(|e| format!("{name}: {e}"))
}

/// The lab socket a role names: the newest listener, or the n-th client
/// or accepted connection in the order they were made.
pub fn resolve(role: Role, sockets: &[LabSocket]) -> Option<&LabSocket> {
    let nth = |side: Side, n: usize| {
        sockets
            .iter()
            .filter(|s| s.side == side)
            .nth(n.saturating_sub(1))
    };
    match role {
        Role::Listener => sockets.iter().rfind(|s| s.side == Side::Listener),
        Role::Client(n) => nth(Side::Client, n),
        Role::Server(n) => nth(Side::Server, n),
    }
}

/// The lab commands for one step, given the lab's sockets now. A listen
/// reuses `port` (the scenario's first listener's) when it is not 0, on
/// the address the lab's server binds (its end of the link, on one).
pub fn commands(
    call: &Instruction,
    sockets: &[LabSocket],
    port: u16,
    bind: std::net::IpAddr,
) -> Result<Vec<LabCommand>, String> {
    let id = |role: Role| {
        resolve(role, sockets)
            .map(|s| s.id)
            .ok_or_else(|| format!("there is no {role} yet at this step"))
    };
    let out = match call {
        Instruction::Listen {
            backlog,
            reuseaddr,
            buffers,
            manual,
            hold,
        } => {
            let accept = if *manual {
                AcceptMode::Manual
            } else {
                AcceptMode::Auto
            };
            let opts = ServerOptions {
                port,
                bind,
                backlog: *backlog,
                reuseaddr: *reuseaddr,
                buffers: *buffers,
            };
            let now = OptionChanges {
                accept: Some(accept),
                hold: Some(*hold),
                ..OptionChanges::default()
            };
            vec![LabCommand::Configure(now), LabCommand::StartServer(opts)]
        }
        Instruction::Stop => vec![LabCommand::StopServer],
        Instruction::Connect(n) => vec![LabCommand::Connect { count: *n }],
        Instruction::Accept => vec![LabCommand::AcceptOne],
        Instruction::Send(r, text) => vec![LabCommand::Send {
            id: id(*r)?,
            text: text.clone(),
        }],
        Instruction::Fill(r) => vec![LabCommand::Fill { id: id(*r)? }],
        Instruction::Shutdown(r) => vec![LabCommand::ShutdownWrite { id: id(*r)? }],
        Instruction::Close(r) => vec![LabCommand::Close { id: id(*r)? }],
        Instruction::Reset(r) => vec![LabCommand::Abort { id: id(*r)? }],
        Instruction::Read(r, on) => vec![LabCommand::SetReading {
            id: id(*r)?,
            on: *on,
        }],
        Instruction::Echo(r, on) => vec![LabCommand::SetEcho {
            id: id(*r)?,
            on: *on,
        }],
        Instruction::Keepalive(r, [idle, interval, count]) => vec![LabCommand::Keepalive {
            id: id(*r)?,
            idle: *idle,
            interval: *interval,
            count: *count,
        }],
        // The link is the player's to steer, not the lab's.
        Instruction::Wait(_) | Instruction::Link(_) => Vec::new(),
    };
    Ok(out)
}
