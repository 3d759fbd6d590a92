//! A window of the file: mapped read-only, pinned and mapped for the NIC with
//! the READ permission only, then made inaccessible to the CPU.

use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::source::FileSource;
use crate::error::Error;
use crate::net::udp::MAX_PAYLOAD;
use crate::vfio::{Container, DmaAccess};

const PAGE: u64 = 4096;

/// Which datagrams a window holds: `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPlan {
    /// First datagram.
    pub first: u64,
    /// Number of datagrams.
    pub count: u64,
}

impl WindowPlan {
    /// One past the last datagram.
    pub fn end(&self) -> u64 {
        self.first + self.count
    }
}

/// Split a file of `len` bytes into windows of whole datagrams of
/// `datagram` bytes, each window about `window_bytes` long.
pub fn plan_windows(len: u64, datagram: u64, window_bytes: u64) -> Vec<WindowPlan> {
    let total = len.div_ceil(datagram);
    let per_window = (window_bytes / datagram).max(1);
    (0..total.div_ceil(per_window))
        .map(|w| {
            let first = w * per_window;
            WindowPlan { first, count: per_window.min(total - first) }
        })
        .collect()
}

/// A mapped, pinned window of the file.
#[derive(Debug)]
pub struct FileWindow {
    plan: WindowPlan,
    ptr: NonNull<u8>,
    map_len: usize,
    /// File offset of the first mapped byte (page-aligned).
    map_start: u64,
    iova: u64,
    file_len: u64,
    container: Arc<Container>,
    pinned: Arc<AtomicU64>,
}

// SAFETY: the window owns its mapping; the CPU never touches it (PROT_NONE)
// and it carries no thread-bound state, so it may move to another thread.
unsafe impl Send for FileWindow {}

impl FileWindow {
    /// Map the window's part of `source` and pin it for the NIC, read-only.
    /// `pinned` counts the bytes pinned by all live windows.
    pub fn map(
        source: &FileSource,
        plan: WindowPlan,
        container: &Arc<Container>,
        pinned: &Arc<AtomicU64>,
    ) -> Result<FileWindow, Error> {
        let file_len = source.len();
        let start = plan.first * MAX_PAYLOAD as u64;
        let end = (plan.end() * MAX_PAYLOAD as u64).min(file_len);
        let map_start = start / PAGE * PAGE;
        let map_len = (end - map_start).div_ceil(PAGE) * PAGE;
        let map_len = usize::try_from(map_len).expect("a window fits the address space");
        // SAFETY: a new shared read-only mapping of our open file at an
        // address the kernel picks: it aliases nothing; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                source.file().as_raw_fd(),
                map_start as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::Os { what: "mmap of the file", source: std::io::Error::last_os_error() });
        }
        let ptr = NonNull::new(p.cast::<u8>()).expect("mmap does not return NULL on success");
        // SAFETY: the mapping lives until Drop, which unmaps the IOVA range
        // first. READ-only: the NIC can never write the page cache.
        let iova = match unsafe { container.map_dma(ptr.as_ptr(), map_len, PAGE, DmaAccess::DeviceReads) } {
            Ok(iova) => iova,
            Err(e) => {
                // SAFETY: our own mapping, never used.
                unsafe { libc::munmap(p, map_len) };
                return Err(e);
            }
        };
        // The pages are pinned by the IOMMU mapping now. Take the CPU's access
        // away: from here on a read of the payload by this process would fault,
        // which is what "zero copy" promises.
        // SAFETY: changes only the protection of our own mapping, which no
        // Rust reference points into.
        if unsafe { libc::mprotect(p, map_len, libc::PROT_NONE) } != 0 {
            log::warn!("mprotect(PROT_NONE) on a file window failed: {}", std::io::Error::last_os_error());
        }
        crate::syscalls::note(3); // mmap, VFIO_IOMMU_MAP_DMA, mprotect
        pinned.fetch_add(map_len as u64, Ordering::Relaxed);
        log::debug!(
            "window: datagrams {}..{}, file bytes {map_start:#x}+{map_len:#x} at IOVA {iova:#x}",
            plan.first,
            plan.end()
        );
        Ok(FileWindow {
            plan,
            ptr,
            map_len,
            map_start,
            iova,
            file_len,
            container: Arc::clone(container),
            pinned: Arc::clone(pinned),
        })
    }

    /// Which datagrams it holds.
    pub fn plan(&self) -> WindowPlan {
        self.plan
    }

    /// IOVA and length of datagram `n`'s payload (which must be in this window).
    pub fn span(&self, n: u64) -> (u64, u16) {
        assert!(n >= self.plan.first && n < self.plan.end(), "datagram {n} is not in this window");
        let start = n * MAX_PAYLOAD as u64;
        let end = (start + MAX_PAYLOAD as u64).min(self.file_len);
        let offset = start - self.map_start;
        assert!(end - self.map_start <= self.map_len as u64, "datagram {n} runs past its window");
        (self.iova + offset, (end - start) as u16)
    }
}

impl Drop for FileWindow {
    fn drop(&mut self) {
        // The sender drops a window only once the NIC has completed every
        // datagram in it (or the NIC is stopped), so the NIC no longer reads it.
        if let Err(e) = self.container.unmap_dma(self.iova, self.map_len) {
            log::error!("could not unmap a file window at IOVA {:#x}: {e}; leaking it", self.iova);
            return;
        }
        crate::syscalls::note(2); // VFIO_IOMMU_UNMAP_DMA, munmap
        self.pinned.fetch_sub(self.map_len as u64, Ordering::Relaxed);
        // SAFETY: the IOMMU mapping is gone; nothing refers to this mapping.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.map_len) };
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
