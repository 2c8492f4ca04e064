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
    // The port the kernel chose, for `:0`.
    let bound = listener.local_addr().unwrap_or(addr);
    eprintln!("tcpscope: metrics on http://{bound}/metrics");
    let mut front = Front::serve(listener);
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
            Some(scrape) = front.next() => scrape.answer(metrics.scrape(&conns)),
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

/// Clients served at once; more are closed at once. An idle client holds
/// its place for at most `HEAD_TIME`.
pub const MAX_CLIENTS: usize = 256;
const HEAD_TIME: Duration = Duration::from_secs(2);
const HEAD_SIZE: usize = 16 * 1024;

/// The HTTP side: each client's request read on a task of its own, and
/// only a `GET /metrics` handed on, so that neither idle clients nor
/// other paths cost a scrape of the table.
pub struct Front {
    scrapes: tokio::sync::mpsc::Receiver<Scrape>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A client waiting for the exposition.
pub struct Scrape {
    stream: TcpStream,
    openmetrics: bool,
    _place: tokio::sync::OwnedSemaphorePermit,
}

impl Front {
    pub fn serve(listener: TcpListener) -> Front {
        let (tx, scrapes) = tokio::sync::mpsc::channel(MAX_CLIENTS);
        let places = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CLIENTS));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of descriptors, most likely: a moment for some to close.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Ok(place) = places.clone().try_acquire_owned() else {
                    continue; // dropped: closed at once
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Some(scrape) = read_request(stream, place).await {
                        let _ = tx.send(scrape).await;
                    }
                });
            }
        });
        Front { scrapes, accept }
    }

    /// The next client that asked for the metrics.
    pub async fn next(&mut self) -> Option<Scrape> {
        self.scrapes.recv().await
    }
}

impl Scrape {
    /// Written on a task of its own; `body` is OpenMetrics text.
    pub fn answer(self, body: String) {
        tokio::spawn(async move {
            let (body, content_type) = if self.openmetrics {
                (body, CONTENT_TYPE)
            } else {
                (crate::metrics::classic_text(&body), CLASSIC_TYPE)
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let mut stream = self.stream;
            let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// What the front end makes of a request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET /metrics`: a scrape, in OpenMetrics when the client asks for it.
    Metrics { openmetrics: bool },
    /// Anything else: answered 404.
    NotFound,
}

/// The decision on a request head, as read from the client (up to the
/// blank line or 16 KiB, cut off or not). Apart from the socket so
/// that what a client sends can be tested and fuzzed as bytes alone.
pub fn request(head: &[u8]) -> Request {
    let line = String::from_utf8_lossy(head);
    // Prometheus asks for OpenMetrics; other readers get the older format.
    let openmetrics = line
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("accept:") && l.contains("openmetrics"));
    let wanted = line.lines().next().is_some_and(|l| {
        let mut w = l.split_whitespace();
        w.next() == Some("GET")
            && w.next()
                .is_some_and(|p| p == "/metrics" || p.starts_with("/metrics?"))
    });
    if wanted {
        Request::Metrics { openmetrics }
    } else {
        Request::NotFound
    }
}

/// Reads the request head; a `GET /metrics` becomes a [`Scrape`], anything
/// else is answered 404 here, a client too slow is closed.
async fn read_request(
    mut stream: TcpStream,
    place: tokio::sync::OwnedSemaphorePermit,
) -> Option<Scrape> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(HEAD_TIME, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < HEAD_SIZE {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()?;
    if let Request::Metrics { openmetrics } = request(&head) {
        return Some(Scrape {
            stream,
            openmetrics,
            _place: place,
        });
    }
    let text = "only /metrics is served here\n";
    let response = format!(
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    None
}
