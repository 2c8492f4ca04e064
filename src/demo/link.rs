//! The demo file's words for the slow-motion link (`lab --wire`): the
//! `wire:` line that puts a demo on the link, the `wire …` steps that
//! steer it, `keepalive`, and the expectations about segments, the
//! kernel's counters and the lab's notices.

use crate::lab::link::LinkOrder;
use crate::socket::Flags;

/// `wire: delay=450ms step=off`: the demo runs across the link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireSetup {
    pub delay_ms: u64,
    pub step: bool,
}

/// Which end sent a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
}

/// `expect: segment client SYN retransmission`: since the step began,
/// such a segment crossed (or was dropped on) the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentExpect {
    pub from: Sender,
    pub flags: Flags,
    pub retransmission: bool,
    pub dropped: bool,
}

pub fn parse_setup(text: &str) -> Result<WireSetup, String> {
    let mut setup = WireSetup::default();
    for w in text.split_whitespace() {
        match w.split_once('=') {
            Some(("delay", v)) => setup.delay_ms = parse_ms(v)?,
            Some(("step", v)) => setup.step = on_off(v)?,
            _ => {
                return Err(format!(
                    "'{w}' is not a wire setting: use delay=450ms, step=on|off"
                ));
            }
        }
    }
    Ok(setup)
}

/// The words after `wire` in a step.
pub fn parse_call<'a>(mut words: impl Iterator<Item = &'a str>) -> Result<LinkOrder, String> {
    let verb = words.next().unwrap_or("");
    let arg = words.next();
    let call = match verb {
        "delay" => LinkOrder::Delay(parse_ms(arg.unwrap_or(""))?),
        "hold" => LinkOrder::Hold(on_off(arg.unwrap_or(""))?),
        "release" => LinkOrder::Release(count(arg, "segments to release")?),
        "drop-next" => LinkOrder::DropNext,
        "down" => LinkOrder::Down(true),
        "up" => LinkOrder::Down(false),
        "flood" => LinkOrder::Flood(count(arg, "SYNs")?),
        other => {
            return Err(format!(
                "unknown wire step '{other}': use delay 450ms, hold on|off, release [N], drop-next, down, up, flood N"
            ));
        }
    };
    Ok(call)
}

fn count(word: Option<&str>, what: &str) -> Result<usize, String> {
    match word {
        None => Ok(1),
        Some(w) => match w.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => Ok(n),
            _ => Err(format!("'{w}' is not a number of {what} (1 to 10000)")),
        },
    }
}

/// `450ms` or `2s`, at most a minute (a link slower than that is a typo).
pub fn parse_ms(text: &str) -> Result<u64, String> {
    let ms = if let Some(n) = text.strip_suffix("ms") {
        n.parse::<u64>().ok()
    } else {
        text.strip_suffix('s')
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(|s| s.checked_mul(1000))
    };
    match ms {
        Some(ms) if ms <= 60_000 => Ok(ms),
        Some(_) => Err(format!("'{text}' is too long: at most 60s")),
        None => Err(format!(
            "'{text}' is not a delay: write it like 450ms or 1s"
        )),
    }
}

fn on_off(word: &str) -> Result<bool, String> {
    match word {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("expected on or off, got '{other}'")),
    }
}

/// `keepalive client idle=1 interval=1 count=3` (seconds, probes).
pub fn parse_keepalive<'a>(
    mut words: impl Iterator<Item = &'a str>,
) -> Result<(&'a str, [u32; 3]), String> {
    let role = words
        .next()
        .ok_or("keepalive needs a socket: 'keepalive client'")?;
    let mut values = [7200, 75, 9];
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| format!("'{w}' is not option=value"))?;
        let slot = match k {
            "idle" => 0,
            "interval" => 1,
            "count" => 2,
            _ => {
                return Err(format!(
                    "unknown keepalive option '{k}': use idle, interval, count"
                ));
            }
        };
        values[slot] = match v.parse::<u32>() {
            Ok(n) if (1..=3600).contains(&n) => n,
            _ => return Err(format!("{k} '{v}' is not a number from 1 to 3600")),
        };
    }
    Ok((role, values))
}

/// `segment client SYN+ACK [retransmission] [dropped]`.
pub fn parse_segment<'a>(
    mut words: impl Iterator<Item = &'a str>,
) -> Result<SegmentExpect, String> {
    let from = match words.next().unwrap_or("") {
        "client" => Sender::Client,
        "server" => Sender::Server,
        other => return Err(format!("'{other}' did not send it: use client or server")),
    };
    let flags_text = words
        .next()
        .ok_or("name the flags: 'segment client SYN+ACK'")?;
    let flags = Flags::from_names(flags_text.split('+'))
        .map_err(|other| format!("unknown flag '{other}': use SYN, ACK, FIN, RST, PSH"))?;
    let mut e = SegmentExpect {
        from,
        flags,
        retransmission: false,
        dropped: false,
    };
    for w in words {
        match w {
            "retransmission" => e.retransmission = true,
            "dropped" => e.dropped = true,
            other => {
                return Err(format!(
                    "'{other}' is not said of a segment: use retransmission or dropped"
                ));
            }
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_words_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_setup("delay=450ms step=on"),
            Ok(WireSetup {
                delay_ms: 450,
                step: true
            })
        );
        assert_eq!(
            parse_call("delay 1s".split_whitespace()),
            Ok(LinkOrder::Delay(1000))
        );
        assert_eq!(
            parse_call("release".split_whitespace()),
            Ok(LinkOrder::Release(1))
        );
        assert_eq!(
            parse_call("flood 64".split_whitespace()),
            Ok(LinkOrder::Flood(64))
        );
        assert!(parse_call("juggle".split_whitespace()).is_err());
        assert_eq!(
            parse_ms("2h"),
            Err("'2h' is not a delay: write it like 450ms or 1s".to_string())
        );
        let s = parse_segment("client FIN+ACK retransmission".split_whitespace()).expect("valid");
        assert_eq!(s.flags, Flags(Flags::FIN | Flags::ACK));
        assert!(s.retransmission && !s.dropped);
        assert!(parse_segment("client SIN".split_whitespace()).is_err());
        let (role, v) = parse_keepalive("client idle=1 count=2".split_whitespace()).expect("valid");
        assert_eq!((role, v), ("client", [1, 75, 2]));
    }
}
