//! The data model: what a socket is, its state, and how to filter them.

pub mod addr;
pub mod explain;
pub mod filter;
mod row;
mod state;

pub use filter::{Filter, FilterError};
pub use row::{Family, SocketKey, SocketRow, SocketTimer, TcpDetails, TimerKind};
pub use state::{StateCounts, TcpState};
