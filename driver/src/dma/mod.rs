//! DMA memory: process memory pinned and mapped through the IOMMU at an IOVA
//! of our own allocator, so that the device can reach it, and nothing else.
//!
//! [`DmaMapping`] owns both the memory and its IOMMU mapping, and undoes them
//! in the only safe order: the IOMMU mapping first (after which the device
//! cannot reach the pages), then the memory. A [`DmaSpan`] (an IOVA and a
//! length) can only be cut from a live mapping, which is how the driver makes
//! sure that no descriptor ever points the NIC outside our own mappings.
//! [`DescriptorView`] is a ring of descriptors inside a mapping, read and
//! written with volatile accesses only.

mod descriptors;

pub(crate) use descriptors::DescriptorView;

use std::sync::Arc;

use crate::error::Error;
use crate::sys::memory::{Mapping, HUGE_PAGE, PAGE};
use crate::vfio::{Container, DmaAccess};

/// What backs a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    /// 2 MiB hugepages: physically contiguous in 2 MiB blocks, one IOTLB entry each.
    Huge2M,
    /// Ordinary 4 KiB pages: the fallback when no hugepages are reserved.
    /// The IOMMU still makes the region contiguous in IOVA space.
    Small4K,
}

/// `len` bytes at `iova` in the device's address space, inside one live
/// [`DmaMapping`]. Only a mapping makes these; whoever posts one to a NIC
/// keeps the mapping alive until the NIC has completed the descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DmaSpan {
    iova: u64,
    len: u32,
}

impl DmaSpan {
    /// The device address of the first byte.
    pub(crate) fn iova(&self) -> u64 {
        self.iova
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// A span for unit tests of code that only arranges spans into descriptors.
    #[cfg(test)]
    pub(crate) fn for_tests(iova: u64, len: u32) -> DmaSpan {
        DmaSpan { iova, len }
    }

    /// Split at the first `n` bytes (`n <= len`): the two halves stay inside the same mapping.
    pub(crate) fn split_at(&self, n: u32) -> (DmaSpan, DmaSpan) {
        assert!(n <= self.len, "split past the end of a DMA span");
        (DmaSpan { iova: self.iova, len: n }, DmaSpan { iova: self.iova + u64::from(n), len: self.len - n })
    }
}

/// Memory mapped for the device. Dropping it removes the IOMMU mapping (after
/// which the device cannot reach the memory) and only then frees the memory;
/// if the unmap fails, the memory is leaked rather than freed while reachable.
#[derive(Debug)]
pub(crate) struct DmaMapping {
    memory: Option<Mapping>,
    iova: u64,
    access: DmaAccess,
    container: Arc<Container>,
}

impl DmaMapping {
    /// Map `memory` for the device with `access`, at an IOVA aligned to `align`.
    pub(crate) fn new(
        container: &Arc<Container>,
        memory: Mapping,
        align: u64,
        access: DmaAccess,
    ) -> Result<DmaMapping, Error> {
        // SAFETY: the mapping owns `memory` from here on and frees it only
        // after unmapping the IOVA range (Drop below); memory the device may
        // write is only reached through volatile accesses or copies (see
        // `bytes_mut`, which refuses device-writable memory).
        let iova = unsafe { container.map_dma(memory.addr(), memory.len(), align, access) }?;
        Ok(DmaMapping { memory: Some(memory), iova, access, container: Arc::clone(container) })
    }

    fn memory(&self) -> &Mapping {
        self.memory.as_ref().expect("the memory lives until drop")
    }

    /// Bytes mapped.
    pub(crate) fn len(&self) -> usize {
        self.memory().len()
    }

    /// The device address of byte 0.
    pub(crate) fn iova(&self) -> u64 {
        self.iova
    }

    /// The span of `len` bytes at `offset` (bound-checked).
    pub(crate) fn span(&self, offset: usize, len: u32) -> DmaSpan {
        assert!(
            offset.checked_add(len as usize).is_some_and(|end| end <= self.len()),
            "DMA span {offset:#x}+{len:#x} outside a {:#x}-byte mapping",
            self.len()
        );
        DmaSpan { iova: self.iova + offset as u64, len }
    }

    /// Volatile read of a `T` at `offset`.
    pub(crate) fn read_volatile<T: Copy>(&self, offset: usize) -> T {
        self.memory().read_volatile(offset)
    }

    /// Volatile write of a `T` at `offset`.
    pub(crate) fn write_volatile<T: Copy>(&self, offset: usize, value: T) {
        self.memory().write_volatile(offset, value)
    }

    /// Copy bytes at `offset` out (for memory the device writes: frames it received).
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [u8]) {
        self.memory().copy_out(offset, out)
    }

    /// Take the CPU's access to the memory away (PROT_NONE); the device keeps its own.
    pub(crate) fn protect_none(&self) -> std::io::Result<()> {
        self.memory().protect_none()
    }

    /// Bytes the device may only read, lent mutably (packet buffers the CPU
    /// fills before posting them). Panics for device-writable memory.
    pub(crate) fn bytes_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        assert_eq!(self.access, DmaAccess::DeviceReads, "device-writable memory is never lent as &mut");
        let memory = self.memory.as_mut().expect("the memory lives until drop");
        // SAFETY: the IOMMU maps this memory read-only for the device, so it
        // cannot change behind the slice; &mut self rules out other borrows.
        unsafe { memory.bytes_mut(offset, len) }
    }
}

impl Drop for DmaMapping {
    fn drop(&mut self) {
        let len = self.len();
        if let Err(e) = self.container.unmap_dma(self.iova, len) {
            // The pages stay pinned by the container until it closes; leaking
            // them is safer than freeing memory the device might reach.
            log::error!("could not unmap DMA memory at IOVA {:#x}: {e}; leaking it", self.iova);
            std::mem::forget(self.memory.take());
        }
        // `memory` is unmapped from the process when it drops, after this.
    }
}

/// Pinned anonymous memory for rings and buffers: 2 MiB hugepages where the
/// host has them free, otherwise 4 KiB pages with a warning saying how to
/// reserve hugepages.
pub(crate) fn allocate(
    container: &Arc<Container>,
    len: usize,
    access: DmaAccess,
) -> Result<(DmaMapping, PageKind), Error> {
    let huge_len = len.div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let (memory, kind) = match Mapping::anonymous(huge_len, true) {
        Ok(m) => (m, PageKind::Huge2M),
        Err(e) => {
            log::warn!(
                "no free 2 MiB hugepages ({e}); using 4 KiB pages instead, which costs IOTLB misses. \
                 Reserve some with `echo 64 | sudo tee /proc/sys/vm/nr_hugepages`"
            );
            let small_len = len.div_ceil(PAGE) * PAGE;
            let m = Mapping::anonymous(small_len, false).map_err(Error::os("allocating DMA memory (mmap)"))?;
            (m, PageKind::Small4K)
        }
    };
    let align = match kind {
        PageKind::Huge2M => HUGE_PAGE as u64,
        PageKind::Small4K => PAGE as u64,
    };
    let mapping = DmaMapping::new(container, memory, align, access)?;
    log::debug!("DMA memory: {:#x} bytes at IOVA {:#x} ({kind:?}, {access:?})", mapping.len(), mapping.iova());
    Ok((mapping, kind))
}
