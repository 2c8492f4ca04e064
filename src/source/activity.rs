//! "Has anything happened?" for polling without the tracepoint, at a tiny
//! fraction of a table reading's cost.
//!
//! Every TCP state change is caused by a segment in or out, or changes a
//! socket count (a listen(), a TIME_WAIT or an orphan expiring), and the
//! kernel counts both per network namespace: `/proc/net/snmp` (segments,
//! opens, resets, connections established) and `/proc/net/sockstat{,6}`
//! (sockets in use, orphans, TIME_WAIT, buffer memory). If none of them
//! moved since the last table reading, that reading still stands. What
//! moves silently (an application draining its queue or accepting a
//! connection without sending anything, a request socket expiring) is why
//! a poller still reads the whole table now and then.

/// The counters as of the previous call.
#[derive(Debug, Default)]
pub struct Activity {
    last: Option<Vec<i64>>,
    text: String,
}

impl Activity {
    pub fn new() -> Activity {
        Activity::default()
    }

    /// Whether TCP may have changed since the previous call: true if any
    /// counter moved, on the first call, and wherever the counters cannot
    /// be read.
    pub fn moved(&mut self) -> bool {
        let now = self.counters();
        let moved = now.is_none() || now != self.last;
        self.last = now;
        moved
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn counters(&mut self) -> Option<Vec<i64>> {
        let mut out = Vec::with_capacity(40);
        for (file, label) in [
            ("/proc/net/snmp", "Tcp:"),
            ("/proc/net/sockstat", "TCP:"),
            ("/proc/net/sockstat6", "TCP6:"),
        ] {
            self.text.clear();
            let mut f = std::fs::File::open(file).ok()?;
            std::io::Read::read_to_string(&mut f, &mut self.text).ok()?;
            numbers_after(&self.text, label, &mut out)?;
        }
        Some(out)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn counters(&mut self) -> Option<Vec<i64>> {
        None
    }
}

/// The numbers on the last line that starts with `label` (in
/// `/proc/net/snmp` the first such line holds the names, the second the
/// values; sockstat has one line of `name value` pairs).
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
fn numbers_after(text: &str, label: &str, out: &mut Vec<i64>) -> Option<()> {
    let line = text.lines().rfind(|l| l.starts_with(label))?;
    let before = out.len();
    out.extend(
        line.split_whitespace()
            .filter_map(|w| w.parse::<i64>().ok()),
    );
    (out.len() > before).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens InSegs\nTcp: 1 200 120000 -1 5 977\nUdp: InDatagrams\nUdp: 3\n";

    #[test]
    fn reads_the_value_line_not_the_names() {
        let mut out = Vec::new();
        assert_eq!(numbers_after(SNMP, "Tcp:", &mut out), Some(()));
        assert_eq!(out, [1, 200, 120000, -1, 5, 977]);
        let sockstat = "sockets: used 5\nTCP: inuse 3 orphan 0 tw 2 alloc 4 mem 1\n";
        assert_eq!(numbers_after(sockstat, "TCP:", &mut out), Some(()));
        assert_eq!(out[6..], [3, 0, 2, 4, 1]);
        assert_eq!(numbers_after(sockstat, "UDP:", &mut out), None);
    }
}

/// The `TcpExt` counters of a `/proc/net/netstat` text, by name: a line
/// of names, then a line of values.
pub fn netstat_counters(text: &str) -> Vec<(String, u64)> {
    counters_of(text, "TcpExt:")
}

/// The kernel's TCP counters now (`/proc/net/netstat` TcpExt and
/// `/proc/net/snmp` Tcp), by name; none where the files are not there.
pub fn kernel_tcp_counters() -> Vec<(String, u64)> {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let mut all = netstat_counters(&read("/proc/net/netstat"));
    all.extend(snmp_tcp_counters(&read("/proc/net/snmp")));
    all
}

/// The `Tcp` counters of a `/proc/net/snmp` text, by name.
pub fn snmp_tcp_counters(text: &str) -> Vec<(String, u64)> {
    counters_of(text, "Tcp:")
}

fn counters_of(text: &str, prefix: &str) -> Vec<(String, u64)> {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
        .collect()
}

#[cfg(test)]
mod counter_tests {
    #[test]
    fn reads_tcpext_counters_by_name() {
        let text = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows\nTcpExt: 12 3 0\nIpExt: InNoRoutes\nIpExt: 0\n";
        let got = super::netstat_counters(text);
        assert_eq!(got[0], ("SyncookiesSent".to_string(), 12));
        assert_eq!(got.len(), 3);
        assert!(super::netstat_counters("nothing").is_empty());
    }
}
