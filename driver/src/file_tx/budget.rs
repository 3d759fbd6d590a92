//! How much of the file may be pinned at once. The mapper takes a permit
//! before it pins a window and the window gives it back once it is unmapped,
//! so "at most N windows pinned" holds at every instant, not only when the
//! sender happens to look. Pinned page cache cannot be reclaimed: in a small
//! machine the difference between two and three 32 MiB windows is the
//! difference between a send and the OOM killer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Permits for pinned windows, shared by the mapper thread and the windows.
#[derive(Debug)]
pub(crate) struct PinBudget {
    state: Mutex<BudgetState>,
    freed: Condvar,
}

#[derive(Debug)]
struct BudgetState {
    free: usize,
    closed: bool,
}

impl PinBudget {
    /// A budget of `windows` windows (at least one, or nothing could be sent).
    pub(crate) fn new(windows: usize) -> Arc<PinBudget> {
        Arc::new(PinBudget {
            state: Mutex::new(BudgetState { free: windows.max(1), closed: false }),
            freed: Condvar::new(),
        })
    }

    /// Wait for a free permit; `None` once the budget is closed (the send is over).
    pub(crate) fn acquire(self: &Arc<Self>) -> Option<PinPermit> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if state.free > 0 {
                state.free -= 1;
                return Some(PinPermit(Arc::clone(self)));
            }
            state = self.freed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// No more permits: a waiting [`acquire`](Self::acquire) returns `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.freed.notify_all();
    }

    /// The state stays consistent whatever panicked while holding the lock
    /// (each update is a single assignment), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, BudgetState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Closes the budget when dropped, however the send ends (a panic included),
/// so that a mapper waiting for a permit always wakes up and the thread scope
/// can join it.
pub(crate) struct CloseOnDrop<'a>(pub(crate) &'a PinBudget);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The right to keep one window pinned; given back when dropped.
#[derive(Debug)]
pub(crate) struct PinPermit(Arc<PinBudget>);

impl Drop for PinPermit {
    fn drop(&mut self) {
        self.0.lock().free += 1;
        self.0.freed.notify_one();
    }
}

/// File bytes pinned now and the most ever pinned at once.
#[derive(Debug, Default)]
pub(crate) struct PinnedBytes {
    now: AtomicU64,
    peak: AtomicU64,
}

impl PinnedBytes {
    /// `bytes` more are pinned.
    pub(crate) fn add(&self, bytes: u64) {
        let now = self.now.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// `bytes` are no longer pinned.
    pub(crate) fn sub(&self, bytes: u64) {
        self.now.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// The most pinned at any one time so far.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_third_permit_waits_until_one_is_given_back() {
        let budget = PinBudget::new(2);
        let first = budget.acquire().expect("permit 1");
        let _second = budget.acquire().expect("permit 2");
        let (got, waited) = channel();
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || {
                let permit = budget.acquire();
                got.send(permit.is_some()).unwrap();
                permit
            })
        };
        assert!(waited.recv_timeout(Duration::from_millis(200)).is_err(), "a third permit was handed out");
        drop(first);
        assert_eq!(waited.recv_timeout(Duration::from_secs(10)), Ok(true));
        assert!(waiter.join().unwrap().is_some());
    }

    #[test]
    fn closing_wakes_a_waiter_with_nothing() {
        let budget = PinBudget::new(1);
        let _only = budget.acquire().expect("permit");
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.acquire().is_none())
        };
        std::thread::sleep(Duration::from_millis(50));
        drop(CloseOnDrop(&budget));
        assert!(waiter.join().unwrap(), "the waiter got a permit from a closed budget");
        assert!(budget.acquire().is_none());
    }

    #[test]
    fn the_peak_is_the_most_pinned_at_one_instant() {
        let pinned = PinnedBytes::default();
        pinned.add(10);
        pinned.add(5);
        pinned.sub(10);
        pinned.add(7);
        assert_eq!(pinned.peak(), 15);
        pinned.add(20);
        assert_eq!(pinned.peak(), 32);
    }
}
