//! Plays a scenario without a terminal and checks, after each step, that
//! the pipeline (the project's own sources, with the tracepoint where it
//! is available) shows the states the step promises.

use super::script::{Call, Expect, Scenario};
use super::{commands, resolve};
use crate::lab::{Lab, LabConfig, LabEvent, LabSocket, ServerOptions};
use crate::pipeline::runner::{Feed, Runner};
use crate::socket::{Family, SocketKey, TcpState};
use crate::source::{Scope, Sources};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{Receiver, UnboundedReceiver};

/// How often the checker's pipeline reads the table.
const INTERVAL: Duration = Duration::from_millis(20);

/// How long a step's expectations may take (a dropped SYN is retried after 1 s and 3 s).
pub const STEP_PATIENCE: Duration = Duration::from_secs(6);

/// One step's result: `Err` says which expectation failed and what the kernel showed.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub line: usize,
    pub call: String,
    pub result: Result<(), String>,
}

struct Player {
    lab: Lab,
    events: UnboundedReceiver<LabEvent>,
    sockets: Vec<LabSocket>,
    port: u16,
    feed: Receiver<Feed>,
    _runner: Runner,
    /// The newest connection on each 4-tuple, from the latest update.
    conns: crate::pipeline::Mirror,
    traced: bool,
}

/// Plays every step in order on `port` (the lab's server port, which the
/// pipeline watches); stops at the first failing one.
pub async fn play(
    scenario: &Scenario,
    sources: Sources,
    port: u16,
) -> Result<Vec<StepResult>, String> {
    let traced = sources.changes.is_some();
    let scope = Scope::on_port(Some(port));
    let (tx, feed) = tokio::sync::mpsc::channel(64);
    let runner = Runner::spawn(sources, scope, INTERVAL, tx)
        .map_err(|e| format!("cannot start the pipeline: {e}"))?;
    let config = LabConfig {
        server: ServerOptions {
            port,
            ..ServerOptions::default()
        },
        ..LabConfig::default()
    };
    let (lab, events) = Lab::spawn(config);
    let mut p = Player {
        lab,
        events,
        sockets: Vec::new(),
        port,
        feed,
        _runner: runner,
        conns: crate::pipeline::Mirror::default(),
        traced,
    };
    let mut results = Vec::new();
    for step in &scenario.steps {
        let started = Instant::now();
        let outcome = p.run_call(&step.call).await;
        let result = p.check(&step.expect, outcome, started).await;
        let failed = result.is_err();
        results.push(StepResult {
            line: step.line,
            call: step.text.clone(),
            result,
        });
        if failed {
            break;
        }
    }
    Ok(results)
}

impl Player {
    /// Runs the step's commands; the last outcome is the step's.
    async fn run_call(&mut self, call: &Call) -> Result<String, String> {
        if let Call::Wait(ms) = call {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            return Ok(String::new());
        }
        let mut last = Ok(String::new());
        for cmd in commands(call, &self.sockets, self.port)? {
            let seq = self.lab.send(cmd);
            last = self.outcome(seq).await;
        }
        self.settle().await;
        last
    }

    async fn outcome(&mut self, seq: u64) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + STEP_PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(LabEvent::Outcome { seq: s, result })) if s == seq => {
                    return result.map(|d| d.text).map_err(|e| e.to_string());
                }
                Ok(Some(ev)) => self.absorb(ev),
                // Some calls (a connect into a full queue) finish later; go on.
                Ok(None) | Err(_) => return Ok("(still in progress)".into()),
            }
        }
    }

    fn absorb(&mut self, ev: LabEvent) {
        if let LabEvent::Sockets(list) = ev {
            self.sockets = list;
        }
    }

    /// Lets the lab's socket list catch up.
    async fn settle(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(120);
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            self.absorb(ev);
        }
    }

    /// Takes in every update the pipeline has sent.
    fn read(&mut self) {
        while let Ok(feed) = self.feed.try_recv() {
            let Feed::Update(update) = feed else { continue };
            self.conns.apply(&update.delta, |_, _| {});
        }
    }

    async fn check(
        &mut self,
        expects: &[Expect],
        outcome: Result<String, String>,
        since: Instant,
    ) -> Result<(), String> {
        if let Some(Expect::Error(text)) = expects.iter().find(|e| matches!(e, Expect::Error(_))) {
            return match outcome {
                Err(e) if e.contains(text.as_str()) => Ok(()),
                Err(e) => Err(format!("failed, but not with '{text}': {e}")),
                Ok(_) => Err(format!("succeeded; expected an error with '{text}'")),
            };
        }
        outcome?;
        let deadline = Instant::now() + STEP_PATIENCE;
        loop {
            self.settle().await;
            self.read();
            let missing: Vec<String> = expects
                .iter()
                .filter_map(|e| self.unmet(e, since))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(missing.join("; "));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Why an expectation does not hold yet, or `None` when it does.
    fn unmet(&self, e: &Expect, since: Instant) -> Option<String> {
        let (role, states, trace_only) = match e {
            Expect::State {
                trace_only: true, ..
            } if !self.traced => return None,
            Expect::State {
                role,
                states,
                trace_only,
            } => (*role, Some(states), *trace_only),
            Expect::Gone(role) => (*role, None, false),
            Expect::Error(_) => return None,
        };
        let Some(socket) = resolve(role, &self.sockets) else {
            return Some(format!("there is no {role}"));
        };
        let key = key(socket);
        let conn = self
            .conns
            .between(key.local, key.remote)
            .map(|c| c.as_ref());
        let live = conn.filter(|c| !c.is_gone());
        match (states, conn) {
            (None, _) => live.map(|c| format!("{role} is still {}", c.state())),
            // A short state counts if the connection passed through it since
            // the step began (or ever, for expect-trace: the kernel may have
            // got there before the lab could name the socket).
            (Some(want), Some(c)) => {
                let passed = c
                    .timeline
                    .iter()
                    .any(|p| want.contains(&p.state) && (trace_only || p.entered >= since));
                let now = live.is_some_and(|c| want.contains(&c.state()));
                (!passed && !now).then(|| format!("{role} is {}, not {}", c.state(), names(want)))
            }
            (Some(want), None) => Some(format!(
                "{role} is not in the table, expected {}",
                names(want)
            )),
        }
    }
}

fn names(states: &[TcpState]) -> String {
    states
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The table's key for a lab socket (a listener's remote is unconnected).
fn key(s: &LabSocket) -> SocketKey {
    let family = if s.local.is_ipv4() {
        Family::Inet
    } else {
        Family::Inet6
    };
    let unconnected = match s.local {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    SocketKey::new(family, s.local, s.remote.unwrap_or(unconnected))
}

/// A step that failed, for messages: `line 12 (close client): …`.
pub fn describe(r: &StepResult) -> String {
    match &r.result {
        Ok(()) => format!("line {} ({}): ok", r.line, r.call),
        Err(e) => format!("line {} ({}): {e}", r.line, r.call),
    }
}
