//! `tcpscope serve --metrics ADDR`: the pipeline kept running, its view
//! exposed for Prometheus at `GET /metrics` (OpenMetrics text). One
//! route, answered by hand: an HTTP framework would be most of the
//! binary for it.

use crate::metrics::Metrics;
use crate::pipeline::Mirror;
use crate::pipeline::runner::{Feed, Runner};
use crate::shutdown::Termination;
use crate::source::{Scope, Sources};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds first (a taken address is an error before anything runs), then
/// serves until a termination signal.
pub async fn run(
    sources: Sources,
    ports: Vec<u16>,
    interval: Duration,
    addr: SocketAddr,
    mut signals: Termination,
) -> anyhow::Result<()> {
    let listener = bind(addr).await?;
    eprintln!("tcpscope: metrics on http://{addr}/metrics");
    let scope = match ports.as_slice() {
        [one] => Scope::on_port(Some(*one)),
        _ => Scope::default(),
    };
    let (tx, mut feed) = tokio::sync::mpsc::channel(16);
    // A scrape wants current queues too: the whole table at least once a
    // second, not only what the tracepoint reports.
    let reconcile = interval.max(Duration::from_secs(1));
    let _runner = Runner::spawn_reconciling(sources, scope, interval, reconcile, tx)?;
    let mut stop = Box::pin(signals.wait());
    let mut metrics = Metrics::new(ports);
    let mut conns = Mirror::default();
    loop {
        tokio::select! {
            got = feed.recv() => match got {
                Some(Feed::Update(update)) => {
                    conns.apply(&update.delta, |_, _| {});
                    metrics.events(&update);
                }
                Some(Feed::Failed(text)) => {
                    eprintln!("tcpscope: {text}");
                    metrics.failed();
                }
                None => anyhow::bail!("the pipeline thread stopped"),
            },
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(answer(stream, metrics.scrape(&conns)));
                }
            },
            _ = &mut stop => return Ok(()),
        }
    }
}

/// The metrics endpoint's socket; a taken address says how to choose
/// another.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot serve metrics on {addr}: {}: choose another address with --metrics",
            crate::source::error::os_words(&e)
        )
    })
}

/// One request: `GET /metrics` gets the exposition, anything else 404.
pub async fn answer(mut stream: TcpStream, body: String) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return;
    }
    let line = String::from_utf8_lossy(&head);
    // Prometheus asks for OpenMetrics; other readers get the older format.
    let openmetrics = line
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("accept:") && l.contains("openmetrics"));
    let (body, content_type) = if openmetrics {
        (body, CONTENT_TYPE)
    } else {
        (crate::metrics::classic_text(&body), CLASSIC_TYPE)
    };
    let wanted = line.lines().next().is_some_and(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some("GET")
            && w.next()
                .is_some_and(|p| p == "/metrics" || p.starts_with("/metrics?"))
    });
    let response = if wanted {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        let text = "only /metrics is served here\n";
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
