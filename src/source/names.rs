//! Host names of addresses and service names of ports, shown instead of
//! numbers when asked (`-r`, or `H` in the view), as `ss -r` does. Host
//! names come from the system's resolver (getnameinfo: /etc/hosts, then
//! whatever nsswitch.conf lists), asked on a thread of its own so that a
//! frame never waits for one; answers are cached, bounded in number and
//! kept a while. Service names are the tcp lines of /etc/services.
//!
//! One cache for the process, like the resolver's own: every view of the
//! table (the live one, `--once`) asks the same one.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Answers kept, and for how long: names change rarely, addresses churn.
const MAX_KEPT: usize = 4096;
const KEPT: Duration = Duration::from_secs(300);
/// Lookups waiting at once; more are asked again at a later frame.
const QUEUE: usize = 256;
/// Threads asking the resolver: a slow answer holds up only its own.
const WORKERS: usize = 2;

static SHOWN: AtomicBool = AtomicBool::new(false);
static RESOLVER: OnceLock<Resolver> = OnceLock::new();
static SERVICES: OnceLock<HashMap<u16, Arc<str>>> = OnceLock::new();

/// Whether names are shown instead of numbers.
pub fn shown() -> bool {
    SHOWN.load(Ordering::Relaxed)
}

/// Shows names or numbers again. The resolver's threads start at the
/// first question, not here: by then setup is over and they are born with
/// the privileges the run kept, never with more.
pub fn show(on: bool) {
    SHOWN.store(on, Ordering::Relaxed);
}

fn resolver() -> &'static Resolver {
    RESOLVER.get_or_init(Resolver::start)
}

/// The host name of `ip` if known by now; unknown ones are asked for in
/// the background. Unspecified addresses (a listener's `*`) have none.
pub fn host(ip: IpAddr) -> Option<Arc<str>> {
    if ip.is_unspecified() || !shown() {
        return None;
    }
    resolver().host(ip)
}

/// The service name of a TCP port (`443` → `https`), if /etc/services
/// has one.
pub fn service(port: u16) -> Option<Arc<str>> {
    if !shown() {
        return None;
    }
    SERVICES
        .get_or_init(|| services(&std::fs::read_to_string("/etc/services").unwrap_or_default()))
        .get(&port)
        .cloned()
}

/// Asks for every address and waits until each is answered or `within`
/// has passed (`--once`: one reading, printed once).
pub fn resolve_all(ips: impl IntoIterator<Item = IpAddr>, within: Duration) {
    if !shown() {
        return;
    }
    let r = resolver();
    let deadline = Instant::now() + within;
    let mut waiting: Vec<IpAddr> = ips.into_iter().filter(|ip| !ip.is_unspecified()).collect();
    waiting.sort_unstable();
    waiting.dedup();
    while Instant::now() < deadline {
        waiting.retain(|ip| !r.answered(*ip));
        if waiting.is_empty() {
            return;
        }
        for ip in &waiting {
            let _ = r.host(*ip);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Resolver {
    cache: Arc<Mutex<Cache>>,
    ask: SyncSender<IpAddr>,
}

#[derive(Default)]
struct Cache {
    known: HashMap<IpAddr, (Instant, Option<Arc<str>>)>,
    asked: HashSet<IpAddr>,
}

impl Resolver {
    fn start() -> Resolver {
        let cache = Arc::new(Mutex::new(Cache::default()));
        let (ask, asks) = std::sync::mpsc::sync_channel(QUEUE);
        let asks = Arc::new(Mutex::new(asks));
        for i in 0..WORKERS {
            let (cache, asks) = (cache.clone(), asks.clone());
            let _ = std::thread::Builder::new()
                .name(format!("tcpscope-dns-{i}"))
                .spawn(move || work(&asks, &cache));
        }
        Resolver { cache, ask }
    }

    fn host(&self, ip: IpAddr) -> Option<Arc<str>> {
        let mut c = self.cache.lock().ok()?;
        if let Some((at, name)) = c.known.get(&ip)
            && at.elapsed() < KEPT
        {
            return name.clone();
        }
        if c.asked.contains(&ip) {
            return None;
        }
        match self.ask.try_send(ip) {
            Ok(()) => drop(c.asked.insert(ip)),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
        None
    }

    fn answered(&self, ip: IpAddr) -> bool {
        self.cache
            .lock()
            .map(|c| c.known.contains_key(&ip))
            .unwrap_or(true)
    }
}

/// One worker: takes an address, asks the resolver, keeps the answer
/// (no name is an answer too).
fn work(asks: &Mutex<Receiver<IpAddr>>, cache: &Mutex<Cache>) {
    loop {
        let next = match asks.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(ip) = next else { return };
        let name = dns_lookup::lookup_addr(&ip)
            .ok()
            .filter(|n| *n != ip.to_string() && !n.chars().any(char::is_control))
            .map(Arc::from);
        let Ok(mut c) = cache.lock() else { return };
        if c.known.len() >= MAX_KEPT {
            c.known.clear();
        }
        c.asked.remove(&ip);
        c.known.insert(ip, (Instant::now(), name));
    }
}

/// The tcp ports of an /etc/services text and their first names.
fn services(text: &str) -> HashMap<u16, Arc<str>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let (Some(name), Some(port)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(port) = port.strip_suffix("/tcp").and_then(|p| p.parse().ok()) else {
            continue;
        };
        out.entry(port).or_insert_with(|| Arc::from(name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_the_tcp_lines_first_name_first() {
        let s = services(
            "# comment\nhttp\t\t80/tcp\t\twww\t# WorldWideWeb HTTP\nhttps 443/tcp\n\
             domain 53/udp\nsame 80/tcp\nbroken\n",
        );
        assert_eq!(s.get(&80).map(|n| &**n), Some("http"));
        assert_eq!(s.get(&443).map(|n| &**n), Some("https"));
        assert_eq!(s.get(&53), None, "udp only");
        assert_eq!(s.len(), 2);
    }
}
