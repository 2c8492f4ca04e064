//! The portable backend: the netstat2 crate (netlink on Linux, sysctl on
//! macOS, iphlpapi on Windows).

use super::activity::Activity;
use super::procs::ProcNames;
use super::users::UserNames;
use super::{
    Cadence, Degradation, Dump, EMPTY_TABLE_WARNING, Limit, Scope, SocketSource, SourceError,
    os_error, separate_shared_tuples,
};
use crate::socket::{Family, Owner, Process, SocketKey, SocketRow, TcpState};
use netstat2::{
    AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, SocketInfo, TcpState as NsState,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub struct Netstat2Source {
    procs: Option<ProcNames>,
    users: UserNames,
    activity: Activity,
}

impl Netstat2Source {
    /// For repeated readings: process names are looked up in the background.
    pub fn new() -> Self {
        Self::with_cadence(Cadence::Live)
    }

    /// For a single reading: process names are looked up before returning.
    pub fn once() -> Self {
        Self::with_cadence(Cadence::OnceWithOwners)
    }

    pub fn with_cadence(cadence: Cadence) -> Self {
        let procs = match cadence {
            Cadence::Live => Some(ProcNames::start()),
            Cadence::Once => None,
            Cadence::OnceWithOwners => Some(ProcNames::inline()),
        };
        Netstat2Source {
            procs,
            users: UserNames::default(),
            activity: Activity::new(),
        }
    }
}

impl Default for Netstat2Source {
    fn default() -> Self {
        Self::new()
    }
}

impl SocketSource for Netstat2Source {
    fn name(&self) -> &'static str {
        "netstat2"
    }

    fn may_have_changed(&mut self) -> bool {
        self.activity.moved()
    }

    fn dump(&mut self, scope: &Scope) -> Result<Dump, SourceError> {
        let started = Instant::now();
        let wall = SystemTime::now();
        let infos = read_table().map_err(table_error)?;
        let finished = Instant::now();
        let total = infos.len();
        let mut rows: Vec<SocketRow> = infos
            .into_iter()
            .filter_map(to_row)
            .filter(|r| scope.admits(r))
            .collect();
        separate_shared_tuples(&mut rows);
        if let Some(procs) = &mut self.procs {
            procs.fill(&mut rows);
        }
        self.users.fill(&mut rows);
        Ok(Dump {
            rows,
            started,
            finished,
            wall,
            warning: (total == 0).then(|| EMPTY_TABLE_WARNING.to_string()),
        })
    }

    fn degradations(&self) -> Vec<Degradation> {
        let mut out = ProcNames::limits_of(self.procs.as_ref());
        out.push(Degradation::new(
            Limit::QueuesAndTimers,
            "not reported by netstat2; --source sockdiag (Linux) shows them",
        ));
        out
    }
}

/// Linux: skip netstat2's own /proc walk; [`ProcNames`] does it off the
/// hot path and only for inodes it has not seen.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_table() -> Result<Vec<SocketInfo>, netstat2::error::Error> {
    let af = AddressFamilyFlags::IPV4 | AddressFamilyFlags::IPV6;
    netstat2::iterate_sockets_info_without_pids(af, ProtocolFlags::TCP)?.collect()
}

/// Elsewhere netstat2 attaches PIDs in the same call.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn read_table() -> Result<Vec<SocketInfo>, netstat2::error::Error> {
    let af = AddressFamilyFlags::IPV4 | AddressFamilyFlags::IPV6;
    netstat2::get_sockets_info(af, ProtocolFlags::TCP)
}

fn to_row(info: SocketInfo) -> Option<SocketRow> {
    let ProtocolSocketInfo::Tcp(tcp) = &info.protocol_socket_info else {
        return None;
    };
    let family = if tcp.local_addr.is_ipv4() {
        Family::Inet
    } else {
        Family::Inet6
    };
    let key = SocketKey::new(
        family,
        SocketAddr::new(tcp.local_addr, tcp.local_port),
        SocketAddr::new(tcp.remote_addr, tcp.remote_port),
    );
    let mut row = SocketRow::new(key, map_state(tcp.state));
    if !info.associated_pids.is_empty() {
        let procs = info.associated_pids.iter();
        let procs = procs.map(|&pid| Process { pid, name: None }).collect();
        row.owner = Some(Arc::new(Owner { procs }));
    }
    fill_owner(&mut row, &info);
    Some(row)
}

/// netstat2's error as the user's message (its I/O errors carry the OS's
/// words; the rest is described as the crate does).
fn table_error(e: netstat2::error::Error) -> SourceError {
    match e {
        netstat2::error::Error::OsError(io) => os_error("cannot read the TCP socket table", &io),
        other => SourceError::Unavailable(format!("cannot read the TCP socket table: {other}")),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn fill_owner(row: &mut SocketRow, info: &SocketInfo) {
    // A TIME_WAIT socket has no owner; the kernel reports uid 0 for it.
    row.uid = (row.state != TcpState::TimeWait).then_some(info.uid);
    // TIME_WAIT and other orphaned sockets have no inode; 0 means none.
    row.inode = (info.inode != 0).then_some(u64::from(info.inode));
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn fill_owner(_row: &mut SocketRow, _info: &SocketInfo) {}

fn map_state(state: NsState) -> TcpState {
    match state {
        NsState::Listen => TcpState::Listen,
        NsState::SynSent => TcpState::SynSent,
        NsState::SynReceived => TcpState::SynRecv,
        NsState::Established => TcpState::Established,
        NsState::FinWait1 => TcpState::FinWait1,
        NsState::FinWait2 => TcpState::FinWait2,
        NsState::CloseWait => TcpState::CloseWait,
        NsState::Closing => TcpState::Closing,
        NsState::LastAck => TcpState::LastAck,
        NsState::TimeWait => TcpState::TimeWait,
        NsState::Closed | NsState::DeleteTcb | NsState::Unknown => TcpState::Closed,
    }
}
