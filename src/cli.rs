//! Command-line definitions. Value parsers return messages that name the
//! bad value and the fix; clap prints them and exits with code 2.

use crate::lab::options::{parse_backlog, parse_bind, parse_buffers, parse_listen_port};
use crate::socket::Filter;
use crate::socket::filter::parse_port;
use crate::source::SourceKind;
use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::time::Duration;

pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
pub const DEFAULT_INTERVAL: &str = "250ms";

#[derive(Debug, Parser)]
#[command(
    name = "tcpscope",
    version,
    about = "The machine's TCP socket table, live, grouped by TCP state",
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  tcpscope                 every TCP socket, live\n  tcpscope 8080            sockets whose local or remote port is 8080\n  tcpscope -f 'state CLOSE_WAIT'\n  tcpscope --once 8080     print the grouped table once\n  tcpscope --once --json   the same as a JSON array\n  tcpscope watch 8080 --json   one NDJSON line per state change\n  tcpscope lab             with the lab: a test server and client to drive by hand\n  tcpscope demo            scripted scenarios on real sockets (lists them)\n  tcpscope completions bash   shell completions (bash, zsh, fish, powershell, elvish)\n  tcpscope man | man -l -     the manual page\n\nFilter words: N, sport N, dport N, state NAME[,NAME], addr IP[/PREFIX],\npid N, proc NAME, cause call|segment|timer|unknown, by PID|NAME;\njoined by spaces or and, or, not, and grouped with ( ):\n  -f '(8080 or 8443) and state CLOSE_WAIT'   -f 'not state TIME_WAIT'"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Keep only sockets whose local or remote port is PORT
    #[arg(value_parser = port_arg)]
    pub port: Option<u16>,

    /// Filter expression, e.g. 'sport 8080 state ESTABLISHED'
    #[arg(short = 'f', long = "filter", value_name = "EXPR", value_parser = filter_arg)]
    pub filter: Option<Filter>,

    /// Print the grouped table once and exit
    #[arg(long)]
    pub once: bool,

    /// Print a JSON array of sockets (implies --once)
    #[arg(long)]
    pub json: bool,

    /// With --once: also find each socket's process (walks /proc, like ss -p)
    #[arg(short = 'p', long)]
    pub processes: bool,

    #[command(flatten)]
    pub view: ViewArgs,

    #[command(flatten)]
    pub netns: NetnsArgs,

    /// Show another host's connections: runs `tcpscope record -` there
    /// through the system ssh (its config, keys and agent)
    #[arg(long, value_name = "USER@HOST", value_parser = host_arg, conflicts_with_all = ["once", "json", "netns", "all_netns", "pcap"])]
    pub remote: Option<String>,

    /// With --remote: the tcpscope program on the host (a name or a path)
    #[arg(
        long,
        value_name = "PATH",
        default_value = "tcpscope",
        requires = "remote"
    )]
    pub remote_command: String,

    /// With --remote: an option for ssh, as ssh takes it (repeatable),
    /// e.g. --ssh-option=-p2222
    #[arg(
        long,
        value_name = "OPT",
        requires = "remote",
        allow_hyphen_values = true
    )]
    pub ssh_option: Vec<String>,

    /// Keep every privilege for the whole run: no capabilities dropped
    /// after setup, no no_new_privs, no Landlock rules
    #[arg(long, global = true)]
    pub no_sandbox: bool,

    /// Write a debug log of the run to FILE (for a bug report): the
    /// options, the sources and what they cannot see, privileges kept,
    /// keys pressed, every status message, how the run ended
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<std::path::PathBuf>,
}

/// Which network namespaces are read (Linux, root).
#[derive(Clone, Debug, Default, Args)]
pub struct NetnsArgs {
    /// Read another network namespace: a name from `ip netns`, a path, or
    /// the PID of a process in it, e.g. a container's (root)
    #[arg(long, value_name = "NAME|PATH|PID", conflicts_with = "all_netns")]
    pub netns: Option<String>,

    /// Read every network namespace on the host; rows say which (root)
    #[arg(long)]
    pub all_netns: bool,
}

impl NetnsArgs {
    pub fn wanted(&self) -> Option<crate::source::netns::Wanted> {
        use crate::source::netns::Wanted;
        match (&self.netns, self.all_netns) {
            (Some(spec), _) => Some(Wanted::One(spec.clone())),
            (None, true) => Some(Wanted::All),
            (None, false) => None,
        }
    }

    /// The option that reads other namespaces, if one was given.
    pub fn option(&self) -> Option<&'static str> {
        match (&self.netns, self.all_netns) {
            (Some(_), _) => Some("--netns"),
            (None, true) => Some("--all-netns"),
            (None, false) => None,
        }
    }
}

/// Refuses `--source netstat2` where other namespaces are read (`option`
/// names how): netstat2 reads only this namespace's /proc/net/tcp, and the
/// other namespaces are always read through sock_diag.
pub fn source_fits(source: SourceKind, option: Option<&str>) -> Result<(), String> {
    match (source, option) {
        (SourceKind::Netstat2, Some(option)) => Err(format!(
            "--source netstat2 cannot read other namespaces, which {option} reads through sock_diag: leave --source out or use --source sockdiag"
        )),
        _ => Ok(()),
    }
}

/// How the table is read: shared by the live view, `lab` and `watch`.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// How often to read the socket table (e.g. 100ms, 1s; minimum 10ms)
    #[arg(short = 'i', long, value_name = "INTERVAL", default_value = DEFAULT_INTERVAL, value_parser = interval_arg)]
    pub interval: Duration,

    /// Where the socket table comes from
    #[arg(long, value_enum, default_value_t = SourceKind::Auto)]
    pub source: SourceKind,
}

/// The live view's options: shared by the plain view and `lab`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    #[command(flatten)]
    pub read: ReadArgs,

    /// Presentation mode: high contrast, large state labels, fewer columns
    #[arg(long)]
    pub classroom: bool,

    /// Host and service names instead of numbers (/etc/hosts and the
    /// system's resolver, asked in the background; /etc/services), like
    /// ss -r; H toggles them in the view
    #[arg(short = 'r', long)]
    pub resolve: bool,

    /// Transition log entries kept in memory
    #[arg(long, value_name = "N", default_value_t = crate::pipeline::history::DEFAULT_LOG_SIZE, value_parser = log_size_arg)]
    pub log_size: usize,

    /// Write the segments of the watched (or lab) port to a pcap file (root)
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,

    /// Also write the event stream to FILE, as `tcpscope record` does
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,

    /// Also serve Prometheus metrics at http://ADDR/metrics (e.g.
    /// 127.0.0.1:9464), as `tcpscope serve` does
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The live view with the lab panel open: a test server and clients on
    /// real sockets, driven call by call (S start, c connect, x close, ? keys)
    Lab(LabArgs),
    /// Print one line per connection event (new, state change, gone) as it
    /// happens, until interrupted; --json prints NDJSON
    Watch(WatchArgs),
    /// Scripted scenarios on real sockets, one step per key (n next, r
    /// restart); without a name, lists them
    Demo(DemoArgs),
    /// Write the connection-event stream (NDJSON, versioned: a header, the
    /// table, then every event) to a file until interrupted
    Record(RecordArgs),
    /// Play a recording back in the live view: space pauses, → steps one
    /// event, + and - change the speed
    Replay(ReplayArgs),
    /// Serve Prometheus metrics (OpenMetrics) about the socket table at
    /// http://ADDR/metrics until interrupted
    Serve(ServeArgs),
    /// Try each feature as this user on this machine (exact transitions,
    /// owners, segments, namespaces, …) and print what is missing and the fix
    Doctor(DoctorArgs),
    /// Print a shell completion script to stdout (bash, zsh, fish,
    /// powershell, elvish); e.g. `tcpscope completions bash >
    /// /etc/bash_completion.d/tcpscope`
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout: `tcpscope man | man -l -`
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print a JSON array instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where to serve /metrics (this machine only unless you ask otherwise)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub metrics: std::net::SocketAddr,

    /// Ports counted on their own as well (tcpscope_port_sockets)
    #[arg(value_parser = port_arg)]
    pub ports: Vec<u16>,

    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A recording made by `tcpscope record` (plain or .zst)
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,

    /// Playback speed: 1 is real time, 0.001 turns microseconds into
    /// milliseconds (slow motion), 10 plays ten times faster
    #[arg(long, default_value_t = 1.0, value_parser = speed_arg)]
    pub speed: f64,

    /// Presentation mode: high contrast, large state labels
    #[arg(long)]
    pub classroom: bool,
}

fn speed_arg(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (1e-5..=1e3).contains(&s) => Ok(s),
        _ => Err(format!(
            "'{text}' is not a speed: use a number from 0.00001 to 1000 (1 is real time, 0.001 slow motion)"
        )),
    }
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where to write: a file (zstd-compressed when it ends in .zst), or -
    /// for standard output
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,

    /// Keep only sockets whose local or remote port is PORT
    #[arg(value_parser = port_arg)]
    pub port: Option<u16>,

    /// Filter expression, e.g. 'state TIME_WAIT,CLOSE_WAIT'
    #[arg(short = 'f', long = "filter", value_name = "EXPR", value_parser = filter_arg)]
    pub filter: Option<Filter>,

    /// Also record the port's TCP segments (root)
    #[arg(long, requires = "port")]
    pub segments: bool,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub netns: NetnsArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A built-in demo (see `tcpscope demo`) or a scenario file
    pub name: Option<String>,

    /// Play it without a terminal and report whether each step reaches its states
    #[arg(long)]
    pub check: bool,

    /// How often to read the socket table (e.g. 100ms, 1s; minimum 10ms)
    #[arg(short = 'i', long, value_name = "INTERVAL", default_value = "100ms", value_parser = interval_arg)]
    pub interval: Duration,

    /// Presentation mode: high contrast, large state labels, fewer columns
    #[arg(long)]
    pub classroom: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Keep only sockets whose local or remote port is PORT
    #[arg(value_parser = port_arg)]
    pub port: Option<u16>,

    /// Filter expression, e.g. 'state TIME_WAIT,CLOSE_WAIT'
    #[arg(short = 'f', long = "filter", value_name = "EXPR", value_parser = filter_arg)]
    pub filter: Option<Filter>,

    /// One JSON object per line: {"ts","event","key","from","to"}
    #[arg(long)]
    pub json: bool,

    /// Only one line per ended connection: how long it lasted, its time in
    /// each state, bytes sent and received, and how it ended
    #[arg(long, conflicts_with = "segments")]
    pub summary: bool,

    /// Also print the port's TCP segments, among the state events (root)
    #[arg(long, requires = "port")]
    pub segments: bool,

    /// Write the port's captured segments to a pcap file (root)
    #[arg(long, value_name = "FILE", requires = "port")]
    pub pcap: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub netns: NetnsArgs,
}

#[derive(Debug, Args)]
pub struct LabArgs {
    /// Port for the lab server; 0 or none picks a free one
    #[arg(long, value_parser = parse_listen_port)]
    pub port: Option<u16>,

    /// Address the server binds: 127.0.0.1 keeps it on this machine
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_bind)]
    pub bind: IpAddr,

    /// listen() backlog: how many connections may wait to be accepted
    #[arg(long, default_value_t = 128, value_parser = parse_backlog)]
    pub backlog: u32,

    /// Set SO_REUSEADDR on the server
    #[arg(long)]
    pub reuseaddr: bool,

    /// SO_RCVBUF/SO_SNDBUF for lab sockets, in bytes: small ones fill fast,
    /// so a FIN waits behind data (FIN_WAIT_1, LAST_ACK) long enough to see
    #[arg(long, value_name = "BYTES", value_parser = buffers_arg)]
    pub buffers: Option<u32>,

    /// Leave connections in the accept queue until `a` accepts one
    #[arg(long)]
    pub manual_accept: bool,

    /// When the peer closes, close our end too (default: hold it in CLOSE_WAIT)
    #[arg(long)]
    pub no_hold: bool,

    /// Most lab connections open at once
    #[arg(long, default_value_t = crate::lab::DEFAULT_MAX_CONNECTIONS, value_parser = max_connections_arg)]
    pub max_connections: usize,

    /// Put the server and the clients in two network namespaces joined by
    /// a link tcpscope forwards itself: every segment can be delayed,
    /// stepped (n) or dropped (d) (root)
    #[arg(long)]
    pub wire: bool,

    /// With --wire: how long each segment takes to cross (e.g. 400ms, 1s;
    /// over 500ms the kernel retransmits the SYN: a lesson of its own)
    #[arg(long, value_name = "DELAY", requires = "wire", value_parser = delay_arg)]
    pub delay: Option<Duration>,

    /// With --wire: start in step mode (segments wait for n)
    #[arg(long, requires = "wire")]
    pub step: bool,

    #[command(flatten)]
    pub view: ViewArgs,
}

/// `--buffers N`: the lab's option parser, without its `default` word.
fn buffers_arg(text: &str) -> Result<u32, String> {
    parse_buffers(text)?
        .ok_or_else(|| "give --buffers a size in bytes, e.g. 4096, or leave it out".to_string())
}

/// A count from 1 to `max`.
fn count_arg(text: &str, what: &str, max: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{text}' is not {what}: use a number from 1 to {max}"
        )),
    }
}

fn delay_arg(text: &str) -> Result<Duration, String> {
    crate::demo::link::parse_ms(text).map(Duration::from_millis)
}

fn log_size_arg(text: &str) -> Result<usize, String> {
    count_arg(text, "a log size", 1_000_000)
}

fn max_connections_arg(text: &str) -> Result<usize, String> {
    count_arg(text, "a connection limit", 65535)
}

/// An ssh destination, never an option: ssh would read `-oProxyCommand=…`
/// as one and run it here.
fn host_arg(text: &str) -> Result<String, String> {
    let why = if text.is_empty() {
        "is empty"
    } else if text.starts_with('-') {
        "starts with '-', which ssh would read as an option"
    } else if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "holds a space or a control character"
    } else {
        return Ok(text.to_string());
    };
    Err(format!(
        "the host {text:?} {why}; give USER@HOST or a name from the ssh config, \
         and put ssh options in --ssh-option"
    ))
}

fn port_arg(text: &str) -> Result<u16, crate::socket::filter::PortError> {
    parse_port(text)
}

fn filter_arg(text: &str) -> Result<Filter, String> {
    Filter::parse(text).map_err(|e| e.to_string())
}

/// Parses `100ms`, `1s`, `1.5s` or a bare number of milliseconds.
pub fn interval_arg(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<u64>() {
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => humantime::parse_duration(text).or_else(|_| parse_seconds(text)),
    };
    let interval = parsed
        .map_err(|_| format!("'{text}' is not an interval: write it like 100ms, 1s or 2.5s"))?;
    if interval < MIN_INTERVAL {
        return Err(format!(
            "interval {text} is too short: use at least 10ms (e.g. -i 100ms)"
        ));
    }
    if interval > MAX_INTERVAL {
        return Err(format!("interval {text} is too long: use at most 1h"));
    }
    Ok(interval)
}

/// humantime has no fractions; `1.5s` is common enough to accept.
fn parse_seconds(text: &str) -> Result<Duration, ()> {
    let secs: f64 = text.strip_suffix('s').ok_or(())?.parse().map_err(|_| ())?;
    Duration::try_from_secs_f64(secs).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(interval_arg("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(interval_arg("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(interval_arg("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(interval_arg("250"), Ok(Duration::from_millis(250)));
        assert_eq!(
            interval_arg("5ms"),
            Err("interval 5ms is too short: use at least 10ms (e.g. -i 100ms)".into())
        );
        assert_eq!(
            interval_arg("fast"),
            Err("'fast' is not an interval: write it like 100ms, 1s or 2.5s".into())
        );
    }
}
