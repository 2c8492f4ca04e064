//! Which process made a change, from the thread the kernel's change
//! record names: the thread's process (its thread group) and that
//! process's name, read from `/proc` once per thread and kept a while,
//! so a busy client that connects a thousand times a second costs two
//! small reads, not a walk over every process's descriptors.

use crate::socket::{Owner, Process};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a thread's answer is kept: thread ids are reused once a
/// thread is gone, so an old answer may name another process.
const KEPT: Duration = Duration::from_secs(10);
/// Threads remembered before the memory is cleared.
const MAX_THREADS: usize = 4096;

#[derive(Default)]
pub struct Callers {
    known: rustc_hash::FxHashMap<u32, (Instant, Option<Arc<Owner>>)>,
}

impl Callers {
    /// The process thread `tid` belongs to, as an owner; `None` if it has
    /// exited or cannot be read.
    pub fn of(&mut self, tid: u32, now: Instant) -> Option<Arc<Owner>> {
        if let Some((at, owner)) = self.known.get(&tid)
            && now.saturating_duration_since(*at) < KEPT
        {
            return owner.clone();
        }
        if self.known.len() >= MAX_THREADS {
            self.known.clear();
        }
        let owner = process_of(tid).map(Arc::new);
        self.known.insert(tid, (now, owner.clone()));
        owner
    }
}

impl Callers {
    /// Asks about `tid` now, while it may still run: a process as short
    /// as `ss -K` is gone by the time its change is handed out.
    pub fn early(&mut self, tid: u32, now: Instant) {
        let _ = self.of(tid, now);
    }

    /// A thread starts in its creator's process: known now, while the
    /// creator runs, in case it is gone before it is asked about.
    pub fn started(&mut self, tid: u32, creator: u32, now: Instant) {
        let owner = self.of(creator, now);
        if owner.is_some() {
            self.known.insert(tid, (now, owner));
        }
    }

    /// A thread exits: if nothing is known of it yet, its exit record's
    /// name stands for it (its thread id as the process id: for a
    /// process's last thread, usually the same).
    pub fn exited(&mut self, tid: u32, comm: &str, now: Instant) {
        let known = self.known.get(&tid).is_some_and(|(_, o)| o.is_some());
        if known || comm.is_empty() {
            return;
        }
        let owner = Owner {
            procs: vec![Process {
                pid: tid,
                name: Some(comm.into()),
            }],
        };
        self.known.insert(tid, (now, Some(Arc::new(owner))));
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn process_of(tid: u32) -> Option<Owner> {
    // /proc/TID works for any thread, though only processes are listed.
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let pid: u32 = field("Tgid:")?.parse().ok()?;
    Some(Owner {
        procs: vec![Process {
            pid,
            name: super::procs::process_name(pid),
        }],
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn process_of(_tid: u32) -> Option<Owner> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_is_named_by_its_process() {
        let mut callers = Callers::default();
        let me = std::process::id();
        let owner = callers.of(me, Instant::now());
        if cfg!(target_os = "linux") {
            let owner = owner.expect("this process");
            assert_eq!(owner.pids().collect::<Vec<_>>(), [me]);
            assert!(owner.name().is_some());
        }
        // An id no thread has.
        assert_eq!(callers.of(u32::MAX - 1, Instant::now()), None);
    }

    #[test]
    fn a_thread_gone_before_it_was_asked_about_is_its_creators() {
        let mut callers = Callers::default();
        let me = std::process::id();
        let gone = u32::MAX - 2;
        callers.started(gone, me, Instant::now());
        callers.exited(gone, "worker", Instant::now());
        let owner = callers.of(gone, Instant::now());
        if cfg!(target_os = "linux") {
            let pids: Vec<u32> = owner.expect("known").pids().collect();
            assert_eq!(pids, [me], "its process, not its thread id");
        }
    }
}
