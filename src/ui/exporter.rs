//! `--metrics ADDR` on the live view: the same exposition `tcpscope
//! serve` gives, from the table the view shows.

use crate::metrics::Metrics;
use crate::pipeline::Mirror;
use crate::pipeline::runner::Update;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub struct Exporter {
    listener: TcpListener,
    metrics: Metrics,
}

impl Exporter {
    /// Binds before the terminal changes mode: a taken address is an
    /// error to see at once.
    pub async fn bind(addr: SocketAddr, port: Option<u16>) -> anyhow::Result<Exporter> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot serve metrics on {addr}: {}: choose another address with --metrics",
                crate::source::error::os_words(&e)
            )
        })?;
        Ok(Exporter {
            listener,
            metrics: Metrics::new(port.into_iter().collect()),
        })
    }

    pub fn events(exporter: &mut Option<Exporter>, update: &Update) {
        if let Some(e) = exporter {
            e.metrics.events(update);
        }
    }

    pub fn table(exporter: &mut Option<Exporter>, conns: &Mirror) {
        if let Some(e) = exporter {
            e.metrics.table(conns);
        }
    }

    /// Once a second: the kernel's counters.
    pub fn kernel(exporter: &mut Option<Exporter>) {
        if let Some(e) = exporter {
            let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
            e.metrics
                .kernel_counters(&read("/proc/net/netstat"), &read("/proc/net/snmp"));
        }
    }

    /// The next scrape, answered on a task of its own; never, without an
    /// exporter.
    pub async fn serve_next(exporter: &mut Option<Exporter>) {
        let Some(e) = exporter else {
            return std::future::pending().await;
        };
        if let Ok((stream, _)) = e.listener.accept().await {
            tokio::spawn(crate::output::serve::answer(stream, e.metrics.encode()));
        }
    }
}
