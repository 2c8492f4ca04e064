//! Builds a large TCP table on loopback for benchmarks: N established
//! connections (2N sockets) and M client-side TIME_WAITs, then holds them
//! for HOLD seconds, optionally replacing CHURN connections per second
//! (the oldest closed, new ones opened) so the table keeps changing.
//!
//!     cargo run --release --example socket_farm -- 9000 5000 120 [CHURN] [LISTENERS]
//!
//! LISTENERS (default 4) is the number of server ports the connections
//! share; 1 puts all the churn on one port.
//!
//! Needs about 2N open files: raise the limit first (`ulimit -n 65536`,
//! or use scripts/bench-table.sh which does it). Loopback only.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> std::io::Result<()> {
    let established = arg(1, 9000) as usize;
    let time_wait = arg(2, 5000) as usize;
    let hold = Duration::from_secs(arg(3, 120));
    let churn = arg(4, 0) as usize;
    let count = arg(5, 4).max(1) as usize;
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<Result<_, _>>()?;
    let mut held = Vec::with_capacity(established * 2);
    for i in 0..established {
        let l = &listeners[i % count];
        let client = TcpStream::connect(addrs[i % count])?;
        let (server, _) = l.accept()?;
        held.push(client);
        held.push(server);
    }
    for i in 0..time_wait {
        let l = &listeners[i % count];
        let client = TcpStream::connect(addrs[i % count])?;
        let (server, _) = l.accept()?;
        drop(client); // the client closes first, so its end enters TIME_WAIT
        drop(server);
    }
    let ports: Vec<String> = addrs.iter().map(|a| a.port().to_string()).collect();
    println!(
        "ready ports={} established={} time_wait={}",
        ports.join(","),
        established,
        time_wait
    );
    std::io::stdout().flush()?;
    let start = std::time::Instant::now();
    let mut next = 0usize;
    while start.elapsed() < hold {
        std::thread::sleep(Duration::from_millis(100));
        // Replace churn/10 connections every 100 ms: close the oldest pair
        // (client first, so TIME_WAITs keep appearing), open a new one.
        for _ in 0..churn / 10 {
            if held.len() < 2 {
                break;
            }
            let slot = (next % (held.len() / 2)) * 2;
            let l = &listeners[next % count];
            let client = TcpStream::connect(addrs[next % count])?;
            let (server, _) = l.accept()?;
            held[slot] = client;
            held[slot + 1] = server;
            next += 1;
        }
    }
    drop(held);
    Ok(())
}
