//! Plays a scenario without a terminal and checks, after each step, that
//! the pipeline (the project's own sources, with the tracepoint where it
//! is available) shows the states the step promises.

use super::link::{SegmentExpect, Sender};
use super::script::{CauseWant, Expect, Instruction, Role, Scenario};
use super::{commands, resolve};
use crate::lab::link::LabLink;
use crate::lab::link::LinkOrder;
use crate::lab::{Lab, LabConfig, LabEvent, LabSocket, ServerOptions};
use crate::pipeline::runner::{Feed, Runner};
use crate::socket::Flags;
use crate::socket::crossings::{Fate, SegmentLog};
use crate::socket::{Cause, Family, SocketKey, TcpState};
use crate::source::{Scope, Sources};
use std::collections::HashMap;
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
    /// How each 4-tuple's connection ended, kept after the table drops it.
    ended: HashMap<(SocketAddr, SocketAddr), Cause>,
    traced: bool,
    /// The lab's problems as reported, with when.
    notices: Vec<(Instant, String)>,
    /// The slow-motion link, for a `wire:` demo.
    link: Option<Wired>,
}

/// A `wire:` demo's link and what crossed it.
struct Wired {
    link: LabLink,
    log: SegmentLog,
    /// The server namespace's counters when the step began.
    counters: Vec<(String, u64)>,
}

/// Plays every step in order on `port` (the lab's server port, which the
/// pipeline watches); stops at the first failing one.
pub async fn play(
    scenario: &Scenario,
    sources: Sources,
    port: u16,
    link: Option<LabLink>,
) -> Result<Vec<StepResult>, String> {
    let traced = sources.changes.is_some();
    let scope = Scope::on_port(Some(port));
    let (tx, feed) = tokio::sync::mpsc::channel(64);
    // Request sockets (SYN_RECV) fire no tracepoint: on the link, where
    // they last, the table is read whole at every interval.
    let reconcile = match link {
        Some(_) => INTERVAL,
        None => crate::pipeline::runner::RECONCILE,
    };
    let runner = Runner::spawn_reconciling(sources, scope, INTERVAL, reconcile, tx)
        .map_err(|e| format!("cannot start the pipeline: {e}"))?;
    let mut config = LabConfig {
        server: ServerOptions {
            port,
            ..ServerOptions::default()
        },
        ..LabConfig::default()
    };
    if let Some(link) = &link {
        config.server.bind = LabLink::server_ip();
        config.places = link.places();
    }
    let (lab, events) = Lab::spawn(config);
    let mut p = Player {
        lab,
        events,
        sockets: Vec::new(),
        port,
        feed,
        _runner: runner,
        conns: crate::pipeline::Mirror::default(),
        ended: HashMap::new(),
        traced,
        notices: Vec::new(),
        link: link.map(|link| Wired {
            link,
            log: SegmentLog::default(),
            counters: Vec::new(),
        }),
    };
    let mut results = Vec::new();
    for step in &scenario.steps {
        let started = Instant::now();
        p.count_now();
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
    async fn run_call(&mut self, call: &Instruction) -> Result<String, String> {
        if let Instruction::Wait(ms) = call {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            return Ok(String::new());
        }
        if let Instruction::Link(step) = call {
            return self.steer(*step).await;
        }
        let mut last = Ok(String::new());
        let bind = match self.link {
            Some(_) => LabLink::server_ip(),
            None => ServerOptions::default().bind,
        };
        for cmd in commands(call, &self.sockets, self.port, bind)? {
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
        match ev {
            LabEvent::Sockets(list) => self.sockets = list,
            LabEvent::Notice(e) => self.notices.push((Instant::now(), e.to_string())),
            _ => {}
        }
    }

    /// A `wire` step: the link does as told.
    async fn steer(&mut self, step: LinkOrder) -> Result<String, String> {
        let Some(w) = &mut self.link else {
            return Err("a wire step needs a 'wire:' line at the top of the demo".into());
        };
        let done = match step {
            // A demo's release waits for the segment to be there.
            LinkOrder::Release(n) => {
                for _ in 0..n {
                    release_one(&w.link.control).await?;
                }
                format!("{n} segment(s) let through")
            }
            other => w.link.steer(other, self.port).map_err(|e| e.to_string())?,
        };
        self.settle().await;
        Ok(done)
    }

    /// Reads the server namespace's counters, to compare at the check.
    fn count_now(&mut self) {
        if let Some(w) = &mut self.link {
            w.counters = w
                .link
                .server_counters()
                .map(|t| crate::source::activity::netstat_counters(&t))
                .unwrap_or_default();
        }
    }

    /// Takes in what crossed the link so far.
    fn pump(&mut self) {
        let Some(w) = &mut self.link else { return };
        while let Ok(p) = w.link.passages.try_recv() {
            crate::lab::link::record(&mut w.log, &p, self.port);
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
            let ended = &mut self.ended;
            self.conns.apply(&update.delta, |_, new| {
                if let Some(c) = new.filter(|c| c.is_gone()) {
                    let tuple = (c.row.key.local, c.row.key.remote);
                    ended.insert(tuple, c.end_cause.clone());
                }
            });
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
            self.pump();
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
            Expect::Cause { .. } if !self.traced => return None,
            Expect::Cause { role, state, want } => return self.wrong_cause(*role, *state, *want),
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
            Expect::Segment(s) => return self.no_segment(s, since),
            Expect::Counter(name) => return self.counter_still(name),
            Expect::Notice(text) => {
                let seen = self
                    .notices
                    .iter()
                    .any(|(at, n)| *at >= since && n.contains(text.as_str()));
                return (!seen).then(|| format!("the lab reported nothing with '{text}'"));
            }
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

impl Player {
    /// Why `role` did not enter `state` (or end) for the cause wanted.
    fn wrong_cause(&self, role: Role, state: Option<TcpState>, want: CauseWant) -> Option<String> {
        let Some(socket) = resolve(role, &self.sockets) else {
            return Some(format!("there is no {role}"));
        };
        let key = key(socket);
        let conn = self.conns.between(key.local, key.remote);
        let (what, cause) = match (state, conn) {
            (None, Some(c)) if !c.is_gone() => {
                return Some(format!("{role} is still {}", c.state()));
            }
            (None, _) => (
                "ended".to_string(),
                self.ended.get(&(key.local, key.remote)),
            ),
            (Some(_), None) => return Some(format!("{role} is not in the table")),
            (Some(s), Some(c)) => {
                let phase = c.timeline.iter().rev().find(|p| p.state == s);
                (format!("entered {s}"), phase.map(|p| &p.cause))
            }
        };
        match cause {
            Some(cause) if want.admits(cause) => None,
            Some(cause) => Some(format!("{role} {what} on {}, not {want}", cause.words())),
            None => Some(format!("{role} has not {what}, expected it on {want}")),
        }
    }

    /// Why no such segment crossed the link since `since`.
    fn no_segment(&self, want: &SegmentExpect, since: Instant) -> Option<String> {
        let Some(w) = &self.link else {
            return Some("segments are checked only on a 'wire:' demo".into());
        };
        let from = match want.from {
            Sender::Client => crate::source::link::CLIENT_ADDR,
            Sender::Server => crate::source::link::SERVER_ADDR,
        };
        let seen = w.log.all().any(|c| {
            (c.segment.at >= since || c.ended.is_some_and(|e| e >= since))
                && c.from().ip() == std::net::IpAddr::V4(from)
                && same_flags(c.segment.flags, want.flags)
                && (!want.retransmission || c.segment.retransmission)
                && (!want.dropped || c.fate == Fate::Dropped)
        });
        (!seen).then(|| {
            let who = match want.from {
                Sender::Client => "client",
                Sender::Server => "server",
            };
            let how = match (want.retransmission, want.dropped) {
                (true, true) => " retransmitted and dropped",
                (true, false) => " retransmitted",
                (false, true) => " dropped",
                (false, false) => "",
            };
            format!(
                "no {} from the {who}{how} crossed the link",
                want.flags.names().join("+")
            )
        })
    }

    /// Why the counter has not gone up since the step began.
    fn counter_still(&self, name: &str) -> Option<String> {
        let w = self.link.as_ref()?;
        let now = w
            .link
            .server_counters()
            .map(|t| crate::source::activity::netstat_counters(&t))
            .unwrap_or_default();
        let get = |list: &[(String, u64)]| list.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        match (get(&w.counters), get(&now)) {
            (_, None) => Some(format!("the kernel has no counter {name}")),
            (before, Some(after)) if after > before.unwrap_or(0) => None,
            (_, Some(after)) => Some(format!("{name} stayed at {after}")),
        }
    }
}

/// PSH rides along with data; unless asked for, it does not count.
fn same_flags(got: Flags, want: Flags) -> bool {
    let mask = if want.has(Flags::PSH) {
        0xff
    } else {
        !Flags::PSH
    };
    got.0 & mask == want.0 & mask
}

/// Lets one waiting segment through, waiting a little for one to come.
async fn release_one(c: &crate::source::link::LinkControl) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !c.release_next() {
        if Instant::now() >= deadline {
            return Err("no segment waited on the link to be let through".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
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
/// Safe to print: a step's text and its failure quote the file.
pub fn describe(r: &StepResult) -> String {
    let said = match &r.result {
        Ok(()) => format!("line {} ({}): ok", r.line, r.call),
        Err(e) => format!("line {} ({}): {e}", r.line, r.call),
    };
    crate::socket::printable(&said)
}
