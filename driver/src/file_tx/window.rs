//! A window of the file: its page cache mapped read-only, pinned and mapped
//! for the NIC with the READ permission only, then made inaccessible to the
//! CPU, so that any read or copy of the payload by this process would fault.

use std::os::fd::AsFd;
use std::sync::Arc;

use super::budget::{PinPermit, PinnedBytes};
use super::source::FileSource;
use crate::dma::{DmaMapping, DmaSpan};
use crate::error::Error;
use crate::net::udp::MAX_PAYLOAD;
use crate::sys::memory::{Mapping, PAGE};
use crate::vfio::{Container, DmaAccess};

/// Which datagrams a window holds: `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowPlan {
    /// First datagram.
    pub(crate) first: u64,
    /// Number of datagrams.
    pub(crate) count: u64,
}

impl WindowPlan {
    /// One past the last datagram.
    pub(crate) fn end(&self) -> u64 {
        self.first + self.count
    }
}

/// Split a file of `len` bytes into windows of whole datagrams of
/// `datagram` bytes, each window about `window_bytes` long.
pub(crate) fn plan_windows(len: u64, datagram: u64, window_bytes: u64) -> Vec<WindowPlan> {
    let total = len.div_ceil(datagram);
    let per_window = (window_bytes / datagram).max(1);
    (0..total.div_ceil(per_window))
        .map(|w| {
            let first = w * per_window;
            WindowPlan { first, count: per_window.min(total - first) }
        })
        .collect()
}

/// Map bytes `start..end` of `source` (widened to whole pages) read-only,
/// pin them for the NIC with the READ permission only, then take the CPU's
/// access away (PROT_NONE): failing to is an error, since the zero-copy
/// guarantee is enforced, not hoped for. Returns the first mapped file offset
/// and the mapping.
pub(crate) fn pin_file_range(
    source: &FileSource,
    container: &Arc<Container>,
    start: u64,
    end: u64,
) -> Result<(u64, DmaMapping), Error> {
    let map_start = start / PAGE as u64 * PAGE as u64;
    let map_len = usize::try_from((end - map_start).div_ceil(PAGE as u64) * PAGE as u64)
        .expect("a window fits the address space");
    let memory =
        Mapping::file_read_only(source.file().as_fd(), map_start, map_len).map_err(Error::os("mmap of the file"))?;
    // Pinning (VFIO_IOMMU_MAP_DMA) needs the pages readable, so the CPU's
    // access is taken away only once the IOMMU holds them.
    let mapping = DmaMapping::new(container, memory, PAGE as u64, DmaAccess::DeviceReads)?;
    mapping.protect_none().map_err(Error::os("mprotect(PROT_NONE) of a file window"))?;
    Ok((map_start, mapping))
}

/// A mapped, pinned window of the file. Dropping it unmaps it from the IOMMU,
/// then from the process: the sender drops a window only once the NIC has
/// completed every datagram in it, or its DMA has been stopped.
#[derive(Debug)]
pub(crate) struct FileWindow {
    plan: WindowPlan,
    mapping: DmaMapping,
    /// File offset of the first mapped byte (page-aligned).
    map_start: u64,
    /// The part of the file being sent: datagram 0 starts at `part.start`,
    /// the last ends at `part.end`.
    part: std::ops::Range<u64>,
    /// Declared after `mapping`, so fields drop in this order: the pages are
    /// unpinned before the count goes down and the permit goes back.
    _held: PinnedShare,
}

/// One window's share of the pinned bytes and of the budget, given back on drop.
#[derive(Debug)]
struct PinnedShare {
    bytes: u64,
    pinned: Arc<PinnedBytes>,
    _permit: PinPermit,
}

impl Drop for PinnedShare {
    fn drop(&mut self) {
        self.pinned.sub(self.bytes);
    }
}

impl FileWindow {
    /// Map the window's datagrams of `part` of `source` and pin them for the
    /// NIC, read-only, then take the CPU's access away. `pinned` counts the
    /// bytes pinned by all live windows; `permit` is this window's place in
    /// the budget, held until it is unmapped. Failing to take the CPU's access
    /// away is an error: the zero-copy guarantee is enforced, not hoped for.
    pub(crate) fn map(
        source: &FileSource,
        plan: WindowPlan,
        part: std::ops::Range<u64>,
        container: &Arc<Container>,
        pinned: &Arc<PinnedBytes>,
        permit: PinPermit,
    ) -> Result<FileWindow, Error> {
        let start = part.start + plan.first * MAX_PAYLOAD as u64;
        let end = (part.start + plan.end() * MAX_PAYLOAD as u64).min(part.end);
        let (map_start, mapping) = pin_file_range(source, container, start, end)?;
        let map_len = mapping.len();
        pinned.add(map_len as u64);
        let held = PinnedShare { bytes: map_len as u64, pinned: Arc::clone(pinned), _permit: permit };
        log::debug!(
            "window: datagrams {}..{}, file bytes {map_start:#x}+{map_len:#x} at IOVA {:#x}",
            plan.first,
            plan.end(),
            mapping.iova()
        );
        Ok(FileWindow { plan, mapping, map_start, part, _held: held })
    }

    /// Which datagrams it holds.
    pub(crate) fn plan(&self) -> WindowPlan {
        self.plan
    }

    /// The payload of datagram `n` (which must be in this window).
    pub(crate) fn span(&self, n: u64) -> DmaSpan {
        assert!(n >= self.plan.first && n < self.plan.end(), "datagram {n} is not in this window");
        let start = self.part.start + n * MAX_PAYLOAD as u64;
        let end = (start + MAX_PAYLOAD as u64).min(self.part.end);
        self.mapping.span((start - self.map_start) as usize, (end - start) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_datagram_once() {
        for (len, window) in
            [(0u64, 1u64 << 20), (1, 1 << 20), (1472, 1 << 20), (1473, 1 << 20), (10_000_001, 1 << 20), (5000, 1)]
        {
            let plans = plan_windows(len, 1472, window);
            let total = len.div_ceil(1472);
            let mut next = 0;
            for p in &plans {
                assert_eq!(p.first, next);
                assert!(p.count >= 1);
                next = p.end();
            }
            assert_eq!(next, total, "len {len}");
        }
        assert_eq!(plan_windows(1473, 1472, 1 << 20), vec![WindowPlan { first: 0, count: 2 }]);
        assert_eq!(plan_windows(3 * 1472, 1472, 2 * 1472).len(), 2);
    }
}
