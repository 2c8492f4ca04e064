//! The netlink socket half of the sockdiag source. A dump that goes wrong
//! half-way (ENOBUFS under memory pressure, a reply that does not parse)
//! leaves the socket mid-dump, and the kernel then refuses every later
//! dump on it (EBUSY): so any failure drops the socket, and the reading is
//! retried on a fresh one. Replies are matched to their request by
//! sequence number, so nothing of an abandoned dump leaks into the next.

use super::wire::{self, AF_INET, AF_INET6, DiagMsg, Progress, WireError};
use super::{bytecode, tcp_info, to_row};
use crate::socket::{Family, SocketKey, SocketRow, TcpDetails};
use crate::source::procs::ProcNames;
use crate::source::users::UserNames;
use crate::source::{
    Cadence, Degradation, Dump, EMPTY_TABLE_WARNING, Limit, Scope, SocketSource, SourceError,
    os_error, separate_shared_tuples,
};
use netlink_sys::{Socket, protocols::NETLINK_SOCK_DIAG};
use std::io;
use std::time::{Duration, Instant, SystemTime};

/// The kernel sends dump batches of at most 32 KiB; twice that is plenty.
const RECV_BUFFER: usize = 64 * 1024;
/// recv() flag: report a datagram's real length even if it was cut.
const MSG_TRUNC: i32 = 0x20;
/// A failed reading is tried again this many times, each on a fresh socket.
const RETRIES: usize = 3;
/// EINVAL: an old kernel that does not know the port ops.
const EINVAL: i32 = 22;
/// How long the header says a reading had to be recovered.
const RECOVERY_SHOWN: Duration = Duration::from_secs(10);

/// What the source needs of a netlink socket; tests hand in one that
/// fails on purpose.
pub trait NetlinkIo: Send {
    fn send(&mut self, request: &[u8]) -> io::Result<()>;
    /// One datagram into `buf`; returns its full length, even when that
    /// is more than `buf` holds.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// Opens a fresh socket; called again after every failure.
pub type Opener = Box<dyn FnMut() -> io::Result<Box<dyn NetlinkIo>> + Send>;

struct KernelSocket(Socket);

impl NetlinkIo for KernelSocket {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.0.send(request, 0).map(|_| ())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(&mut &mut buf[..], MSG_TRUNC)
    }
}

/// A real NETLINK_SOCK_DIAG socket.
pub fn kernel_socket() -> io::Result<Box<dyn NetlinkIo>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    Ok(Box::new(KernelSocket(socket)))
}

pub struct SockDiagSource {
    io: Option<Box<dyn NetlinkIo>>,
    opener: Opener,
    buf: Vec<u8>,
    seq: u32,
    /// Cleared if the kernel rejects bytecode; then ports filter here.
    kernel_filter: bool,
    procs: Option<ProcNames>,
    users: UserNames,
    capacity: usize,
    /// The last reading that needed a retry, and why.
    recovered: Option<(Instant, String)>,
}

/// Why one attempt at a reading failed.
enum Failure {
    Wire(WireError),
    Os(&'static str, io::Error),
    /// No fresh socket could be opened: retrying will not help.
    Reopen(io::Error),
}

impl Failure {
    fn text(&self) -> String {
        match self {
            Failure::Wire(e) => e.to_string(),
            Failure::Os(doing, e) => os_error(*doing, e).to_string(),
            Failure::Reopen(e) => os_error("cannot open a sock_diag netlink socket", e).to_string(),
        }
    }
}

impl SockDiagSource {
    pub fn new(cadence: Cadence) -> Result<Self, SourceError> {
        Self::with_io(Box::new(kernel_socket), cadence)
    }

    /// A source on sockets from `opener` (tests inject faults this way).
    pub fn with_io(mut opener: Opener, cadence: Cadence) -> Result<Self, SourceError> {
        let io = opener().map_err(|e| {
            os_error(
                "cannot open a sock_diag netlink socket (try --source netstat2)",
                &e,
            )
        })?;
        let procs = match cadence {
            Cadence::Live => Some(ProcNames::start()),
            Cadence::Once => None,
            Cadence::OnceWithOwners => Some(ProcNames::inline()),
        };
        Ok(SockDiagSource {
            io: Some(io),
            opener,
            buf: vec![0; RECV_BUFFER],
            seq: 0,
            kernel_filter: true,
            procs,
            users: UserNames::default(),
            capacity: 1024,
            recovered: None,
        })
    }

    fn socket(&mut self) -> Result<&mut Box<dyn NetlinkIo>, Failure> {
        if self.io.is_none() {
            self.io = Some((self.opener)().map_err(Failure::Reopen)?);
        }
        match self.io.as_mut() {
            Some(io) => Ok(io),
            None => Err(Failure::Reopen(io::Error::other("no socket"))),
        }
    }

    /// One complete dump for one family, each socket handed to `each`.
    fn dump_family(
        &mut self,
        family: u8,
        ext: u8,
        program: &[u8],
        each: &mut dyn FnMut(&DiagMsg<'_>),
    ) -> Result<(), Failure> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let request = wire::dump_request(family, ext, program, seq);
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.exchange(&request, seq, &mut buf, each);
        self.buf = buf;
        if result.is_err() {
            // The socket may be mid-dump: never use it again.
            self.io = None;
        }
        result
    }

    fn exchange(
        &mut self,
        request: &[u8],
        seq: u32,
        buf: &mut [u8],
        each: &mut dyn FnMut(&DiagMsg<'_>),
    ) -> Result<(), Failure> {
        let io = self.socket()?;
        io.send(request)
            .map_err(|e| Failure::Os("cannot send a sock_diag request", e))?;
        loop {
            let n = match io.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Os("cannot receive the sock_diag reply", e)),
            };
            if n > buf.len() {
                let cut = WireError::Truncated {
                    need: n,
                    have: buf.len(),
                };
                return Err(Failure::Wire(cut));
            }
            match wire::parse(&buf[..n], seq, |m| each(&m)) {
                Ok(Progress::Done) => return Ok(()),
                Ok(Progress::More) => {}
                Err(e) => return Err(Failure::Wire(e)),
            }
        }
    }

    /// Both families, on the current socket.
    fn read_once(&mut self, program: &[u8], taken_at: Instant) -> Result<Vec<SocketRow>, Failure> {
        let mut rows = Vec::with_capacity(self.capacity);
        let mut push = |m: &DiagMsg<'_>| rows.extend(to_row(m, taken_at));
        self.dump_family(AF_INET, 0, program, &mut push)?;
        self.dump_family(AF_INET6, 0, program, &mut push)?;
        Ok(rows)
    }

    /// A whole reading; a failed attempt is retried on a fresh socket.
    fn read_rows(
        &mut self,
        scope: &Scope,
        taken_at: Instant,
    ) -> Result<Vec<SocketRow>, SourceError> {
        let mut failures = Vec::new();
        while failures.len() <= RETRIES {
            let program = match scope.port {
                Some(p) if self.kernel_filter => bytecode::either_port(p),
                _ => Vec::new(),
            };
            match self.read_once(&program, taken_at) {
                Ok(rows) => {
                    if let Some(first) = failures.first() {
                        self.recovered = Some((Instant::now(), Failure::text(first)));
                    }
                    return Ok(rows);
                }
                Err(Failure::Wire(WireError::Kernel(EINVAL))) if !program.is_empty() => {
                    // Old kernel: filter in user space from now on.
                    self.kernel_filter = false;
                }
                Err(f @ Failure::Reopen(_)) => {
                    return Err(SourceError::Unavailable(f.text()));
                }
                Err(f) => failures.push(f),
            }
        }
        let last = failures.last().map(Failure::text).unwrap_or_default();
        Err(SourceError::Unavailable(format!(
            "cannot read the socket table: {last} (tried {} times, each on a fresh netlink socket; retrying at the next reading)",
            failures.len()
        )))
    }
}

impl SocketSource for SockDiagSource {
    fn name(&self) -> &'static str {
        "sockdiag"
    }

    fn dump(&mut self, scope: &Scope) -> Result<Dump, SourceError> {
        let started = Instant::now();
        let wall = SystemTime::now();
        let mut rows = self.read_rows(scope, started)?;
        let finished = Instant::now();
        let total = rows.len();
        if !self.kernel_filter {
            rows.retain(|r| scope.admits(&r.key));
        }
        self.capacity = self.capacity.max(rows.len() + rows.len() / 8);
        separate_shared_tuples(&mut rows);
        if let Some(procs) = &mut self.procs {
            procs.fill(&mut rows);
        }
        self.users.fill(&mut rows);
        let warning = (total == 0 && scope.port.is_none()).then(|| EMPTY_TABLE_WARNING.to_string());
        Ok(Dump {
            rows,
            started,
            finished,
            wall,
            warning,
        })
    }

    fn degradations(&self) -> Vec<Degradation> {
        let mut out = ProcNames::limits_of(self.procs.as_ref());
        if !self.kernel_filter {
            out.push(Degradation::new(
                Limit::KernelPortFilter,
                "this kernel rejects port bytecode (needs Linux 4.16+); filtering in tcpscope instead",
            ));
        }
        if let Some((at, why)) = &self.recovered
            && at.elapsed() < RECOVERY_SHOWN
        {
            out.push(Degradation::new(
                Limit::TableRecovered,
                format!("a reading failed ({why}) and was read again on a fresh netlink socket"),
            ));
        }
        out
    }

    /// tcp_info and the congestion algorithm for one connection, from a
    /// dump the kernel narrows to its two ports.
    fn details(&mut self, key: &SocketKey) -> Result<Option<TcpDetails>, SourceError> {
        let family = match key.family {
            Family::Inet => AF_INET,
            Family::Inet6 => AF_INET6,
        };
        let program = bytecode::both_ports(key.local.port(), key.remote.port());
        let mut found = None;
        let mut pick = |m: &DiagMsg<'_>| {
            let same = to_row(m, Instant::now())
                .is_some_and(|r| r.key.local == key.local && r.key.remote == key.remote);
            if same {
                let cong = m.attr(wire::INET_DIAG_CONG).map(|c| {
                    String::from_utf8_lossy(c)
                        .trim_end_matches('\0')
                        .to_string()
                });
                found = m
                    .attr(wire::INET_DIAG_INFO)
                    .and_then(|i| tcp_info::parse(i, cong));
            }
        };
        self.dump_family(family, wire::EXT_INFO | wire::EXT_CONG, &program, &mut pick)
            .map_err(|f| SourceError::Unavailable(f.text()))?;
        Ok(found)
    }

    fn has_details(&self) -> bool {
        true
    }
}
