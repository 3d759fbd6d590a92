//! The VFIO container: one IOMMU address space, into which zcnic maps its DMA
//! memory at IOVAs of its own choosing.

use std::fs::OpenOptions;
use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vfio_bindings::bindings::vfio::{
    vfio_iommu_type1_dma_map, VFIO_TYPE1v2_IOMMU, VFIO_API_VERSION, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE,
};

use super::iova::IovaAllocator;
use crate::error::Error;
use crate::sys::vfio as ioctl;

const CONTAINER_PATH: &str = "/dev/vfio/vfio";

/// What the device may do with a DMA mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DmaAccess {
    /// The device may only read (packet buffers it transmits, file pages).
    DeviceReads,
    /// The device may read and write (descriptor rings, receive buffers).
    DeviceReadsWrites,
}

/// An open VFIO container with the Type1v2 IOMMU set and one group attached.
#[derive(Debug)]
pub(crate) struct Container {
    fd: OwnedFd,
    iova: Mutex<IovaAllocator>,
}

pub(crate) fn open_vfio_file(path: &Path) -> Result<OwnedFd, Error> {
    OpenOptions::new().read(true).write(true).open(path).map(OwnedFd::from).map_err(|e| match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied { path: path.to_path_buf() },
        Some(libc::EBUSY) => Error::GroupBusy { path: path.to_path_buf() },
        Some(libc::ENOENT) | Some(libc::ENODEV) if path == Path::new(CONTAINER_PATH) => {
            Error::VfioNotLoaded { addr: None }
        }
        _ => Error::Sysfs { what: "open a VFIO file", path: path.to_path_buf(), source: e },
    })
}

impl Container {
    /// Open `/dev/vfio/vfio` and check it speaks the API zcnic needs.
    pub(crate) fn open_fd() -> Result<OwnedFd, Error> {
        let fd = open_vfio_file(Path::new(CONTAINER_PATH))?;
        let version = ioctl::get_api_version(fd.as_fd()).map_err(Error::os("VFIO_GET_API_VERSION"))?;
        if version != VFIO_API_VERSION as i32 {
            return Err(Error::VfioUnsupported(format!("API version {version}, zcnic speaks {VFIO_API_VERSION}")));
        }
        if !ioctl::check_extension(fd.as_fd(), VFIO_TYPE1v2_IOMMU).map_err(Error::os("VFIO_CHECK_EXTENSION"))? {
            return Err(Error::VfioUnsupported(
                "no Type1v2 IOMMU support (is vfio_iommu_type1 loaded? `modprobe vfio_iommu_type1`)".into(),
            ));
        }
        Ok(fd)
    }

    /// Finish setting up a container once its first group is attached:
    /// select Type1v2 and learn the valid IOVA ranges.
    pub(crate) fn with_group_attached(fd: OwnedFd) -> Result<Container, Error> {
        ioctl::set_iommu(fd.as_fd(), VFIO_TYPE1v2_IOMMU).map_err(|e| match e.raw_os_error() {
            Some(libc::EPERM) => Error::VfioUnsupported(
                "VFIO_SET_IOMMU was refused (EPERM): the IOMMU has no interrupt remapping; \
                 enable it (intremap) or load vfio_iommu_type1 with allow_unsafe_interrupts=1"
                    .into(),
            ),
            _ => Error::Os { what: "VFIO_SET_IOMMU", source: e },
        })?;
        let ranges = Self::iova_ranges(fd.as_fd())?;
        log::debug!("valid IOVA ranges: {ranges:x?}");
        Ok(Container { fd, iova: Mutex::new(IovaAllocator::new(&ranges)) })
    }

    fn iova_ranges(fd: BorrowedFd<'_>) -> Result<Vec<Range<u64>>, Error> {
        let ranges = ioctl::iommu_iova_ranges(fd).map_err(Error::os("VFIO_IOMMU_GET_INFO"))?;
        Ok(ranges.unwrap_or_else(|| {
            // Old kernels report no ranges: below the x86 MSI window is valid on every IOMMU.
            log::warn!("the kernel reported no valid IOVA ranges; using 0..0xfee00000");
            vec![0..0xfee0_0000]
        }))
    }

    /// Map `len` bytes of this process's memory at `vaddr` for the device and
    /// return the IOVA the device must use for it.
    ///
    /// # Safety
    /// The memory must stay mapped and reserved for DMA until
    /// [`unmap_dma`](Self::unmap_dma) is called for the returned IOVA (or the
    /// container is dropped): the device may access it at any time until then.
    /// With [`DmaAccess::DeviceReadsWrites`] the device may also change it at
    /// any time, so the caller must only ever access it through raw pointers
    /// (volatile) or hand out references it knows the device will not write.
    pub(crate) unsafe fn map_dma(
        &self,
        vaddr: *const u8,
        len: usize,
        align: u64,
        access: DmaAccess,
    ) -> Result<u64, Error> {
        let len64 = len as u64;
        let iova = self
            .iova
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .alloc(len64, align.max(crate::sys::memory::PAGE as u64))
            .ok_or(Error::IovaExhausted { len: len64 })?;
        let flags = match access {
            DmaAccess::DeviceReads => VFIO_DMA_MAP_FLAG_READ,
            DmaAccess::DeviceReadsWrites => VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        };
        let map = vfio_iommu_type1_dma_map { argsz: 0, flags, vaddr: vaddr as u64, iova, size: len64 };
        let started = Instant::now();
        // SAFETY: the caller promised the memory stays valid until unmapped.
        let mapped = unsafe { ioctl::iommu_map_dma(self.fd.as_fd(), &map) };
        note_time_in_kernel(started);
        if let Err(e) = mapped {
            self.iova.lock().unwrap_or_else(|p| p.into_inner()).free(iova, len64);
            return Err(match e.raw_os_error() {
                Some(libc::ENOMEM) => Error::MemlockTooLow { limit: crate::sys::host::memlock_limit(), needed: len64 },
                Some(libc::ENOSPC) => Error::VfioUnsupported(
                    "the container has no DMA mapping slots left (vfio_iommu_type1 dma_entry_limit)".into(),
                ),
                _ => Error::Os { what: "VFIO_IOMMU_MAP_DMA", source: e },
            });
        }
        note_mapped(len64);
        note_locked_memory();
        log::debug!("DMA map {len:#x} bytes at {vaddr:p} -> IOVA {iova:#x} ({access:?})");
        Ok(iova)
    }

    /// Remove a mapping made by [`map_dma`](Self::map_dma). After this returns
    /// the device can no longer reach that memory.
    pub(crate) fn unmap_dma(&self, iova: u64, len: usize) -> Result<(), Error> {
        let len64 = len as u64;
        let started = Instant::now();
        let unmapped = ioctl::iommu_unmap_dma(self.fd.as_fd(), iova, len64);
        note_time_in_kernel(started);
        let unmapped = unmapped.map_err(Error::os("VFIO_IOMMU_UNMAP_DMA"))?;
        if unmapped != len64 {
            return Err(Error::Os {
                what: "VFIO_IOMMU_UNMAP_DMA",
                source: io::Error::other(format!("unmapped {unmapped:#x} of {len64:#x} bytes at {iova:#x}")),
            });
        }
        self.iova.lock().unwrap_or_else(|p| p.into_inner()).free(iova, len64);
        note_unmapped(len64);
        Ok(())
    }
}

static LIVE_MAPPINGS: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds spent inside VFIO_IOMMU_MAP_DMA and VFIO_IOMMU_UNMAP_DMA:
/// pinning pages, writing IOMMU page tables, flushing the IOTLB, unpinning.
static MAPPING_NANOS: AtomicU64 = AtomicU64::new(0);

fn note_time_in_kernel(started: Instant) {
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    MAPPING_NANOS.fetch_add(nanos, Ordering::Relaxed);
}

fn note_mapped(bytes: u64) {
    LIVE_MAPPINGS.fetch_add(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed);
}

fn note_unmapped(bytes: u64) {
    LIVE_MAPPINGS.fetch_sub(1, Ordering::Relaxed);
    LIVE_BYTES.fetch_sub(bytes, Ordering::Relaxed);
}

/// The most locked memory the kernel has charged this process (VmLck of
/// /proc/self/status, where VFIO type1 accounts every page it pins), read
/// after each DMA map: pinned memory only grows at a map, so the peak is seen.
static LOCKED_PEAK: AtomicU64 = AtomicU64::new(0);

fn note_locked_memory() {
    if let Some(status) = crate::sys::host::MemoryStatus::now() {
        LOCKED_PEAK.fetch_max(status.locked, Ordering::Relaxed);
    }
}

/// The peak of this process's locked memory (bytes) as the kernel accounted
/// it, sampled after every DMA map: rings, buffers and file windows, all that
/// the IOMMU could reach at once. A measurement, not the driver's own count;
/// 0 before the first map or where /proc/self/status cannot be read.
pub fn locked_memory_peak() -> u64 {
    LOCKED_PEAK.load(Ordering::Relaxed)
}

/// IOMMU mappings this process holds now, and their total size in bytes:
/// what repeated open/send/close cycles must bring back to where they started.
pub fn live_dma_mappings() -> (u64, u64) {
    (LIVE_MAPPINGS.load(Ordering::Relaxed), LIVE_BYTES.load(Ordering::Relaxed))
}

/// Wall time this process has spent inside the kernel's IOMMU map and unmap
/// calls (measured by the monotonic clock around each call): the cost of
/// pinning and mapping memory for the device, which for a file server is the
/// cost of every file window.
pub fn time_mapping_dma() -> Duration {
    Duration::from_nanos(MAPPING_NANOS.load(Ordering::Relaxed))
}
