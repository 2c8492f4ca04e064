//! The data model every layer shares: states, keys, rows, connections,
//! events, and the filter language. Depends on nothing else in the crate.

pub mod addr;
pub mod cause;
mod conn;
pub mod crossings;
mod event;
pub mod explain;
pub mod filter;
pub mod human;
pub mod ladder;
mod row;
pub mod segment;
mod state;
pub mod summary;

pub use cause::Cause;
pub use conn::{Conn, ConnId, Entry, MAX_PHASES, Phase};
pub use event::{Event, EventKind};
pub use filter::{Filter, FilterError};
pub use row::{
    Family, Owner, Process, SocketKey, SocketRow, SocketTimer, TcpDetails, TimerKind, Totals,
    printable,
};
pub use segment::{Flags, Segment};
pub use state::{StateCounts, StateSet, TcpState};
