//! DMA memory: pinned, IOMMU-mapped memory the NIC can reach, and the IOVA
//! allocator that decides where it appears in the NIC's address space.

pub mod iova;
mod region;

pub use region::{DescriptorView, DmaRegion, PageKind};

use std::sync::atomic::{AtomicU64, Ordering};

static LIVE_MAPPINGS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn note_mapped(bytes: u64) {
    LIVE_MAPPINGS.fetch_add(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
}

pub(crate) fn note_unmapped(bytes: u64) {
    LIVE_MAPPINGS.fetch_sub(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_sub(bytes, Ordering::Relaxed);
}

/// IOMMU mappings this process holds now, and their total size: what
/// repeated open/send/close cycles must bring back to where it started.
pub fn live_mappings() -> (u64, u64) {
    (LIVE_MAPPINGS.load(Ordering::Relaxed), LIVE_BYTES.load(Ordering::Relaxed))
}
