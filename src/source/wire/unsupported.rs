//! Elsewhere than Linux there are no network namespaces to make.

use super::schedule::Link;
use super::{Passage, Started, WireError};
use std::io;

/// No namespace can exist here.
pub enum Handle {}

pub(super) fn start(
    _link: Link,
    _tx: tokio::sync::mpsc::Sender<Passage>,
) -> Result<Started, WireError> {
    Err(WireError::Unsupported)
}

pub(super) fn run<T: Send>(handle: &Handle, _f: impl FnOnce() -> T + Send) -> io::Result<T> {
    match *handle {}
}

pub(super) fn inode(handle: &Handle) -> io::Result<u64> {
    match *handle {}
}
