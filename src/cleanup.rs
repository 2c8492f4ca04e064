//! What the program has created in the system (a tracing instance, a
//! mount) and must remove however it ends. Whoever creates something
//! registers its removal here; the normal path removes it on drop, and the
//! panic hook and the fatal-signal path call [`run_all`]. A plain registry
//! below every layer, so the terminal code never reaches into a source.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

type Action = Box<dyn Fn() + Send>;

static ACTIONS: Mutex<Vec<(u64, Action)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Keeps an action registered; dropping it unregisters without running.
#[must_use]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut actions) = ACTIONS.lock() {
            actions.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Registers `action` to run if the process ends without dropping the
/// returned registration.
pub fn register(action: impl Fn() + Send + 'static) -> Registration {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut actions) = ACTIONS.lock() {
        actions.push((id, Box::new(action)));
    }
    Registration(id)
}

/// Runs every registered action, newest first. For paths where no
/// destructor will run (panic, a fatal signal).
pub fn run_all() {
    // try_lock: a panic while the registry is held must not deadlock.
    let Ok(actions) = ACTIONS.try_lock() else {
        return;
    };
    for (_, action) in actions.iter().rev() {
        action();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn registered_actions_run_until_their_registration_drops() {
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        let reg = register(move || {
            c.fetch_add(1, Ordering::Relaxed);
        });
        run_all();
        assert_eq!(count.load(Ordering::Relaxed), 1);
        drop(reg);
        run_all();
        assert_eq!(count.load(Ordering::Relaxed), 1);
    }
}
