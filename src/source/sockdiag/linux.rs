//! The netlink socket half of the sockdiag source.

use super::wire::{self, AF_INET, AF_INET6, DiagMsg, Progress, WireError};
use super::{bytecode, tcp_info, to_row};
use crate::socket::{Family, SocketKey, SocketRow, TcpDetails};
use crate::source::procs::ProcNames;
use crate::source::users::UserNames;
use crate::source::{
    Cadence, Degradation, EMPTY_TABLE_WARNING, Scope, Snapshot, SocketSource, SourceError,
    separate_shared_tuples,
};
use netlink_sys::{Socket, protocols::NETLINK_SOCK_DIAG};
use std::time::{Instant, SystemTime};

/// The kernel sends dump batches of at most 32 KiB; twice that is plenty.
const RECV_BUFFER: usize = 64 * 1024;
/// recv() flag: report a datagram's real length even if it was cut.
const MSG_TRUNC: i32 = 0x20;
/// A dump interrupted by table changes is retried this many times.
const RETRIES: usize = 3;
/// EINVAL: an old kernel that does not know the port ops.
const EINVAL: i32 = 22;

pub struct SockDiagSource {
    socket: Socket,
    buf: Vec<u8>,
    seq: u32,
    /// Cleared if the kernel rejects bytecode; then ports filter here.
    kernel_filter: bool,
    procs: Option<ProcNames>,
    users: UserNames,
    capacity: usize,
}

impl SockDiagSource {
    pub fn new(cadence: Cadence) -> Result<Self, SourceError> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG).map_err(|e| {
            SourceError(format!(
                "cannot open a sock_diag netlink socket: {e}; try --source netstat2"
            ))
        })?;
        socket
            .bind_auto()
            .map_err(|e| SourceError(format!("cannot bind the sock_diag netlink socket: {e}")))?;
        let procs = match cadence {
            Cadence::Live => Some(ProcNames::start()),
            Cadence::Once => None,
            Cadence::OnceWithOwners => Some(ProcNames::inline()),
        };
        Ok(SockDiagSource {
            socket,
            buf: vec![0; RECV_BUFFER],
            seq: 0,
            kernel_filter: true,
            procs,
            users: UserNames::default(),
            capacity: 1024,
        })
    }

    /// One complete dump for one family, each socket handed to `each`.
    fn dump(
        &mut self,
        family: u8,
        ext: u8,
        program: &[u8],
        each: &mut dyn FnMut(&DiagMsg<'_>),
    ) -> Result<(), WireError> {
        self.seq = self.seq.wrapping_add(1);
        let request = wire::dump_request(family, ext, program, self.seq);
        self.socket
            .send(&request, 0)
            .map_err(|e| WireError::Kernel(e.raw_os_error().unwrap_or(0)))?;
        loop {
            let n = self
                .socket
                .recv(&mut &mut self.buf[..], MSG_TRUNC)
                .map_err(|e| WireError::Kernel(e.raw_os_error().unwrap_or(0)))?;
            if n > self.buf.len() {
                return Err(WireError::Truncated {
                    need: n,
                    have: self.buf.len(),
                });
            }
            if wire::parse(&self.buf[..n], |m| each(&m))? == Progress::Done {
                return Ok(());
            }
        }
    }

    /// Both families; an interrupted dump starts over.
    fn read_rows(
        &mut self,
        scope: &Scope,
        taken_at: Instant,
    ) -> Result<Vec<SocketRow>, SourceError> {
        let program = match scope.port {
            Some(p) if self.kernel_filter => bytecode::either_port(p),
            _ => Vec::new(),
        };
        let mut attempt = 0;
        loop {
            let mut rows = Vec::with_capacity(self.capacity);
            let mut push = |m: &DiagMsg<'_>| rows.extend(to_row(m, taken_at));
            let result = self
                .dump(AF_INET, 0, &program, &mut push)
                .and_then(|()| self.dump(AF_INET6, 0, &program, &mut push));
            match result {
                Ok(()) => return Ok(rows),
                Err(WireError::Interrupted) if attempt < RETRIES => attempt += 1,
                Err(WireError::Kernel(EINVAL)) if !program.is_empty() => {
                    // Old kernel: filter in user space from now on.
                    self.kernel_filter = false;
                    return self.read_rows(scope, taken_at);
                }
                Err(e) => return Err(SourceError(e.to_string())),
            }
        }
    }
}

impl SocketSource for SockDiagSource {
    fn name(&self) -> &'static str {
        "sockdiag"
    }

    fn snapshot(&mut self, scope: &Scope) -> Result<Snapshot, SourceError> {
        let taken_at = Instant::now();
        let wall = SystemTime::now();
        let mut rows = self.read_rows(scope, taken_at)?;
        let total = rows.len();
        if !self.kernel_filter {
            rows.retain(|r| scope.admits(r));
        }
        self.capacity = self.capacity.max(rows.len() + rows.len() / 8);
        separate_shared_tuples(&mut rows);
        if let Some(procs) = &mut self.procs {
            procs.fill(&mut rows);
        }
        self.users.fill(&mut rows);
        let warning = (total == 0 && scope.port.is_none()).then(|| EMPTY_TABLE_WARNING.to_string());
        Ok(Snapshot {
            rows,
            taken_at,
            wall,
            warning,
        })
    }

    fn degradations(&self) -> Vec<Degradation> {
        let mut out = ProcNames::limits_of(self.procs.as_ref());
        if !self.kernel_filter {
            out.push(Degradation {
                what: "kernel port filter",
                why: "this kernel rejects port bytecode (needs Linux 4.16+); filtering in tcpscope instead".into(),
            });
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
        self.dump(family, wire::EXT_INFO | wire::EXT_CONG, &program, &mut pick)
            .map_err(|e| SourceError(e.to_string()))?;
        Ok(found)
    }

    fn has_details(&self) -> bool {
        true
    }
}
