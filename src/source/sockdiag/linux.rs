//! The netlink socket half of the sockdiag source. A dump that goes wrong
//! half-way (ENOBUFS under memory pressure, a reply that does not parse)
//! leaves the socket mid-dump, and the kernel then refuses every later
//! dump on it (EBUSY): so any failure drops the socket, and the reading is
//! retried on a fresh one. Replies are matched to their request by
//! sequence number, so nothing of an abandoned dump leaks into the next.

use super::destroy::DestroyError;
use super::netlink::{self, AF_INET, AF_INET6, DiagMsg, Exact, NetlinkError, Progress};
use super::{bytecode, kernel_states, tcp_info, to_row};
use crate::socket::{Family, SocketKey, SocketRow, TcpDetails};
use crate::source::activity::Activity;
use crate::source::procs::ProcNames;
use crate::source::users::UserNames;
use crate::source::{
    Cadence, Degradation, Dump, EMPTY_TABLE_WARNING, Limit, Scope, SocketSource, SourceError,
    Wanted, os_error, separate_shared_tuples,
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
/// Exact requests sent at once: their answers must fit the socket's
/// receive buffer.
const EXACT_BATCH: usize = 32;
/// No such socket; a socket on those ends with another cookie.
const ENOENT: i32 = 2;
const ESTALE: i32 = 116;

/// The exact request for a socket with this key.
fn exact(key: &SocketKey, cookie: Option<u64>) -> Exact {
    // Keys fold a dual-stack socket's IPv4-mapped addresses to IPv4; the
    // kernel files that socket under IPv6.
    let ip = |ip: std::net::IpAddr| match (key.family, ip) {
        (Family::Inet6, std::net::IpAddr::V4(v4)) => std::net::IpAddr::V6(v4.to_ipv6_mapped()),
        _ => ip,
    };
    Exact {
        src: ip(key.local.ip()),
        sport: key.local.port(),
        dst: ip(key.remote.ip()),
        dport: key.remote.port(),
        cookie,
    }
}

/// One SOCK_DESTROY request on a fresh netlink socket, and its answer.
pub fn destroy(key: &SocketKey, cookie: Option<u64>) -> Result<(), DestroyError> {
    let fail = |doing: &str, e: io::Error| DestroyError::Other(os_error(doing, &e).to_string());
    let mut io = kernel_socket().map_err(|e| fail("cannot open a sock_diag netlink socket", e))?;
    io.send(&netlink::destroy_request(&exact(key, cookie), 1))
        .map_err(|e| fail("cannot send the request", e))?;
    let mut buf = vec![0u8; 8192];
    let n = io
        .recv(&mut buf)
        .map_err(|e| fail("cannot receive the answer", e))?;
    let mut answer = None;
    netlink::parse_answers(&buf[..n.min(buf.len())], |seq, a| {
        if seq == 1 {
            answer = Some(a.err().unwrap_or(0));
        }
    })
    .map_err(|e| DestroyError::Other(e.to_string()))?;
    match answer {
        Some(0) => Ok(()),
        Some(errno) => Err(DestroyError::from_errno(errno)),
        None => Err(DestroyError::Other("the kernel did not answer".to_string())),
    }
}

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
    /// Cleared if the kernel refuses the request for both families.
    one_pass: bool,
    procs: Option<ProcNames>,
    users: UserNames,
    capacity: usize,
    /// The last reading that needed a retry, and why.
    recovered: Option<(Instant, String)>,
    activity: Activity,
    /// Owners walked for only the rows looked up (those on screen).
    owners_on_demand: bool,
    /// The tcp_info a reading asks for (the scope's totals): look-ups
    /// between readings ask for the same, so a short connection's last
    /// totals are those of its last transition.
    ext: u8,
}

/// Why one attempt at a reading failed.
enum Failure {
    Netlink(NetlinkError),
    Os(&'static str, io::Error),
    /// No fresh socket could be opened: retrying will not help.
    Reopen(io::Error),
}

/// One datagram of a reply into `buf`, whole: its length.
fn receive(io: &mut Box<dyn NetlinkIo>, buf: &mut [u8]) -> Result<usize, Failure> {
    loop {
        match io.recv(buf) {
            Ok(n) if n > buf.len() => {
                let have = buf.len();
                return Err(Failure::Netlink(NetlinkError::Truncated { need: n, have }));
            }
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::Os("cannot receive the sock_diag reply", e)),
        }
    }
}

impl Failure {
    fn text(&self) -> String {
        match self {
            Failure::Netlink(e) => e.to_string(),
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
            one_pass: true,
            procs,
            users: UserNames::default(),
            capacity: 1024,
            recovered: None,
            activity: Activity::new(),
            owners_on_demand: false,
            ext: 0,
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

    /// One complete dump, each socket handed to `each`; `request` builds
    /// the request for a sequence number.
    fn dump_with(
        &mut self,
        request: impl FnOnce(u32) -> Vec<u8>,
        each: &mut dyn FnMut(&DiagMsg<'_>),
    ) -> Result<(), Failure> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let request = request(seq);
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
            let n = receive(io, buf)?;
            match netlink::parse(&buf[..n], seq, |m| each(&m)) {
                Ok(Progress::Done) => return Ok(()),
                Ok(Progress::More) => {}
                Err(e) => return Err(Failure::Netlink(e)),
            }
        }
    }

    /// Exact requests, `EXACT_BATCH` at a time: every socket of `wanted`
    /// answered once, by its index, with its record or the kernel's errno.
    fn exact(
        &mut self,
        wanted: &[Exact],
        ext: u8,
        each: &mut dyn FnMut(usize, Result<&DiagMsg<'_>, i32>),
    ) -> Result<(), Failure> {
        for (n, chunk) in wanted.chunks(EXACT_BATCH).enumerate() {
            let first = n * EXACT_BATCH;
            let result = self.exact_batch(chunk, ext, &mut |i, answer| each(first + i, answer));
            if result.is_err() {
                // Answers may still be on their way: never use it again.
                self.io = None;
                return result;
            }
        }
        Ok(())
    }

    fn exact_batch(
        &mut self,
        wanted: &[Exact],
        ext: u8,
        each: &mut dyn FnMut(usize, Result<&DiagMsg<'_>, i32>),
    ) -> Result<(), Failure> {
        let base = self.seq.wrapping_add(1);
        // Sequence numbers wrap: a batch is counted modulo 2^32.
        self.seq = self
            .seq
            .wrapping_add(u32::try_from(wanted.len()).unwrap_or(u32::MAX));
        let mut request = Vec::with_capacity(wanted.len() * 72);
        for (i, e) in wanted.iter().enumerate() {
            let n = u32::try_from(i).unwrap_or(u32::MAX);
            request.extend(netlink::exact_request(e, ext, base.wrapping_add(n)));
        }
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.collect_answers(&request, base, wanted.len(), &mut buf, each);
        self.buf = buf;
        result
    }

    fn collect_answers(
        &mut self,
        request: &[u8],
        base: u32,
        count: usize,
        buf: &mut [u8],
        each: &mut dyn FnMut(usize, Result<&DiagMsg<'_>, i32>),
    ) -> Result<(), Failure> {
        let io = self.socket()?;
        io.send(request)
            .map_err(|e| Failure::Os("cannot send a sock_diag request", e))?;
        let mut answered = vec![false; count];
        let mut left = count;
        while left > 0 {
            let n = receive(io, buf)?;
            let mut take = |seq: u32, answer: Result<DiagMsg<'_>, i32>| {
                let i = seq.wrapping_sub(base) as usize;
                // Anything else is a left-over of an earlier request.
                if i < count && !answered[i] {
                    answered[i] = true;
                    left -= 1;
                    each(i, answer.as_ref().map_err(|e| *e));
                }
            };
            netlink::parse_answers(&buf[..n], &mut take).map_err(Failure::Netlink)?;
        }
        Ok(())
    }

    /// Both families, on the current socket: in one pass where the kernel
    /// takes the request for both, else one family after the other.
    fn read_once(
        &mut self,
        program: &[u8],
        (states, ext): (u32, u8),
        taken_at: Instant,
    ) -> Result<Vec<SocketRow>, Failure> {
        let mut rows = Vec::with_capacity(self.capacity);
        if self.one_pass {
            let mut push = |m: &DiagMsg<'_>| rows.extend(to_row(m, taken_at));
            match self.dump_with(
                |seq| netlink::both_families_request(ext, states, program, seq),
                &mut push,
            ) {
                Ok(()) => return Ok(rows),
                // Refused, not failed: this kernel wants a family.
                Err(Failure::Netlink(NetlinkError::Kernel(_))) => {
                    self.one_pass = false;
                    rows.clear();
                }
                Err(f) => return Err(f),
            }
        }
        let mut push = |m: &DiagMsg<'_>| rows.extend(to_row(m, taken_at));
        for family in [AF_INET, AF_INET6] {
            self.dump_with(
                |seq| netlink::dump_request(family, ext, states, program, seq),
                &mut push,
            )?;
        }
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
            self.ext = if scope.totals { netlink::EXT_INFO } else { 0 };
            let states = kernel_states(scope.states);
            match self.read_once(&program, (states, self.ext), taken_at) {
                Ok(rows) => {
                    if let Some(first) = failures.first() {
                        self.recovered = Some((Instant::now(), Failure::text(first)));
                    }
                    return Ok(rows);
                }
                Err(Failure::Netlink(NetlinkError::Kernel(EINVAL))) if !program.is_empty() => {
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

    fn may_have_changed(&mut self) -> bool {
        // Owners come from a walk that ends after its reading: the next
        // reading applies them, even with nothing else moving.
        let owed =
            !self.owners_on_demand && self.procs.as_ref().is_some_and(ProcNames::owes_owners);
        self.activity.moved() | owed
    }

    fn dump(&mut self, scope: &Scope) -> Result<Dump, SourceError> {
        let started = Instant::now();
        let wall = SystemTime::now();
        let mut rows = self.read_rows(scope, started)?;
        let finished = Instant::now();
        let total = rows.len();
        if !self.kernel_filter {
            rows.retain(|r| scope.admits(r));
        }
        self.capacity = self.capacity.max(rows.len() + rows.len() / 8);
        separate_shared_tuples(&mut rows);
        match &mut self.procs {
            Some(procs) if self.owners_on_demand => procs.fill_cached(&mut rows),
            Some(procs) => procs.fill(&mut rows),
            None => {}
        }
        self.users.fill(&mut rows);
        let warning =
            (total == 0 && *scope == Scope::default()).then(|| EMPTY_TABLE_WARNING.to_string());
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

    /// tcp_info and the congestion algorithm for one connection, asked
    /// for exactly: the kernel looks it up by its ends, no table walk.
    fn details(&mut self, key: &SocketKey) -> Result<Option<TcpDetails>, SourceError> {
        let wanted = [exact(key, None)];
        let mut found = None;
        let mut pick = |_: usize, answer: Result<&DiagMsg<'_>, i32>| {
            let Ok(m) = answer else { return };
            let cong = m.attr(netlink::INET_DIAG_CONG).map(|c| {
                String::from_utf8_lossy(c)
                    .trim_end_matches('\0')
                    .to_string()
            });
            found = m
                .attr(netlink::INET_DIAG_INFO)
                .and_then(|i| tcp_info::parse(i, cong));
        };
        self.exact(&wanted, netlink::EXT_INFO | netlink::EXT_CONG, &mut pick)
            .map_err(|f| SourceError::Unavailable(f.text()))?;
        Ok(found)
    }

    /// The sockets asked for, each read exactly: `None` where the kernel
    /// has no such socket (closed, or another one now on its ends).
    fn look_up(&mut self, wanted: &[Wanted]) -> Result<Vec<Option<SocketRow>>, SourceError> {
        let exacts: Vec<Exact> = wanted.iter().map(|w| exact(&w.key, w.cookie)).collect();
        let taken_at = Instant::now();
        let mut rows: Vec<Option<SocketRow>> = vec![None; wanted.len()];
        let mut failed = None;
        let mut put = |i: usize, answer: Result<&DiagMsg<'_>, i32>| match answer {
            Ok(m) => {
                rows[i] = to_row(m, taken_at).map(|mut r| {
                    r.key.instance = wanted[i].key.instance;
                    r
                })
            }
            Err(ENOENT | ESTALE) => {}
            Err(errno) => failed = Some(NetlinkError::Kernel(errno)),
        };
        self.exact(&exacts, self.ext, &mut put)
            .map_err(|f| SourceError::Unavailable(f.text()))?;
        if let Some(e) = failed {
            return Err(SourceError::Unavailable(e.to_string()));
        }
        // Owners and users for the ones found, then back in the order asked.
        let at: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].is_some()).collect();
        let mut found: Vec<SocketRow> = rows.iter_mut().filter_map(Option::take).collect();
        for (row, i) in found.iter_mut().zip(&at) {
            if row.inode.is_some() {
                row.owner.clone_from(&wanted[*i].owner);
            }
        }
        match &mut self.procs {
            Some(procs) if self.owners_on_demand => procs.fill_shown(&mut found),
            Some(procs) => procs.fill(&mut found),
            None => {}
        }
        self.users.fill(&mut found);
        for (i, row) in at.into_iter().zip(found) {
            rows[i] = Some(row);
        }
        Ok(rows)
    }

    fn has_details(&self) -> bool {
        true
    }

    fn can_look_up(&self) -> bool {
        true
    }

    fn owners_on_demand(&mut self, on: bool) {
        self.owners_on_demand = on;
    }
}
