//! What tcpscope knows, as OpenMetrics for Prometheus (`serve
//! --metrics`): sockets per state (and per watched port), transitions
//! per from/to, each listener's accept queue, the kernel's listen
//! overflow, drop and retransmission counters, and the source's health.

use crate::pipeline::Mirror;
use crate::pipeline::runner::Update;
use crate::socket::{EventKind, TcpState, addr};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortStateLabel {
    port: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabel {
    from: String,
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: String,
}

/// The kernel's counters worth a graph, by their names in
/// `/proc/net/netstat` (TcpExt) and `/proc/net/snmp` (Tcp).
const KERNEL: [(&str, &str, &str); 3] = [
    (
        "ListenOverflows",
        "listen_overflows",
        "Connections dropped because an accept queue was full (kernel counter)",
    ),
    (
        "ListenDrops",
        "listen_drops",
        "SYNs dropped by listeners for any reason (kernel counter)",
    ),
    (
        "RetransSegs",
        "retransmitted_segments",
        "TCP segments retransmitted (kernel counter)",
    ),
];

pub struct Metrics {
    registry: Registry,
    ports: Vec<u16>,
    sockets: Family<StateLabel, Gauge>,
    port_sockets: Family<PortStateLabel, Gauge>,
    transitions: Family<TransitionLabel, Counter>,
    accept_queue: Family<ListenerLabel, Gauge>,
    accept_backlog: Family<ListenerLabel, Gauge>,
    time_wait: Gauge,
    kernel: Vec<(Counter, u64)>,
    dropped: Counter,
    up: Gauge,
}

impl Metrics {
    /// Metrics for every socket, and per port for `ports`.
    pub fn new(ports: Vec<u16>) -> Self {
        let mut registry = Registry::with_prefix("tcpscope");
        let sockets = Family::<StateLabel, Gauge>::default();
        registry.register("sockets", "TCP sockets by state", sockets.clone());
        let port_sockets = Family::<PortStateLabel, Gauge>::default();
        registry.register(
            "port_sockets",
            "TCP sockets whose local or remote port is a watched port, by state",
            port_sockets.clone(),
        );
        let transitions = Family::<TransitionLabel, Counter>::default();
        registry.register(
            "transitions",
            "State changes seen, by the states left and entered",
            transitions.clone(),
        );
        let accept_queue = Family::<ListenerLabel, Gauge>::default();
        registry.register(
            "accept_queue",
            "Connections waiting in a listener's accept queue",
            accept_queue.clone(),
        );
        let accept_backlog = Family::<ListenerLabel, Gauge>::default();
        registry.register(
            "accept_backlog",
            "The accept queue's size (the listen() backlog)",
            accept_backlog.clone(),
        );
        let time_wait = Gauge::default();
        registry.register("time_wait", "TCP sockets in TIME_WAIT", time_wait.clone());
        let kernel = KERNEL
            .iter()
            .map(|(_, name, help)| {
                let c = Counter::default();
                registry.register(*name, *help, c.clone());
                (c, 0)
            })
            .collect();
        let dropped = Counter::default();
        registry.register(
            "dropped_events",
            "State changes the kernel or tcpscope dropped (buffer full, slow reader)",
            dropped.clone(),
        );
        let up = Gauge::default();
        registry.register(
            "source_up",
            "1 while the last reading of the socket table worked",
            up.clone(),
        );
        Metrics {
            registry,
            ports,
            sockets,
            port_sockets,
            transitions,
            accept_queue,
            accept_backlog,
            time_wait,
            kernel,
            dropped,
            up,
        }
    }

    /// The update's transitions and dropped events.
    pub fn events(&mut self, update: &Update) {
        for e in &update.events {
            if let EventKind::State { from, to } = e.kind {
                let label = TransitionLabel {
                    from: from.name().into(),
                    to: to.name().into(),
                };
                self.transitions.get_or_create(&label).inc();
            }
        }
        self.dropped.inc_by(update.dropped_events);
        self.up.set(1);
    }

    pub fn failed(&mut self) {
        self.up.set(0);
    }

    /// The exposition for a scrape: gauges from the table as it is now
    /// and the kernel's counters read now (work done per scrape, a few a
    /// minute, not per update, up to sixty a second).
    pub fn scrape(&mut self, conns: &Mirror) -> String {
        self.table(conns);
        self.kernel_counters(&crate::source::activity::kernel_tcp_counters());
        self.encode()
    }

    fn table(&mut self, conns: &Mirror) {
        self.sockets.clear();
        self.port_sockets.clear();
        self.accept_queue.clear();
        self.accept_backlog.clear();
        for s in TcpState::ALL {
            self.sockets.get_or_create(&label(s)).set(0);
        }
        for c in conns.iter().filter(|c| !c.is_gone()) {
            let row = &c.row;
            self.sockets.get_or_create(&label(row.state)).inc();
            for p in &self.ports {
                if row.key.local.port() == *p || row.key.remote.port() == *p {
                    let l = PortStateLabel {
                        port: p.to_string(),
                        state: row.state.name().into(),
                    };
                    self.port_sockets.get_or_create(&l).inc();
                }
            }
            if row.state == TcpState::Listen {
                let l = ListenerLabel {
                    listener: addr::display(&row.key.local),
                };
                let gauge = |v: Option<u32>| i64::from(v.unwrap_or(0));
                self.accept_queue.get_or_create(&l).set(gauge(row.recv_q));
                self.accept_backlog.get_or_create(&l).set(gauge(row.send_q));
            }
        }
        let tw = self.sockets.get_or_create(&label(TcpState::TimeWait)).get();
        self.time_wait.set(tw);
    }

    /// The kernel's counters by name: each of ours moves by what the
    /// kernel's did since the last reading.
    fn kernel_counters(&mut self, all: &[(String, u64)]) {
        for ((name, _, _), (counter, last)) in KERNEL.iter().zip(self.kernel.iter_mut()) {
            let Some((_, now)) = all.iter().find(|(n, _)| n == name) else {
                continue;
            };
            if *last != 0 && *now >= *last {
                counter.inc_by(*now - *last);
            }
            *last = *now;
        }
    }

    /// The exposition, OpenMetrics text.
    fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

fn label(s: TcpState) -> StateLabel {
    StateLabel {
        state: s.name().into(),
    }
}

/// The same exposition in Prometheus's older text format (0.0.4), for
/// readers that do not ask for OpenMetrics (curl, `promtool check
/// metrics`): a counter's family is named with its `_total`, and there
/// is no `# EOF`.
pub fn classic_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_classic_format_names_counters_with_their_total() {
        let om = "# HELP a_x Things.\n# TYPE a_x counter\na_x_total 3\n# HELP a_g G.\n# TYPE a_g gauge\na_g 1\n# EOF\n";
        let text = super::classic_text(om);
        assert_eq!(
            text,
            "# HELP a_x_total Things.\n# TYPE a_x_total counter\na_x_total 3\n# HELP a_g G.\n# TYPE a_g gauge\na_g 1\n"
        );
    }
}
