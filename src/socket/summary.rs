//! A connection's life told once it has ended: how long it lasted, how
//! long it spent in each state, what it carried and why it ended.

use super::cause::Cause;
use super::conn::{Conn, MAX_PHASES, Phase};
use super::row::Totals;
use super::state::TcpState;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// From the first state's start to the end.
    pub duration: Duration,
    /// Time in each state, in the order first entered; a state entered
    /// twice (SYN_RECV after a retried handshake) counts once, summed.
    pub states: Vec<(TcpState, Duration)>,
    /// False when the life began before tcpscope saw it (or its oldest
    /// states were dropped): the duration is then a lower bound.
    pub whole: bool,
    /// The last tcp_info totals read while it lived, when asked for.
    pub totals: Option<Totals>,
    /// The cause of its last transition: how it ended.
    pub ended: Cause,
}

impl Summary {
    /// The summary of a connection that has ended; `None` while it lives.
    pub fn of(conn: &Conn) -> Option<Summary> {
        let gone = conn.gone_at?;
        let phases = own_phases(&conn.timeline);
        let first = phases.first()?;
        let mut states: Vec<(TcpState, Duration)> = Vec::new();
        let ends = phases.iter().skip(1).map(|p| p.entered);
        for (phase, end) in phases.iter().zip(ends.chain([gone])) {
            let spent = end.saturating_duration_since(phase.entered);
            match states.iter_mut().find(|(s, _)| *s == phase.state) {
                Some((_, total)) => *total += spent,
                None => states.push((phase.state, spent)),
            }
        }
        Some(Summary {
            duration: gone.saturating_duration_since(first.entered),
            states,
            whole: first.entry_seen() && conn.timeline.len() < MAX_PHASES,
            totals: conn.row.totals,
            ended: conn.end_cause.clone(),
        })
    }

    /// `lasted 1.204s: SYN_SENT 0.1ms, ESTABLISHED 1.203s, … sent 517 B,
    /// received 1.2 KiB, 0 retransmitted; ended by TIME_WAIT's timer`.
    pub fn words(&self) -> String {
        let at_least = if self.whole { "" } else { "at least " };
        let states = self
            .states
            .iter()
            .map(|(s, d)| format!("{s} {}", short(*d)))
            .collect::<Vec<_>>()
            .join(", ");
        let totals = self.totals.map_or(String::new(), |t| {
            format!(
                "; sent {} B, received {} B, {} retransmitted",
                t.bytes_sent, t.bytes_received, t.total_retrans
            )
        });
        format!(
            "lasted {at_least}{}: {states}{totals}; ended: {}",
            short(self.duration),
            self.ended.words()
        )
    }
}

/// The phases that were this connection's: an accepted socket's timeline
/// begins with the LISTEN it was cloned from, its listener's time.
fn own_phases(timeline: &[Phase]) -> &[Phase] {
    match timeline {
        [first, next, ..] if first.state == TcpState::Listen && next.state == TcpState::SynRecv => {
            &timeline[1..]
        }
        _ => timeline,
    }
}

/// Milliseconds below a second, seconds with three decimals above.
fn short(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::cause::Timer;
    use crate::socket::{Entry, Family, Phase, SocketKey, SocketRow};
    use std::time::{Instant, SystemTime};

    fn conn(phases: &[(TcpState, u64)], gone_ms: u64, first: Entry) -> Conn {
        let t0 = Instant::now();
        let key = SocketKey::new(
            Family::Inet,
            "127.0.0.1:1".parse().expect("a"),
            "127.0.0.1:2".parse().expect("b"),
        );
        let timeline = phases
            .iter()
            .enumerate()
            .map(|(i, &(state, ms))| Phase {
                state,
                entered: t0 + Duration::from_millis(ms),
                entered_wall: SystemTime::UNIX_EPOCH,
                entry: if i == 0 { first } else { Entry::Exact },
                cause: Cause::Unknown,
            })
            .collect();
        Conn {
            id: 1,
            row: SocketRow::new(key, phases[phases.len() - 1].0),
            timeline,
            appeared_at: Some(t0),
            gone_at: Some(t0 + Duration::from_millis(gone_ms)),
            end_cause: Cause::Timer(Timer::TimeWait),
        }
    }

    #[test]
    fn time_in_each_state_adds_up_to_the_life() {
        use TcpState::*;
        let c = conn(
            &[
                (SynSent, 0),
                (Established, 2),
                (FinWait1, 1002),
                (TimeWait, 1003),
            ],
            61_003,
            Entry::Exact,
        );
        let s = Summary::of(&c).expect("gone");
        assert_eq!(s.duration, Duration::from_millis(61_003));
        let ms: Vec<(TcpState, u128)> = s.states.iter().map(|(t, d)| (*t, d.as_millis())).collect();
        assert_eq!(
            ms,
            [
                (SynSent, 2),
                (Established, 1000),
                (FinWait1, 1),
                (TimeWait, 60_000)
            ]
        );
        assert!(s.whole);
        assert_eq!(s.ended, Cause::Timer(Timer::TimeWait));
        assert!(
            s.words().starts_with("lasted 61.003s: SYN_SENT 2.0ms"),
            "{}",
            s.words()
        );
    }

    #[test]
    fn a_state_entered_twice_is_summed_and_a_life_seen_late_is_a_lower_bound() {
        use TcpState::*;
        let c = conn(
            &[
                (SynRecv, 0),
                (Established, 10),
                (SynRecv, 20),
                (Established, 30),
            ],
            40,
            Entry::Before,
        );
        let s = Summary::of(&c).expect("gone");
        assert_eq!(s.states.len(), 2);
        assert_eq!(s.states[0], (SynRecv, Duration::from_millis(20)));
        assert!(!s.whole);
        assert!(
            s.words().starts_with("lasted at least 40.0ms"),
            "{}",
            s.words()
        );
    }

    #[test]
    fn an_accepted_connection_begins_at_its_syn_not_its_listeners_listen() {
        use TcpState::*;
        let mut c = conn(
            &[(Listen, 0), (SynRecv, 5), (Established, 6)],
            9,
            Entry::Before,
        );
        c.timeline[1].entry = Entry::Exact;
        let s = Summary::of(&c).expect("gone");
        assert_eq!(s.duration, Duration::from_millis(4));
        assert_eq!(s.states[0], (SynRecv, Duration::from_millis(1)));
        assert!(s.whole, "its whole life was seen");
    }

    #[test]
    fn a_live_connection_has_no_summary() {
        let mut c = conn(&[(TcpState::Established, 0)], 5, Entry::Seen);
        c.gone_at = None;
        assert_eq!(Summary::of(&c), None);
    }
}
