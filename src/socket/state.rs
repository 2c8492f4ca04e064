//! The eleven TCP states, named and ordered the way the lifecycle reads.

use serde::Serialize;
use std::fmt;

/// A TCP state. Declaration order is lifecycle order (ARCHITECTURE.md), so `Ord`
/// sorts groups the way people read the state machine, never alphabetically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TcpState {
    Listen,
    SynSent,
    SynRecv,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
    Closed,
}

impl TcpState {
    /// Every state, in lifecycle order.
    pub const ALL: [TcpState; 11] = [
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::Closing,
        TcpState::LastAck,
        TcpState::TimeWait,
        TcpState::Closed,
    ];

    /// The one name used everywhere: UI, text and JSON.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN_WAIT_1",
            TcpState::FinWait2 => "FIN_WAIT_2",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Closed => "CLOSED",
        }
    }

    /// Position in lifecycle order (0..11), handy for per-state arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a state name the way people type it: any case, `-` or `_`,
    /// and the spellings `ss` and `netstat` use (`estab`, `syn-rcvd`, ...).
    pub fn parse(text: &str) -> Option<TcpState> {
        let norm: String = text
            .trim()
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let state = match norm.as_str() {
            "LISTEN" | "LISTENING" => TcpState::Listen,
            "SYNSENT" => TcpState::SynSent,
            "SYNRECV" | "SYNRCVD" | "SYNRECEIVED" => TcpState::SynRecv,
            "ESTABLISHED" | "ESTAB" => TcpState::Established,
            "FINWAIT1" => TcpState::FinWait1,
            "FINWAIT2" => TcpState::FinWait2,
            "CLOSEWAIT" => TcpState::CloseWait,
            "CLOSING" => TcpState::Closing,
            "LASTACK" => TcpState::LastAck,
            "TIMEWAIT" => TcpState::TimeWait,
            "CLOSED" | "CLOSE" => TcpState::Closed,
            _ => return None,
        };
        Some(state)
    }

    /// True for the states a connection starts in: seeing one of these on a
    /// 4-tuple that was further along means the tuple was reused.
    pub fn is_opening(self) -> bool {
        matches!(
            self,
            TcpState::Listen | TcpState::SynSent | TcpState::SynRecv
        )
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl Serialize for TcpState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for TcpState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        TcpState::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("'{text}' is not a TCP state")))
    }
}

/// A count per state, indexed by [`TcpState::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts([usize; 11]);

impl StateCounts {
    pub fn add(&mut self, state: TcpState) {
        self.0[state.index()] += 1;
    }

    pub fn remove(&mut self, state: TcpState) {
        let n = &mut self.0[state.index()];
        *n = n.saturating_sub(1);
    }

    pub fn get(&self, state: TcpState) -> usize {
        self.0[state.index()]
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// States with at least one socket, in lifecycle order.
    pub fn present(&self) -> impl Iterator<Item = (TcpState, usize)> + '_ {
        TcpState::ALL
            .into_iter()
            .map(|s| (s, self.get(s)))
            .filter(|(_, n)| *n > 0)
    }
}

impl<'a> FromIterator<&'a TcpState> for StateCounts {
    fn from_iter<I: IntoIterator<Item = &'a TcpState>>(iter: I) -> Self {
        let mut counts = StateCounts::default();
        for s in iter {
            counts.add(*s);
        }
        counts
    }
}

/// A set of states, e.g. the ones a filter can match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StateSet(u16);

impl StateSet {
    pub fn of(states: impl IntoIterator<Item = TcpState>) -> StateSet {
        StateSet(states.into_iter().fold(0, |m, s| m | 1 << s.index()))
    }

    pub fn contains(self, state: TcpState) -> bool {
        self.0 & 1 << state.index() != 0
    }

    pub fn intersect(self, other: StateSet) -> StateSet {
        StateSet(self.0 & other.0)
    }

    pub fn union(self, other: StateSet) -> StateSet {
        StateSet(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = TcpState> {
        TcpState::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_lifecycle() {
        for s in TcpState::ALL {
            assert_eq!(TcpState::parse(s.name()), Some(s));
        }
        let mut sorted = TcpState::ALL;
        sorted.sort();
        assert_eq!(sorted, TcpState::ALL);
        assert!(TcpState::Listen < TcpState::Established);
        assert!(TcpState::FinWait2 < TcpState::TimeWait);
    }

    #[test]
    fn parses_common_spellings() {
        assert_eq!(TcpState::parse("estab"), Some(TcpState::Established));
        assert_eq!(TcpState::parse("time-wait"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::parse("SYN_RCVD"), Some(TcpState::SynRecv));
        assert_eq!(TcpState::parse("fin_wait_2"), Some(TcpState::FinWait2));
        assert_eq!(TcpState::parse("nope"), None);
    }
}
