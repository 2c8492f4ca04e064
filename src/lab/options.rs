//! What the user types into the lab's prompts: server options and connect
//! targets. Every error names the value and the fix.

use crate::socket::filter::parse_port;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptMode {
    /// accept() every connection as it arrives.
    Auto,
    /// Leave connections in the accept queue until the user accepts one.
    Manual,
}

impl AcceptMode {
    pub fn label(self) -> &'static str {
        match self {
            AcceptMode::Auto => "auto",
            AcceptMode::Manual => "manual",
        }
    }
}

/// How the lab server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// 127.0.0.1 unless the user asks otherwise: safe by default.
    pub bind: IpAddr,
    /// 0 lets the kernel pick a free port.
    pub port: u16,
    pub backlog: u32,
    pub reuseaddr: bool,
    /// SO_RCVBUF and SO_SNDBUF for every lab socket (the listener passes
    /// them to accepted ones); small buffers fill quickly, which keeps a
    /// FIN waiting behind data (FIN_WAIT_1, LAST_ACK) long enough to see.
    pub buffers: Option<u32>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            backlog: 128,
            reuseaddr: false,
            buffers: None,
        }
    }
}

impl fmt::Display for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let onoff = if self.reuseaddr { "on" } else { "off" };
        write!(
            f,
            "bind {} port {} backlog {} reuseaddr {onoff}",
            self.bind, self.port, self.backlog
        )?;
        match self.buffers {
            Some(n) => write!(f, " buffers {n}"),
            None => Ok(()),
        }
    }
}

/// Settings the options prompt can change; `None` leaves one as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionChanges {
    pub bind: Option<IpAddr>,
    pub port: Option<u16>,
    pub backlog: Option<u32>,
    pub reuseaddr: Option<bool>,
    pub accept: Option<AcceptMode>,
    pub hold: Option<bool>,
    /// `Some(None)`: back to the system's default buffers.
    pub buffers: Option<Option<u32>>,
}

pub const MAX_BACKLOG: u32 = 65535;

pub const OPTION_WORDS: &str = "bind ADDR, port N, backlog N, reuseaddr on|off, accept auto|manual, hold on|off, buffers N|default";

/// Smallest buffer size accepted (the kernel rounds up to its own minimum).
pub const MIN_BUFFER: u32 = 1024;

/// Parses e.g. `backlog 1 reuseaddr on accept manual`.
pub fn parse_options(text: &str) -> Result<OptionChanges, String> {
    let mut words = text.split_whitespace();
    let mut out = OptionChanges::default();
    while let Some(word) = words.next() {
        let key = word.to_ascii_lowercase();
        let value = words
            .next()
            .ok_or_else(|| format!("'{word}' needs a value; options are: {OPTION_WORDS}"))?;
        match key.as_str() {
            "bind" => out.bind = Some(parse_bind(value)?),
            "port" => out.port = Some(parse_listen_port(value)?),
            "backlog" => out.backlog = Some(parse_backlog(value)?),
            "reuseaddr" => out.reuseaddr = Some(parse_switch(word, value)?),
            "hold" => out.hold = Some(parse_switch(word, value)?),
            "accept" => out.accept = Some(parse_accept(value)?),
            "buffers" => out.buffers = Some(parse_buffers(value)?),
            _ => return Err(format!("unknown option '{word}': use {OPTION_WORDS}")),
        }
    }
    Ok(out)
}

pub fn parse_bind(value: &str) -> Result<IpAddr, String> {
    let v = value.trim_start_matches('[').trim_end_matches(']');
    v.parse().map_err(|_| {
        format!("'{value}' is not an IP address to bind: use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or ::1")
    })
}

/// A listening port may be 0: the kernel picks one.
pub fn parse_listen_port(value: &str) -> Result<u16, String> {
    if value.trim() == "0" {
        return Ok(0);
    }
    parse_port(value).map_err(|e| e.to_string())
}

pub fn parse_backlog(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_BACKLOG).contains(&n) => Ok(n),
        _ => Err(format!(
            "backlog '{value}' is not valid: use a number from 1 to {MAX_BACKLOG}"
        )),
    }
}

fn parse_switch(word: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Ok(true),
        "off" | "no" | "false" | "0" => Ok(false),
        _ => Err(format!("'{word} {value}': use '{word} on' or '{word} off'")),
    }
}

pub fn parse_buffers(value: &str) -> Result<Option<u32>, String> {
    if value.eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    match value.parse::<u32>() {
        Ok(n) if (MIN_BUFFER..=64 * 1024 * 1024).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "buffers '{value}' is not valid: use a size in bytes from {MIN_BUFFER} to 67108864, or 'buffers default'"
        )),
    }
}

fn parse_accept(value: &str) -> Result<AcceptMode, String> {
    match value.to_ascii_lowercase().as_str() {
        "auto" => Ok(AcceptMode::Auto),
        "manual" => Ok(AcceptMode::Manual),
        _ => Err(format!(
            "'accept {value}': use 'accept auto' or 'accept manual'"
        )),
    }
}

/// A connect target as typed: `host:port`, `[v6]:port`, or a bare port
/// meaning 127.0.0.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

pub fn parse_target(text: &str) -> Result<Target, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("no target: type host:port, e.g. 127.0.0.1:8080, or a bare port".to_string());
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        let port = parse_port(text).map_err(|e| e.to_string())?;
        return Ok(Target {
            host: "127.0.0.1".into(),
            port,
        });
    }
    let (host, port) = split_host_port(text).ok_or_else(|| {
        format!("'{text}' has no port: write host:port, e.g. 127.0.0.1:8080 or [::1]:8080")
    })?;
    let port = parse_port(port).map_err(|e| e.to_string())?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!(
            "'{text}' has no valid host: write host:port, e.g. 127.0.0.1:8080"
        ));
    }
    Ok(Target {
        host: host.to_string(),
        port,
    })
}

fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, port));
    }
    let (host, port) = text.rsplit_once(':')?;
    // An IPv6 address without brackets is ambiguous about its port.
    (!host.contains(':')).then_some((host, port))
}

/// The `C` prompt: how many connections, within the lab's limit.
pub fn parse_count(text: &str, limit: usize) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(format!("0 connections: give a number from 1 to {limit}")),
        Ok(n) if n > limit => Err(format!(
            "{n} connections is above the lab's limit of {limit}: give a number from 1 to {limit}"
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "'{}' is not a number of connections: give a number from 1 to {limit}",
            text.trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_explain() {
        let c =
            parse_options("backlog 1 reuseaddr on accept manual hold off port 0").expect("valid");
        assert_eq!(c.backlog, Some(1));
        assert_eq!(c.reuseaddr, Some(true));
        assert_eq!(c.accept, Some(AcceptMode::Manual));
        assert_eq!(c.hold, Some(false));
        assert_eq!(c.port, Some(0));
        assert_eq!(
            parse_options("backlog 0").expect_err("invalid"),
            "backlog '0' is not valid: use a number from 1 to 65535"
        );
        assert_eq!(
            parse_options("reuseaddr maybe").expect_err("invalid"),
            "'reuseaddr maybe': use 'reuseaddr on' or 'reuseaddr off'"
        );
        assert!(
            parse_options("bind localhost")
                .expect_err("invalid")
                .contains("127.0.0.1")
        );
        assert!(
            parse_options("colour red")
                .expect_err("invalid")
                .starts_with("unknown option 'colour'")
        );
        assert!(
            parse_options("backlog")
                .expect_err("invalid")
                .starts_with("'backlog' needs a value")
        );
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("8080"),
            Ok(Target {
                host: "127.0.0.1".into(),
                port: 8080
            })
        );
        assert_eq!(
            parse_target("[::1]:22"),
            Ok(Target {
                host: "::1".into(),
                port: 22
            })
        );
        assert_eq!(
            parse_target("localhost:5432").map(|t| t.to_string()),
            Ok("localhost:5432".into())
        );
        assert_eq!(
            parse_target("127.0.0.1"),
            Err(
                "'127.0.0.1' has no port: write host:port, e.g. 127.0.0.1:8080 or [::1]:8080"
                    .into()
            )
        );
        assert_eq!(
            parse_target("127.0.0.1:99999"),
            Err("port 99999 is out of range: use 1-65535".into())
        );
        assert!(
            parse_target("host:0")
                .expect_err("port 0")
                .starts_with("port 0 is not a real port")
        );
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count(" 5 ", 1024), Ok(5));
        assert_eq!(
            parse_count("0", 1024),
            Err("0 connections: give a number from 1 to 1024".into())
        );
        assert_eq!(
            parse_count("2000", 1024),
            Err(
                "2000 connections is above the lab's limit of 1024: give a number from 1 to 1024"
                    .into()
            )
        );
        assert!(parse_count("many", 1024).is_err());
    }
}
