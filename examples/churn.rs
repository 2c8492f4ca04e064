//! Opens and closes connections on loopback as fast as it can, to measure
//! whether a watcher keeps up with the kernel's transitions: binds a
//! listener, prints `port=P`, waits WAIT seconds (start the watcher), then
//! runs CONNECTIONS connections over THREADS client threads and prints
//! how long that took.
//!
//!     cargo run --release --example churn -- [CONNECTIONS] [THREADS] [WAIT] [RATE]
//!
//! RATE caps connections per second (0, the default: as fast as it can).
//! The server end closes first, so its TIME_WAITs (not the clients')
//! hold ports: client ports are free again at once. Each connection makes
//! ten transitions: five on each end. Loopback only.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    let total = arg(1, 100_000) as usize;
    let threads = arg(2, 2).max(1) as usize;
    let wait = Duration::from_secs(arg(3, 3));
    let rate = arg(4, 0) as f64;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("port={}", addr.port());
    std::io::stdout().flush()?;
    std::thread::sleep(wait);

    // The server: accept, close at once (it sends the first FIN).
    let server = std::thread::spawn(move || {
        for _ in 0..total {
            match listener.accept() {
                Ok((s, _)) => drop(s),
                Err(e) => eprintln!("churn: accept: {e}"),
            }
        }
    });
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..threads)
        .map(|_| {
            let next = next.clone();
            std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    // Connection n is due at n / RATE seconds.
                    if rate > 0.0 {
                        let due = started + Duration::from_secs_f64(n as f64 / rate);
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                    match TcpStream::connect(addr) {
                        // Wait for the server's FIN (read returns 0), then
                        // close: CLOSE_WAIT → LAST_ACK → CLOSE.
                        Ok(mut c) => {
                            let _ = c.read(&mut byte);
                        }
                        Err(e) => eprintln!("churn: connect: {e}"),
                    }
                }
            })
        })
        .collect();
    for c in clients {
        let _ = c.join();
    }
    let _ = server.join();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "connections={total} seconds={secs:.2} per_second={:.0} transitions_per_second={:.0}",
        total as f64 / secs,
        total as f64 * 10.0 / secs
    );
    Ok(())
}
