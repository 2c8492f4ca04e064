//! `--metrics ADDR` on the live view: the same exposition `tcpscope
//! serve` gives, from the table the view shows.

use crate::metrics::Metrics;
use crate::pipeline::Mirror;
use crate::pipeline::runner::Update;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};

pub struct Exporter {
    listener: TcpListener,
    metrics: Metrics,
}

impl Exporter {
    /// Binds before the terminal changes mode: a taken address is an
    /// error to see at once.
    pub async fn bind(addr: SocketAddr, port: Option<u16>) -> anyhow::Result<Exporter> {
        Ok(Exporter {
            listener: crate::output::serve::bind(addr).await?,
            metrics: Metrics::new(port.into_iter().collect()),
        })
    }

    pub fn events(exporter: &mut Option<Exporter>, update: &Update) {
        if let Some(e) = exporter {
            e.metrics.events(update);
        }
    }

    /// The next scrape's connection; never, without an exporter.
    pub async fn next(exporter: &Option<Exporter>) -> Option<TcpStream> {
        let Some(e) = exporter else {
            return std::future::pending().await;
        };
        e.listener.accept().await.ok().map(|(stream, _)| stream)
    }

    /// Answers a scrape with the table as the view has it, on a task of
    /// its own.
    pub fn answer(exporter: &mut Option<Exporter>, stream: TcpStream, conns: &Mirror) {
        if let Some(e) = exporter {
            let body = e.metrics.scrape(conns);
            tokio::spawn(crate::output::serve::answer(stream, body));
        }
    }
}
