//! Filter expressions, shared by the TUI `/` prompt and `-f`.
//!
//! Grammar: words joined by spaces or `and`, `or`, `not` and parentheses
//! (`expression.rs`). Words: `N` (a port, local or remote), `sport N`, `dport N`,
//! `state NAME[,NAME]`, `addr IP[/PREFIX]`, `pid N`, `proc NAME`,
//! `cause call|segment|timer|unknown[,…]` (why it entered its state, or
//! why an event happened) and `by PID|NAME` (the process whose call it was).

mod expression;

use super::addr::normalize_ip;
use super::cause::{Cause, CauseKind};
use super::conn::Conn;
use super::event::Event;
use super::row::{Owner, SocketKey, SocketRow};
use super::state::{StateSet, TcpState};
pub use expression::ShapeError;
use expression::{Expr, Failure, Parser, Token};
use std::fmt;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Term {
    Port(u16),
    Sport(u16),
    Dport(u16),
    States(Vec<TcpState>),
    Addr(IpAddr, u8),
    Pid(u32),
    Proc(String),
    Causes(Vec<CauseKind>),
    ByPid(u32),
    ByProc(String),
}

/// A parsed filter. The empty filter matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    expr: Expr<Term>,
    text: String,
}

/// Why an expression was rejected; `Display` is the message users see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterError {
    UnknownWord(String),
    MissingValue(&'static str),
    BadPort(PortError),
    BadState(String),
    BadAddr(String),
    BadPid(String),
    BadCause(String),
    /// Parentheses or `and`/`or`/`not` in the wrong place.
    Shape(ShapeError),
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::UnknownWord(w) => write!(
                f,
                "unknown filter word '{w}': use a port number or sport, dport, state, addr, pid, proc, cause, by"
            ),
            FilterError::MissingValue(k) => {
                write!(f, "'{k}' needs a value, e.g. '{k} {}'", example(k))
            }
            FilterError::BadPort(e) => e.fmt(f),
            FilterError::Shape(e) => e.fmt(f),
            FilterError::BadState(s) => write!(
                f,
                "unknown state '{s}': use one of {}",
                TcpState::ALL.map(TcpState::name).join(", ")
            ),
            FilterError::BadAddr(a) => write!(
                f,
                "'{a}' is not an IP address: use e.g. 'addr 127.0.0.1', 'addr ::1' or 'addr 10.0.0.0/8'"
            ),
            FilterError::BadCause(c) => write!(
                f,
                "unknown cause '{c}': use call, segment, timer or unknown, e.g. 'cause call,timer'"
            ),
            FilterError::BadPid(p) => {
                write!(
                    f,
                    "'{p}' is not a process id: use a number, e.g. 'pid 1234'"
                )
            }
        }
    }
}

impl std::error::Error for FilterError {}

fn example(keyword: &str) -> &'static str {
    match keyword {
        "state" => "ESTABLISHED,TIME_WAIT",
        "addr" => "127.0.0.1",
        "pid" => "1234",
        "proc" => "nginx",
        "cause" => "segment",
        "by" => "python3",
        _ => "8080",
    }
}

/// A port a user typed that is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("port 0 is not a real port: use 1-65535 (0 only asks the OS to pick a free one)")]
    Zero,
    #[error("port {0} is out of range: use 1-65535")]
    OutOfRange(u64),
    #[error("'{0}' is not a port number: use a number from 1 to 65535, e.g. 8080")]
    NotANumber(String),
}

/// Parses a TCP port a user typed; the error names the value and the fix.
pub fn parse_port(text: &str) -> Result<u16, PortError> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(0) => Err(PortError::Zero),
        Ok(n) if n > 65535 => Err(PortError::OutOfRange(n)),
        Ok(n) => Ok(n as u16),
        Err(_) => Err(PortError::NotANumber(text.to_string())),
    }
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let tokens = expression::tokens(text);
        let expr = Parser::new(&tokens, &mut term_of)
            .parse()
            .map_err(|e| match e {
                Failure::Word(e) => e,
                Failure::Shape(e) => FilterError::Shape(e),
            })?;
        Ok(Filter {
            expr,
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    }

    /// Sockets whose local or remote port is `port` (the lab's server).
    pub fn port(port: u16) -> Filter {
        Filter {
            expr: Expr::Word(Term::Port(port)),
            text: port.to_string(),
        }
    }

    /// The filter as the user wrote it (whitespace tidied).
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        matches!(&self.expr, Expr::All(all) if all.is_empty())
    }

    /// Whether a socket, as it is now, passes (a bare row knows no cause).
    pub fn matches(&self, row: &SocketRow) -> bool {
        self.expr.eval(&mut |t| {
            term_matches(
                t,
                &row.key,
                row.owner.as_deref(),
                &Cause::Unknown,
                &mut |s| s == row.state,
            )
        })
    }

    /// Whether a connection, as it is now, passes: its cause is why it
    /// entered its current state.
    pub fn matches_conn(&self, conn: &Conn) -> bool {
        let row = &conn.row;
        let cause = &conn.current_phase().cause;
        self.expr.eval(&mut |t| {
            term_matches(t, &row.key, row.owner.as_deref(), cause, &mut |s| {
                s == row.state
            })
        })
    }

    /// Whether an event passes, judged on its own fields: its ends, the
    /// states it leaves and enters, and who held the connection.
    pub fn matches_event(&self, event: &Event) -> bool {
        let (from, to) = event.states();
        self.expr.eval(&mut |t| {
            term_matches(
                t,
                &event.key,
                event.owner.as_deref(),
                &event.cause,
                &mut |s| from == Some(s) || to == Some(s),
            )
        })
    }

    /// The states a row must be in to match, if the expression narrows
    /// them (what `and` requires meets, what `or` allows joins; `not`
    /// narrows nothing).
    pub fn states(&self) -> Option<StateSet> {
        states_of(&self.expr)
    }

    /// True when a term asks about processes, so owners must be looked up.
    pub fn needs_owners(&self) -> bool {
        self.expr
            .any_word(&|t| matches!(t, Term::Pid(_) | Term::Proc(_)))
    }
}

/// See [`Filter::states`]; `None`: any state.
fn states_of(e: &Expr<Term>) -> Option<StateSet> {
    match e {
        Expr::Word(Term::States(states)) => Some(StateSet::of(states.iter().copied())),
        Expr::Word(_) | Expr::Not(_) => None,
        Expr::All(all) => all.iter().filter_map(states_of).reduce(StateSet::intersect),
        Expr::Any(any) => any
            .iter()
            .map(states_of)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .reduce(StateSet::union),
    }
}

/// A word of the expression and, for a keyword, its value.
fn term_of<'a>(
    t: Token<'a>,
    value: &mut dyn FnMut() -> Option<Token<'a>>,
) -> Result<Term, FilterError> {
    parse_term(t.text, &mut || value().map(|v| v.text))
}

fn parse_term<'a>(
    word: &str,
    value: &mut dyn FnMut() -> Option<&'a str>,
) -> Result<Term, FilterError> {
    if word.chars().all(|c| c.is_ascii_digit()) {
        return Ok(Term::Port(parse_port(word).map_err(FilterError::BadPort)?));
    }
    let keyword: &'static str = match word.to_ascii_lowercase().as_str() {
        "sport" => "sport",
        "dport" => "dport",
        "state" => "state",
        "addr" => "addr",
        "pid" => "pid",
        "proc" => "proc",
        "cause" => "cause",
        "by" => "by",
        _ => return Err(FilterError::UnknownWord(word.to_string())),
    };
    let value = value().ok_or(FilterError::MissingValue(keyword))?;
    match keyword {
        "sport" => Ok(Term::Sport(
            parse_port(value).map_err(FilterError::BadPort)?,
        )),
        "dport" => Ok(Term::Dport(
            parse_port(value).map_err(FilterError::BadPort)?,
        )),
        "state" => parse_states(value),
        "addr" => parse_addr(value),
        "pid" => value
            .parse()
            .map(Term::Pid)
            .map_err(|_| FilterError::BadPid(value.to_string())),
        "cause" => parse_causes(value),
        "by" => Ok(match value.parse() {
            Ok(pid) => Term::ByPid(pid),
            Err(_) => Term::ByProc(value.to_ascii_lowercase()),
        }),
        _ => Ok(Term::Proc(value.to_ascii_lowercase())),
    }
}

fn parse_states(value: &str) -> Result<Term, FilterError> {
    let states = value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| TcpState::parse(s).ok_or_else(|| FilterError::BadState(s.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if states.is_empty() {
        return Err(FilterError::MissingValue("state"));
    }
    Ok(Term::States(states))
}

fn parse_causes(value: &str) -> Result<Term, FilterError> {
    let kinds = value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            CauseKind::from_name(&s.to_ascii_lowercase())
                .ok_or_else(|| FilterError::BadCause(s.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if kinds.is_empty() {
        return Err(FilterError::MissingValue("cause"));
    }
    Ok(Term::Causes(kinds))
}

fn parse_addr(value: &str) -> Result<Term, FilterError> {
    let bad = || FilterError::BadAddr(value.to_string());
    let (ip_text, prefix) = match value.split_once('/') {
        Some((ip, p)) => (ip, Some(p.parse::<u8>().map_err(|_| bad())?)),
        None => (value, None),
    };
    let ip_text = ip_text.trim_start_matches('[').trim_end_matches(']');
    let ip = normalize_ip(ip_text.parse::<IpAddr>().map_err(|_| bad())?);
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(max);
    if prefix > max {
        return Err(bad());
    }
    Ok(Term::Addr(ip, prefix))
}

fn term_matches(
    term: &Term,
    key: &SocketKey,
    owner: Option<&Owner>,
    cause: &Cause,
    state_is: &mut dyn FnMut(TcpState) -> bool,
) -> bool {
    match term {
        Term::Port(p) => key.local.port() == *p || key.remote.port() == *p,
        Term::Sport(p) => key.local.port() == *p,
        Term::Dport(p) => key.remote.port() == *p,
        Term::States(states) => states.iter().any(|s| state_is(*s)),
        Term::Addr(ip, prefix) => {
            in_prefix(key.local.ip(), *ip, *prefix) || in_prefix(key.remote.ip(), *ip, *prefix)
        }
        Term::Pid(pid) => owner.is_some_and(|o| o.pids().any(|p| p == *pid)),
        Term::Proc(name) => owner.is_some_and(|o| named(o, name)),
        Term::Causes(kinds) => kinds.contains(&cause.kind()),
        Term::ByPid(pid) => cause.by().is_some_and(|o| o.pids().any(|p| p == *pid)),
        Term::ByProc(name) => cause.by().is_some_and(|o| named(o, name)),
    }
}

/// Some process of `owner` has `name` (lower case) in its name.
fn named(owner: &Owner, name: &str) -> bool {
    owner.procs.iter().any(|p| {
        p.name
            .as_deref()
            .is_some_and(|n| n.to_ascii_lowercase().contains(name))
    })
}

fn in_prefix(candidate: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (candidate, net) {
        (IpAddr::V4(c), IpAddr::V4(n)) => {
            masked(u32::from(c).into(), u32::from(n).into(), prefix, 32)
        }
        (IpAddr::V6(c), IpAddr::V6(n)) => masked(u128::from(c), u128::from(n), prefix, 128),
        _ => false,
    }
}

fn masked(a: u128, b: u128, prefix: u8, bits: u32) -> bool {
    let shift = bits - u32::from(prefix);
    shift >= bits || (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{EventKind, Family, Process, SocketKey};
    use std::sync::Arc;
    use std::time::{Instant, SystemTime};

    #[test]
    fn the_states_a_filter_allows() {
        let states = |text: &str| Filter::parse(text).expect("valid").states();
        assert_eq!(states("8080 pid 3"), None);
        let set = |s: &[TcpState]| Some(StateSet::of(s.iter().copied()));
        assert_eq!(
            states("state estab,time-wait 80"),
            set(&[TcpState::Established, TcpState::TimeWait])
        );
        assert_eq!(
            states("state estab,time-wait state listen,time-wait"),
            set(&[TcpState::TimeWait]),
            "every term must hold"
        );
    }

    fn nginx() -> Arc<Owner> {
        Arc::new(Owner {
            procs: vec![Process {
                pid: 42,
                name: Some(Arc::from("Nginx")),
            }],
        })
    }

    fn row(local: &str, remote: &str, state: TcpState) -> SocketRow {
        let key = SocketKey::new(
            Family::Inet,
            local.parse().expect("local"),
            remote.parse().expect("remote"),
        );
        let mut r = SocketRow::new(key, state);
        r.owner = Some(nginx());
        r
    }

    fn event(local: &str, remote: &str, kind: EventKind, owner: bool) -> Event {
        let key = SocketKey::new(
            Family::Inet,
            local.parse().expect("local"),
            remote.parse().expect("remote"),
        );
        let state = match kind {
            EventKind::State { to, .. } => to,
            _ => TcpState::Established,
        };
        Event {
            at: Instant::now(),
            wall: SystemTime::UNIX_EPOCH,
            id: 1,
            key,
            state,
            kind,
            owner: owner.then(nginx),
            cause: crate::socket::Cause::Unknown,
            summary: None,
        }
    }

    #[test]
    fn events_are_judged_on_their_own_fields() {
        let f = Filter::parse("state CLOSE_WAIT").expect("valid");
        let into = EventKind::State {
            from: TcpState::Established,
            to: TcpState::CloseWait,
        };
        let out = EventKind::State {
            from: TcpState::CloseWait,
            to: TcpState::LastAck,
        };
        let other = EventKind::State {
            from: TcpState::SynSent,
            to: TcpState::Established,
        };
        assert!(f.matches_event(&event("1.1.1.1:80", "2.2.2.2:9", into, false)));
        assert!(f.matches_event(&event("1.1.1.1:80", "2.2.2.2:9", out, false)));
        assert!(!f.matches_event(&event("1.1.1.1:80", "2.2.2.2:9", other, false)));
        let p = Filter::parse("sport 80 pid 42").expect("valid");
        assert!(p.needs_owners());
        assert!(p.matches_event(&event("1.1.1.1:80", "2.2.2.2:9", other, true)));
        assert!(!p.matches_event(&event("1.1.1.1:80", "2.2.2.2:9", other, false)));
        assert!(!p.matches_event(&event("1.1.1.1:81", "2.2.2.2:80", other, true)));
        assert!(
            !Filter::parse("8080 state LISTEN")
                .expect("valid")
                .needs_owners()
        );
    }

    fn err(text: &str) -> String {
        Filter::parse(text)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn bare_port_matches_either_end() {
        let f = Filter::parse("8080").expect("valid");
        assert!(f.matches(&row(
            "127.0.0.1:8080",
            "127.0.0.1:5000",
            TcpState::Established
        )));
        assert!(f.matches(&row(
            "127.0.0.1:5000",
            "127.0.0.1:8080",
            TcpState::Established
        )));
        assert!(!f.matches(&row(
            "127.0.0.1:5000",
            "127.0.0.1:5001",
            TcpState::Established
        )));
    }

    #[test]
    fn sport_dport_state_and_words_combine_with_and() {
        let f = Filter::parse("sport 8080  state estab,time-wait").expect("valid");
        assert_eq!(f.text(), "sport 8080 state estab,time-wait");
        assert!(f.matches(&row("1.1.1.1:8080", "2.2.2.2:9", TcpState::Established)));
        assert!(f.matches(&row("1.1.1.1:8080", "2.2.2.2:9", TcpState::TimeWait)));
        assert!(!f.matches(&row("1.1.1.1:8080", "2.2.2.2:9", TcpState::Listen)));
        assert!(!f.matches(&row("1.1.1.1:9", "2.2.2.2:8080", TcpState::Established)));
        let d = Filter::parse("dport 8080").expect("valid");
        assert!(d.matches(&row("1.1.1.1:9", "2.2.2.2:8080", TcpState::Established)));
    }

    #[test]
    fn addr_pid_and_proc() {
        let r = row("10.1.2.3:22", "192.168.0.9:5000", TcpState::Established);
        assert!(Filter::parse("addr 10.1.2.3").expect("valid").matches(&r));
        assert!(Filter::parse("addr 10.0.0.0/8").expect("valid").matches(&r));
        assert!(
            Filter::parse("addr ::ffff:192.168.0.9")
                .expect("valid")
                .matches(&r)
        );
        assert!(!Filter::parse("addr 11.0.0.0/8").expect("valid").matches(&r));
        assert!(Filter::parse("addr 0.0.0.0/0").expect("valid").matches(&r));
        assert!(Filter::parse("pid 42").expect("valid").matches(&r));
        assert!(!Filter::parse("pid 43").expect("valid").matches(&r));
        assert!(Filter::parse("proc ngin").expect("valid").matches(&r));
        assert!(!Filter::parse("proc sshd").expect("valid").matches(&r));
    }

    #[test]
    fn empty_filter_matches_everything() {
        let f = Filter::parse("   ").expect("valid");
        assert!(f.is_empty());
        assert!(f.matches(&row("1.1.1.1:1", "2.2.2.2:2", TcpState::Closed)));
    }

    #[test]
    fn malformed_input_has_exact_messages() {
        assert_eq!(
            err("spot 80"),
            "unknown filter word 'spot': use a port number or sport, dport, state, addr, pid, proc, cause, by"
        );
        assert_eq!(
            err("cause timer,wind"),
            "unknown cause 'wind': use call, segment, timer or unknown, e.g. 'cause call,timer'"
        );
        assert_eq!(err("by"), "'by' needs a value, e.g. 'by python3'");
        assert_eq!(err("sport"), "'sport' needs a value, e.g. 'sport 8080'");
        assert_eq!(
            err("state"),
            "'state' needs a value, e.g. 'state ESTABLISHED,TIME_WAIT'"
        );
        assert_eq!(
            err("dport 70000"),
            "port 70000 is out of range: use 1-65535"
        );
        assert_eq!(
            err("0"),
            "port 0 is not a real port: use 1-65535 (0 only asks the OS to pick a free one)"
        );
        assert_eq!(
            err("sport http"),
            "'http' is not a port number: use a number from 1 to 65535, e.g. 8080"
        );
        assert_eq!(
            err("state established,wait"),
            "unknown state 'wait': use one of LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, \
             FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT, CLOSED"
        );
        assert_eq!(
            err("addr 1.2.3"),
            "'1.2.3' is not an IP address: use e.g. 'addr 127.0.0.1', 'addr ::1' or 'addr 10.0.0.0/8'"
        );
        assert!(err("addr 10.0.0.0/33").starts_with("'10.0.0.0/33' is not an IP address"));
        assert_eq!(
            err("pid x"),
            "'x' is not a process id: use a number, e.g. 'pid 1234'"
        );
    }

    #[test]
    fn or_not_and_parentheses_as_written_for_ss() {
        let f = |text: &str| Filter::parse(text).expect("valid");
        let web = row("1.1.1.1:80", "2.2.2.2:5000", TcpState::Established);
        let tls = row("1.1.1.1:5001", "2.2.2.2:443", TcpState::TimeWait);
        let other = row("1.1.1.1:22", "2.2.2.2:5002", TcpState::CloseWait);
        let either = f("sport 80 or dport 443");
        assert!(either.matches(&web) && either.matches(&tls) && !either.matches(&other));
        let not_tw = f("not state TIME_WAIT");
        assert!(not_tw.matches(&web) && !not_tw.matches(&tls) && not_tw.matches(&other));
        let grouped = f("(80 or 22) and state CLOSE_WAIT");
        assert!(!grouped.matches(&web) && grouped.matches(&other));
        assert!(f("!(80 || 443) && 22").matches(&other));
        assert!(f("proc nginx or pid 1").needs_owners());
        assert_eq!(f("8080 or 8443").text(), "8080 or 8443");
    }

    #[test]
    fn the_states_an_expression_allows() {
        let states = |text: &str| Filter::parse(text).expect("valid").states();
        let set = |s: &[TcpState]| Some(StateSet::of(s.iter().copied()));
        assert_eq!(
            states("state listen or state estab"),
            set(&[TcpState::Listen, TcpState::Established])
        );
        assert_eq!(states("state listen or 8080"), None, "8080 in any state");
        assert_eq!(states("not state time-wait"), None);
        assert_eq!(
            states("(8080 or 8443) state close-wait"),
            set(&[TcpState::CloseWait])
        );
    }

    #[test]
    fn a_misplaced_operator_or_parenthesis_is_pointed_at() {
        assert_eq!(
            err("(8080 or 8443 state CLOSE_WAIT"),
            "the '(' at character 1 is never closed: add a ')'"
        );
        assert_eq!(
            err("8080 or or 8443"),
            "'or' at character 6 has nothing to join: write e.g. '8080 or 8443'"
        );
        assert_eq!(
            err("state ( listen )"),
            "'state' needs a value, e.g. 'state ESTABLISHED,TIME_WAIT'"
        );
        assert_eq!(
            err("not spot 80"),
            "unknown filter word 'spot': use a port number or sport, dport, state, addr, pid, proc, cause, by"
        );
    }

    #[test]
    fn cause_and_by_judge_why_it_happened() {
        use crate::socket::cause::{Call, Timer};
        let closed = EventKind::State {
            from: TcpState::Established,
            to: TcpState::FinWait1,
        };
        let mut by_nginx = event("127.0.0.1:80", "127.0.0.1:5000", closed, false);
        by_nginx.cause = Cause::call(Call::Close, Some(nginx()));
        let mut timed_out = by_nginx.clone();
        timed_out.cause = Cause::Timer(Timer::FinWait2);
        let f = |text: &str| Filter::parse(text).expect("valid");
        assert!(f("cause call").matches_event(&by_nginx));
        assert!(!f("cause segment,timer").matches_event(&by_nginx));
        assert!(f("cause segment,timer").matches_event(&timed_out));
        assert!(f("by 42").matches_event(&by_nginx) && f("by NGINX").matches_event(&by_nginx));
        assert!(!f("by 43").matches_event(&by_nginx));
        assert!(
            !f("by nginx").matches_event(&timed_out),
            "a timer is no one's call"
        );
        // A bare row knows no cause.
        let r = row("127.0.0.1:80", "127.0.0.1:5000", TcpState::FinWait1);
        assert!(f("cause unknown").matches(&r) && !f("cause call").matches(&r));
    }
}
