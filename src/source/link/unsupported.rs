//! Elsewhere than Linux there are no network namespaces to make.

use super::schedule::Link;
use super::{LinkError, Passage, Started};
use std::io;

/// No namespace can exist here.
pub enum Handle {}

pub(super) fn start(
    _link: Link,
    _tx: tokio::sync::mpsc::Sender<Passage>,
) -> Result<Started, LinkError> {
    Err(LinkError::Unsupported)
}

pub(super) fn run<T: Send>(handle: &Handle, _f: impl FnOnce() -> T + Send) -> io::Result<T> {
    match *handle {}
}

pub(super) fn inode(handle: &Handle) -> io::Result<u64> {
    match *handle {}
}
