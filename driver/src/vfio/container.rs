//! The VFIO container: one IOMMU address space, into which zcnic maps its DMA
//! memory at IOVAs of its own choosing.

use std::fs::OpenOptions;
use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;

use vfio_bindings::bindings::vfio::{
    vfio_iommu_type1_dma_map, VFIO_TYPE1v2_IOMMU, VFIO_API_VERSION, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE,
    VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
};

use super::ioctl;
use crate::dma::iova::IovaAllocator;
use crate::error::Error;

const CONTAINER_PATH: &str = "/dev/vfio/vfio";

/// What the device may do with a DMA mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaAccess {
    /// The device may only read (packet buffers it transmits, file pages).
    DeviceReads,
    /// The device may read and write (descriptor rings, receive buffers).
    DeviceReadsWrites,
}

/// An open VFIO container with the Type1v2 IOMMU set and one group attached.
#[derive(Debug)]
pub struct Container {
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
        let mut buf = vec![0u64; 3];
        ioctl::iommu_get_info(fd, &mut buf).map_err(Error::os("VFIO_IOMMU_GET_INFO"))?;
        let wanted = (buf[0] & 0xffff_ffff) as usize;
        if wanted > buf.len() * 8 {
            buf = vec![0u64; wanted.div_ceil(8)];
            ioctl::iommu_get_info(fd, &mut buf).map_err(Error::os("VFIO_IOMMU_GET_INFO"))?;
        }
        let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_le_bytes()).collect();
        Ok(parse_iova_ranges(&bytes).unwrap_or_else(|| {
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
    pub unsafe fn map_dma(&self, vaddr: *const u8, len: usize, align: u64, access: DmaAccess) -> Result<u64, Error> {
        let len64 = len as u64;
        let iova = self
            .iova
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .alloc(len64, align.max(4096))
            .ok_or(Error::IovaExhausted { len: len64 })?;
        let flags = match access {
            DmaAccess::DeviceReads => VFIO_DMA_MAP_FLAG_READ,
            DmaAccess::DeviceReadsWrites => VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        };
        let map = vfio_iommu_type1_dma_map { argsz: 0, flags, vaddr: vaddr as u64, iova, size: len64 };
        // SAFETY: the caller promised the memory stays valid until unmapped.
        if let Err(e) = unsafe { ioctl::iommu_map_dma(self.fd.as_fd(), &map) } {
            self.iova.lock().unwrap_or_else(|p| p.into_inner()).free(iova, len64);
            return Err(match e.raw_os_error() {
                Some(libc::ENOMEM) => Error::MemlockTooLow { limit: memlock_limit(), needed: len64 },
                Some(libc::ENOSPC) => Error::VfioUnsupported(
                    "the container has no DMA mapping slots left (vfio_iommu_type1 dma_entry_limit)".into(),
                ),
                _ => Error::Os { what: "VFIO_IOMMU_MAP_DMA", source: e },
            });
        }
        crate::dma::note_mapped(len64);
        log::debug!("DMA map {len:#x} bytes at {vaddr:p} -> IOVA {iova:#x} ({access:?})");
        Ok(iova)
    }

    /// Remove a mapping made by [`map_dma`](Self::map_dma). After this returns
    /// the device can no longer reach that memory.
    pub fn unmap_dma(&self, iova: u64, len: usize) -> Result<(), Error> {
        let len64 = len as u64;
        let unmapped =
            ioctl::iommu_unmap_dma(self.fd.as_fd(), iova, len64).map_err(Error::os("VFIO_IOMMU_UNMAP_DMA"))?;
        if unmapped != len64 {
            return Err(Error::Os {
                what: "VFIO_IOMMU_UNMAP_DMA",
                source: io::Error::other(format!("unmapped {unmapped:#x} of {len64:#x} bytes at {iova:#x}")),
            });
        }
        self.iova.lock().unwrap_or_else(|p| p.into_inner()).free(iova, len64);
        crate::dma::note_unmapped(len64);
        Ok(())
    }
}

fn memlock_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the live struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0;
    ok.then_some(lim.rlim_cur)
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off.checked_add(8)?)?.try_into().ok()?))
}

/// Valid IOVA ranges (half-open) from a `vfio_iommu_type1_info` buffer with
/// its capability chain; `None` if the kernel sent no IOVA-range capability.
/// Every offset is bound-checked: a malformed chain gives `None`, never a panic.
pub fn parse_iova_ranges(info: &[u8]) -> Option<Vec<Range<u64>>> {
    // struct vfio_iommu_type1_info { u32 argsz, flags; u64 iova_pgsizes; u32 cap_offset, pad; }
    let flags = u32_at(info, 4)?;
    if flags & VFIO_IOMMU_INFO_CAPS == 0 {
        return None;
    }
    let mut off = u32_at(info, 16)? as usize;
    // Each hop must move forward, so a looping chain ends.
    let mut last = 0usize;
    while off != 0 && off > last {
        // struct vfio_info_cap_header { u16 id, version; u32 next; }
        let id = u32_at(info, off)? & 0xffff;
        let next = u32_at(info, off + 4)? as usize;
        if id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE {
            let n = u32_at(info, off + 8)? as usize;
            let mut ranges = Vec::with_capacity(n.min(64));
            for i in 0..n {
                let at = off + 16 + i * 16;
                let (start, end) = (u64_at(info, at)?, u64_at(info, at + 8)?);
                if start <= end {
                    ranges.push(start..end.saturating_add(1));
                }
            }
            return Some(ranges);
        }
        last = off;
        off = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_with_ranges(ranges: &[(u64, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 24];
        b[4..8].copy_from_slice(&VFIO_IOMMU_INFO_CAPS.to_le_bytes());
        b[16..20].copy_from_slice(&24u32.to_le_bytes());
        // A first capability of another kind, to exercise the chain walk.
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&[0u8; 8]);
        b.extend_from_slice(&(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE as u16).to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        for &(s, e) in ranges {
            b.extend_from_slice(&s.to_le_bytes());
            b.extend_from_slice(&e.to_le_bytes());
        }
        b
    }

    #[test]
    fn parses_the_ranges_qemu_intel_iommu_reports() {
        let b = info_with_ranges(&[(0, 0xfedf_ffff), (0xfef0_0000, (1 << 39) - 1)]);
        assert_eq!(parse_iova_ranges(&b).unwrap(), vec![0..0xfee0_0000, 0xfef0_0000..(1 << 39)]);
    }

    #[test]
    fn truncated_or_looping_chains_give_none() {
        let b = info_with_ranges(&[(0, 0xffff)]);
        for cut in [0, 8, 20, 30, 50, 60] {
            assert_eq!(parse_iova_ranges(&b[..cut]), None, "cut at {cut}");
        }
        let mut looping = b.clone();
        looping[28..32].copy_from_slice(&24u32.to_le_bytes()); // first cap points at itself
        assert_eq!(parse_iova_ranges(&looping), None);
        let mut no_caps = b;
        no_caps[4..8].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(parse_iova_ranges(&no_caps), None);
    }
}
