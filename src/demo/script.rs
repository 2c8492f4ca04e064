//! Demo scenarios as text files a teacher can write: steps of socket calls,
//! what to say about each, and the states each must reach. A malformed
//! file gets an error naming the line.
//!
//! ```text
//! title: Three-way handshake
//! step: listen backlog=1
//! say: The server calls listen(): its socket waits in LISTEN.
//! expect: listener LISTEN
//! ```

use super::link::{self, SegmentExpect, WireSetup};
use crate::lab::link::LinkOrder;
use crate::socket::TcpState;
use crate::socket::cause::{ALL_CALLS, ALL_TIMERS, Call, Cause, Timer};
use crate::socket::segment::Flags;
use std::fmt;

/// Who a step or expectation is about: the listener, or the n-th client
/// or accepted (server) connection, counted from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Listener,
    Client(usize),
    Server(usize),
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Listener => f.write_str("listener"),
            Role::Client(1) => f.write_str("client"),
            Role::Server(1) => f.write_str("server"),
            Role::Client(n) => write!(f, "client{n}"),
            Role::Server(n) => write!(f, "server{n}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instruction {
    Listen {
        backlog: u32,
        reuseaddr: bool,
        buffers: Option<u32>,
        manual: bool,
        hold: bool,
    },
    Stop,
    Connect(usize),
    Accept,
    Send(Role, String),
    Fill(Role),
    Shutdown(Role),
    Close(Role),
    Reset(Role),
    Read(Role, bool),
    Echo(Role, bool),
    Wait(u64),
    /// A step on the lab's link (a `wire:` demo).
    Link(LinkOrder),
    /// SO_KEEPALIVE with idle, interval (seconds) and probe count.
    Keepalive(Role, [u32; 3]),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The role's socket is in (or passes through) one of these states.
    State {
        role: Role,
        states: Vec<TcpState>,
        trace_only: bool,
    },
    /// The role's socket is no longer in the table.
    Gone(Role),
    /// The step's call fails with a message containing this text.
    Error(String),
    /// Such a segment crossed the link since the step began.
    Segment(SegmentExpect),
    /// This counter of the server's namespace (`/proc/net/netstat`,
    /// e.g. SyncookiesSent) went up since the step began.
    Counter(String),
    /// The lab reported a problem containing this text (ETIMEDOUT).
    Notice(String),
    /// The role's socket entered `state` (or ended, for `None`) for this
    /// cause; checked only where the kernel's changes are traced.
    Cause {
        role: Role,
        state: Option<TcpState>,
        want: CauseWant,
    },
}

/// A cause as a demo names it: `call close`, `segment FIN`, `timer
/// keepalive`, or just the kind. Segment flags need only be among those
/// that arrived (`FIN` admits FIN+ACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauseWant {
    Call(Option<Call>),
    Segment(Flags),
    Timer(Option<Timer>),
}

impl CauseWant {
    pub fn admits(self, c: &Cause) -> bool {
        match (self, c) {
            (CauseWant::Call(want), Cause::Call { call, .. }) => want.is_none() || want == *call,
            (CauseWant::Segment(want), Cause::Segment(got)) => got.0 & want.0 == want.0,
            (CauseWant::Timer(want), Cause::Timer(got)) => want.is_none_or(|w| w == *got),
            _ => false,
        }
    }
}

impl fmt::Display for CauseWant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CauseWant::Call(Some(c)) => write!(f, "call {}", c.name()),
            CauseWant::Call(None) => f.write_str("a call"),
            CauseWant::Segment(flags) => write!(f, "segment {}", flags.names().join("+")),
            CauseWant::Timer(Some(t)) => write!(f, "timer {}", t.name()),
            CauseWant::Timer(None) => f.write_str("a timer"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub line: usize,
    pub call: Instruction,
    pub text: String,
    pub say: String,
    /// Speaker notes: for the presenter's pane, not the class's screen.
    pub notes: String,
    pub expect: Vec<Expect>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    pub title: String,
    pub steps: Vec<Step>,
    /// Played across the slow-motion link (`wire:` line).
    pub wire: Option<WireSetup>,
}

/// What is wrong with a scenario file, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message quotes the file, which may hold escape sequences.
        let message = crate::socket::printable(&self.message);
        write!(f, "line {}: {message}", self.line)
    }
}

pub fn parse(name: &str, text: &str) -> Result<Scenario, ScriptError> {
    let mut scenario = Scenario {
        name: name.to_string(),
        title: name.to_string(),
        steps: Vec::new(),
        wire: None,
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let err = |message: String| ScriptError { line, message };
        let (key, value) = raw.split_once(':').ok_or_else(|| {
            err(format!(
                "'{raw}' is not 'key: value' (keys: title, wire, step, say, note, expect, expect-trace, expect-cause)"
            ))
        })?;
        let value = value.trim();
        match key.trim() {
            "title" => scenario.title = value.to_string(),
            "wire" => scenario.wire = Some(link::parse_setup(value).map_err(err)?),
            "step" => {
                let call = parse_call(value).map_err(err)?;
                scenario.steps.push(Step {
                    line,
                    call,
                    text: value.to_string(),
                    say: String::new(),
                    notes: String::new(),
                    expect: Vec::new(),
                });
            }
            k @ ("say" | "note" | "expect" | "expect-trace" | "expect-cause") => {
                let step = scenario
                    .steps
                    .last_mut()
                    .ok_or_else(|| err(format!("'{k}' before any 'step'")))?;
                if k == "say" || k == "note" {
                    let text = if k == "say" {
                        &mut step.say
                    } else {
                        &mut step.notes
                    };
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(value);
                } else if k == "expect-cause" {
                    step.expect.push(parse_expect_cause(value).map_err(err)?);
                } else {
                    step.expect
                        .push(parse_expect(value, k == "expect-trace").map_err(err)?);
                }
            }
            other => {
                return Err(err(format!(
                    "unknown key '{other}': use title, wire, step, say, note, expect, expect-trace or expect-cause"
                )));
            }
        }
    }
    if scenario.steps.is_empty() {
        return Err(ScriptError {
            line: text.lines().count().max(1),
            message: "no steps: add 'step: …' lines".into(),
        });
    }
    Ok(scenario)
}

fn parse_role(word: &str) -> Result<Role, String> {
    let number = |rest: &str| {
        if rest.is_empty() {
            Ok(1)
        } else {
            rest.parse::<usize>().map_err(|_| ())
        }
    };
    let role = if word == "listener" {
        Ok(Role::Listener)
    } else if let Some(rest) = word.strip_prefix("client") {
        number(rest).map(Role::Client)
    } else if let Some(rest) = word.strip_prefix("server") {
        number(rest).map(Role::Server)
    } else {
        Err(())
    };
    role.map_err(|()| {
        format!("unknown socket '{word}': use listener, client, client2…, server, server2…")
    })
}

fn on_off(word: Option<&str>) -> Result<bool, String> {
    match word {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        other => Err(format!("expected on or off, got '{}'", other.unwrap_or(""))),
    }
}

fn parse_call(text: &str) -> Result<Instruction, String> {
    let mut words = text.split_whitespace();
    let verb = words.next().unwrap_or("");
    let role = |w: Option<&str>| parse_role(w.unwrap_or(""));
    let call = match verb {
        "listen" => parse_listen(words)?,
        "stop" => Instruction::Stop,
        "connect" => Instruction::Connect(words.next().map_or(Ok(1), |n| {
            n.parse()
                .map_err(|_| format!("'{n}' is not a number of clients"))
        })?),
        "accept" => Instruction::Accept,
        "send" => {
            let r = role(words.next())?;
            let text: Vec<&str> = words.by_ref().collect();
            if text.is_empty() {
                return Err("send needs text: 'send client hello'".into());
            }
            Instruction::Send(r, text.join(" "))
        }
        "fill" => Instruction::Fill(role(words.next())?),
        "shutdown" => Instruction::Shutdown(role(words.next())?),
        "close" => Instruction::Close(role(words.next())?),
        "reset" => Instruction::Reset(role(words.next())?),
        "read" => Instruction::Read(role(words.next())?, on_off(words.next())?),
        "echo" => Instruction::Echo(role(words.next())?, on_off(words.next())?),
        "wait" => Instruction::Wait(parse_wait(words.next())?),
        "wire" => Instruction::Link(link::parse_call(words)?),
        "keepalive" => {
            let (who, values) = link::parse_keepalive(words)?;
            Instruction::Keepalive(parse_role(who)?, values)
        }
        other => {
            return Err(format!(
                "unknown call '{other}': use listen, stop, connect, accept, send, fill, shutdown, close, reset, read, echo, keepalive, wait, wire"
            ));
        }
    };
    Ok(call)
}

/// The longest a demo step may wait: longer is surely a typo.
pub const MAX_WAIT_MS: u64 = 10 * 60 * 1000;

/// `wait 500ms`, at most [`MAX_WAIT_MS`].
fn parse_wait(word: Option<&str>) -> Result<u64, String> {
    let text = word.unwrap_or("");
    let ms: u64 = text
        .strip_suffix("ms")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("'{text}' is not a wait: write it like 'wait 500ms'"))?;
    if ms > MAX_WAIT_MS {
        return Err(format!(
            "wait {ms}ms is too long: a step waits at most {MAX_WAIT_MS}ms (10 minutes)"
        ));
    }
    Ok(ms)
}

fn parse_listen<'a>(words: impl Iterator<Item = &'a str>) -> Result<Instruction, String> {
    let (mut backlog, mut reuseaddr, mut buffers, mut manual, mut hold) =
        (128, false, None, false, true);
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("'{w}' is not option=value"))?;
        match k {
            "backlog" => {
                backlog = v
                    .parse()
                    .map_err(|_| format!("backlog '{v}' is not a number"))?
            }
            "reuseaddr" => reuseaddr = on_off(Some(v))?,
            "buffers" => {
                buffers = Some(
                    v.parse()
                        .map_err(|_| format!("buffers '{v}' is not a number of bytes"))?,
                )
            }
            "accept" => {
                manual = match v {
                    "manual" => true,
                    "auto" => false,
                    _ => return Err(format!("accept '{v}' is neither auto nor manual")),
                }
            }
            "hold" => hold = on_off(Some(v))?,
            _ => {
                return Err(format!(
                    "unknown listen option '{k}': use backlog, reuseaddr, buffers, accept, hold"
                ));
            }
        }
    }
    Ok(Instruction::Listen {
        backlog,
        reuseaddr,
        buffers,
        manual,
        hold,
    })
}

/// `server CLOSE_WAIT segment FIN`, `client FIN_WAIT_1 call close`,
/// `client gone timer keepalive`.
fn parse_expect_cause(text: &str) -> Result<Expect, String> {
    const FORM: &str = "write it as 'expect-cause: server CLOSE_WAIT segment FIN' (kinds: call NAME, segment FLAGS, timer NAME)";
    let mut words = text.split_whitespace();
    let role = parse_role(words.next().unwrap_or(""))?;
    let state = match words.next() {
        Some("gone") => None,
        Some(s) => Some(TcpState::parse(s).ok_or_else(|| format!("unknown state '{s}'"))?),
        None => return Err(format!("a state is missing: {FORM}")),
    };
    let detail = |w: Option<&str>| w.map(str::to_ascii_lowercase);
    let want = match (words.next(), words.next()) {
        (Some("call"), name) => CauseWant::Call(match detail(name) {
            Some(n) => Some(Call::from_name(&n).ok_or_else(|| {
                let names: Vec<_> = ALL_CALLS.iter().map(|c| c.name()).collect();
                format!("unknown call '{n}': use one of {}", names.join(", "))
            })?),
            None => None,
        }),
        (Some("timer"), name) => CauseWant::Timer(match detail(name) {
            Some(n) => Some(Timer::from_name(&n).ok_or_else(|| {
                let names: Vec<_> = ALL_TIMERS.iter().map(|t| t.name()).collect();
                format!("unknown timer '{n}': use one of {}", names.join(", "))
            })?),
            None => None,
        }),
        (Some("segment"), Some(flags)) => CauseWant::Segment(
            Flags::from_names(flags.split('+'))
                .map_err(|f| format!("unknown flag '{f}': use SYN, ACK, FIN, RST"))?,
        ),
        (Some("segment"), None) => return Err(format!("the segment's flags are missing: {FORM}")),
        (Some(other), _) => return Err(format!("unknown cause '{other}': {FORM}")),
        (None, _) => return Err(format!("a cause is missing: {FORM}")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("'{extra}' after the cause: {FORM}"));
    }
    Ok(Expect::Cause { role, state, want })
}

fn parse_expect(text: &str, trace_only: bool) -> Result<Expect, String> {
    if let Some(rest) = text.strip_prefix("error ") {
        return Ok(Expect::Error(rest.trim().to_string()));
    }
    if let Some(rest) = text.strip_prefix("notice ") {
        return Ok(Expect::Notice(rest.trim().to_string()));
    }
    if let Some(rest) = text.strip_prefix("counter ") {
        return Ok(Expect::Counter(rest.trim().to_string()));
    }
    if let Some(rest) = text.strip_prefix("segment ") {
        return link::parse_segment(rest.split_whitespace()).map(Expect::Segment);
    }
    let mut words = text.split_whitespace();
    let role = parse_role(words.next().unwrap_or(""))?;
    let what = words
        .next()
        .ok_or("expect needs a state: 'expect: client FIN_WAIT_2'")?;
    if let Some(extra) = words.next() {
        return Err(format!(
            "'{extra}' after the state: write an expect line as 'expect: client FIN_WAIT_2' (several states as FIN_WAIT_2|TIME_WAIT)"
        ));
    }
    if what == "gone" {
        return Ok(Expect::Gone(role));
    }
    let states = what
        .split('|')
        .map(|s| TcpState::parse(s).ok_or_else(|| format!("unknown state '{s}'")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Expect::State {
        role,
        states,
        trace_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_scenario_parses() {
        let s = parse("t", "title: T\nstep: listen backlog=1\nsay: hello\nsay: world\nexpect: listener LISTEN\nstep: close client\nexpect: client FIN_WAIT_2|TIME_WAIT\nexpect-trace: client FIN_WAIT_1\n").expect("valid");
        assert_eq!(s.title, "T");
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[0].say, "hello world");
        assert!(matches!(
            s.steps[0].call,
            Instruction::Listen { backlog: 1, .. }
        ));
        assert_eq!(s.steps[1].expect.len(), 2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("t", "title: T\nstep: listen\nstep: juggle client\n").expect_err("bad call");
        assert_eq!(e.line, 3);
        assert!(
            e.to_string().starts_with("line 3: unknown call 'juggle'"),
            "{e}"
        );
        let e = parse("t", "say: too early\n").expect_err("no step");
        assert_eq!(e.to_string(), "line 1: 'say' before any 'step'");
        let e = parse("t", "step: close clientX\n").expect_err("bad role");
        assert!(e.to_string().contains("unknown socket 'clientX'"), "{e}");
        let e = parse("t", "step: listen\nexpect: client ESTABLISH\n").expect_err("bad state");
        assert_eq!(e.to_string(), "line 2: unknown state 'ESTABLISH'");
        let e = parse("t", "step: wait 18446744073709551615ms\n").expect_err("too long");
        assert_eq!(
            e.to_string(),
            "line 1: wait 18446744073709551615ms is too long: a step waits at most 600000ms (10 minutes)"
        );
        let e = parse("t", "step: listen\nexpect: listener LISTEN junk\n").expect_err("extra");
        assert!(
            e.to_string().starts_with("line 2: 'junk' after the state"),
            "{e}"
        );
        let e = parse("t", "step: listen accept=manaul\n").expect_err("a typo");
        assert_eq!(
            e.to_string(),
            "line 1: accept 'manaul' is neither auto nor manual"
        );
        let s = parse("t", "step: listen accept=auto\n").expect("auto is a value");
        assert!(matches!(
            s.steps[0].call,
            Instruction::Listen { manual: false, .. }
        ));
        let e = parse("t", "step: wait 5s\n").expect_err("no unit");
        assert_eq!(
            e.to_string(),
            "line 1: '5s' is not a wait: write it like 'wait 500ms'"
        );
    }

    fn cause(line: &str) -> Result<Expect, String> {
        let text = format!("step: listen\nexpect-cause: {line}\n");
        match parse("t", &text) {
            Ok(mut s) => Ok(s.steps.remove(0).expect.remove(0)),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn an_expected_cause_parses() {
        let want = |role, state, want| Ok(Expect::Cause { role, state, want });
        assert_eq!(
            cause("server CLOSE_WAIT segment FIN"),
            want(
                Role::Server(1),
                Some(TcpState::CloseWait),
                CauseWant::Segment(Flags(Flags::FIN))
            )
        );
        assert_eq!(
            cause("client FIN_WAIT_1 call close"),
            want(
                Role::Client(1),
                Some(TcpState::FinWait1),
                CauseWant::Call(Some(Call::Close))
            )
        );
        assert_eq!(
            cause("client gone timer keepalive"),
            want(
                Role::Client(1),
                None,
                CauseWant::Timer(Some(Timer::Keepalive))
            )
        );
        assert_eq!(
            cause("server gone call"),
            want(Role::Server(1), None, CauseWant::Call(None))
        );
    }

    #[test]
    fn a_wanted_cause_admits_what_it_names() {
        let fin_ack = Cause::segment(Flags::FIN | Flags::ACK);
        assert!(CauseWant::Segment(Flags(Flags::FIN)).admits(&fin_ack));
        assert!(!CauseWant::Segment(Flags(Flags::RST)).admits(&fin_ack));
        assert!(!CauseWant::Timer(None).admits(&fin_ack));
        let close = Cause::call(Call::Close, None);
        assert!(CauseWant::Call(None).admits(&close));
        assert!(!CauseWant::Call(Some(Call::Shutdown)).admits(&close));
        assert!(!CauseWant::Call(None).admits(&Cause::Unknown));
        assert_eq!(
            CauseWant::Segment(Flags(Flags::FIN | Flags::ACK)).to_string(),
            "segment FIN+ACK"
        );
    }

    #[test]
    fn a_bad_expected_cause_says_what_to_write() {
        let e = cause("server CLOSE_WAIT call juggle").expect_err("bad call");
        assert!(
            e.starts_with("line 2: unknown call 'juggle': use one of connect,"),
            "{e}"
        );
        let e = cause("server CLOSE_WAIT segment FIN+BOGUS").expect_err("bad flag");
        assert!(e.starts_with("line 2: unknown flag 'BOGUS'"), "{e}");
        let e = cause("server CLOSE_WAIT timer soon").expect_err("bad timer");
        assert!(
            e.contains("unknown timer 'soon': use one of time_wait,"),
            "{e}"
        );
        let e = cause("server CLOSE_WAIT because").expect_err("bad kind");
        assert!(e.starts_with("line 2: unknown cause 'because'"), "{e}");
        let e = cause("server CLOSE_WAIT segment").expect_err("no flags");
        assert!(e.contains("flags are missing"), "{e}");
        let e = cause("server CLOSE_WAIT").expect_err("no cause");
        assert!(e.contains("a cause is missing"), "{e}");
        let e = cause("server CLOSE_WAIT call close now").expect_err("extra");
        assert!(e.starts_with("line 2: 'now' after the cause"), "{e}");
    }
}
