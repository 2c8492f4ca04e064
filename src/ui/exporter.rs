//! `--metrics ADDR` on the live view: the same exposition `tcpscope
//! serve` gives, from the table the view shows.

use crate::metrics::Metrics;
use crate::output::serve::{Front, Scrape};
use crate::pipeline::Mirror;
use crate::pipeline::runner::Update;
use std::net::SocketAddr;

pub struct Exporter {
    front: Front,
    metrics: Metrics,
}

impl Exporter {
    /// Binds before the terminal changes mode: a taken address is an
    /// error to see at once.
    pub async fn bind(addr: SocketAddr, port: Option<u16>) -> anyhow::Result<Exporter> {
        let listener = crate::output::serve::bind(addr).await?;
        Ok(Exporter {
            front: Front::serve(listener),
            metrics: Metrics::new(port.into_iter().collect()),
        })
    }

    pub fn events(exporter: &mut Option<Exporter>, update: &Update) {
        if let Some(e) = exporter {
            e.metrics.events(update);
        }
    }

    /// The next client asking for the metrics; never, without an exporter.
    pub async fn next(exporter: &mut Option<Exporter>) -> Option<Scrape> {
        let Some(e) = exporter else {
            return std::future::pending().await;
        };
        e.front.next().await
    }

    /// Answers a scrape with the table as the view has it.
    pub fn answer(exporter: &mut Option<Exporter>, scrape: Scrape, conns: &Mirror) {
        if let Some(e) = exporter {
            scrape.answer(e.metrics.scrape(conns));
        }
    }
}
