//! A count of the system calls the driver makes, so that "zero syscalls per
//! packet" is measured rather than claimed. Every syscall site in the data
//! path and in DMA memory management notes itself here (thread creation for
//! the file mapper is not counted: one per send, not per packet).

use std::sync::atomic::{AtomicU64, Ordering};

static COUNT: AtomicU64 = AtomicU64::new(0);

/// Note `n` system calls made.
pub(crate) fn note(n: u64) {
    COUNT.fetch_add(n, Ordering::Relaxed);
}

/// System calls the driver has made in this process so far.
pub fn total() -> u64 {
    COUNT.load(Ordering::Relaxed)
}
