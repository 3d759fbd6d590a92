//! A DMA region: anonymous memory backed by 2 MiB hugepages where possible,
//! mapped through the IOMMU at an IOVA from our allocator, unmapped from the
//! IOMMU before it is freed.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use zcnic_ring::DescriptorMemory;

use crate::error::Error;
use crate::vfio::{Container, DmaAccess};

/// 2 MiB, the x86 huge page size zcnic uses.
pub const HUGE_PAGE: usize = 2 << 20;
const SMALL_PAGE: usize = 4096;

/// What backs a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// 2 MiB hugepages: physically contiguous in 2 MiB blocks, one IOTLB entry each.
    Huge2M,
    /// Ordinary 4 KiB pages: the fallback when no hugepages are reserved.
    /// The IOMMU still makes the region contiguous in IOVA space.
    Small4K,
}

/// Pinned memory mapped for the NIC. Dropping it first removes the IOMMU
/// mapping (after which the NIC cannot reach it) and only then frees it.
#[derive(Debug)]
pub struct DmaRegion {
    ptr: NonNull<u8>,
    len: usize,
    iova: u64,
    kind: PageKind,
    access: DmaAccess,
    container: Arc<Container>,
}

// SAFETY: the region is plain memory owned by this value; nothing in it is
// tied to the thread that made it.
unsafe impl Send for DmaRegion {}

fn mmap_anon(len: usize, huge: bool) -> std::io::Result<NonNull<u8>> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
    if huge {
        flags |= libc::MAP_HUGETLB;
    }
    // SAFETY: an anonymous mapping at an address the kernel picks aliases
    // nothing; failure is checked below.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // Pinned DMA pages must not be shared copy-on-write with a child process.
    // SAFETY: advising our own fresh mapping.
    unsafe { libc::madvise(p, len, libc::MADV_DONTFORK) };
    NonNull::new(p.cast()).ok_or_else(|| std::io::Error::other("mmap returned NULL"))
}

impl DmaRegion {
    /// Allocate at least `len` bytes of zeroed memory and map it for the NIC
    /// with `access`. Uses 2 MiB hugepages when any are free; otherwise falls
    /// back to 4 KiB pages with a warning that says how to reserve some.
    pub fn new(container: &Arc<Container>, len: usize, access: DmaAccess) -> Result<DmaRegion, Error> {
        let huge_len = len.div_ceil(HUGE_PAGE) * HUGE_PAGE;
        let (ptr, len, kind) = match mmap_anon(huge_len, true) {
            Ok(p) => (p, huge_len, PageKind::Huge2M),
            Err(e) => {
                log::warn!(
                    "no free 2 MiB hugepages ({e}); using 4 KiB pages instead, which costs IOTLB \
                     misses. Reserve some with `echo 64 | sudo tee /proc/sys/vm/nr_hugepages`"
                );
                let small_len = len.div_ceil(SMALL_PAGE) * SMALL_PAGE;
                let p = mmap_anon(small_len, false).map_err(Error::os("allocating DMA memory (mmap)"))?;
                (p, small_len, PageKind::Small4K)
            }
        };
        let align = match kind {
            PageKind::Huge2M => HUGE_PAGE as u64,
            PageKind::Small4K => SMALL_PAGE as u64,
        };
        // SAFETY: the memory is a private mapping owned by the region we are
        // building; it stays mapped until Drop, which unmaps the IOVA range
        // before munmap. Rust code reaches it only through raw pointers
        // (descriptors) or through buffers the device may only read.
        let iova = match unsafe { container.map_dma(ptr.as_ptr(), len, align, access) } {
            Ok(iova) => iova,
            Err(e) => {
                // SAFETY: our own mapping, never exposed.
                unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
                return Err(e);
            }
        };
        crate::syscalls::note(3); // mmap, madvise, VFIO_IOMMU_MAP_DMA
        Ok(DmaRegion { ptr, len, iova, kind, access, container: Arc::clone(container) })
    }

    /// Bytes in the region (the request rounded up to whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region's address as the NIC sees it.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// What backs the region.
    pub fn page_kind(&self) -> PageKind {
        self.kind
    }

    /// What the NIC may do with it.
    pub fn access(&self) -> DmaAccess {
        self.access
    }

    /// IOVA of byte `offset` (bound-checked: `offset + len` must lie inside).
    pub fn iova_at(&self, offset: usize, len: usize) -> u64 {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len), "DMA range outside region");
        self.iova + offset as u64
    }

    /// Raw pointer to byte `offset` of `len` bytes (bound-checked).
    pub(crate) fn ptr_at(&self, offset: usize, len: usize) -> *mut u8 {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len), "DMA range outside region");
        // SAFETY: offset + len is inside the allocation (checked above).
        unsafe { self.ptr.as_ptr().add(offset) }
    }

    /// Copy `out.len()` bytes at `offset` out of the region, through a raw
    /// pointer: memory the device may write is never turned into a Rust
    /// reference, so even a misbehaving device cannot break Rust's aliasing
    /// rules (it could only make the copy hold garbage).
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [u8]) {
        let p = self.ptr_at(offset, out.len());
        // SAFETY: in bounds (ptr_at); `out` is a distinct Rust buffer, so the
        // ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) }
    }

    /// A mutable view of bytes the device may only read.
    ///
    /// Only offered for [`DmaAccess::DeviceReads`] regions: the IOMMU stops
    /// the device from writing them, so a `&mut [u8]` is never changed behind
    /// Rust's back. (The device may still be reading an older frame there;
    /// callers hand out only buffers whose descriptors have completed.)
    pub(crate) fn device_readonly_bytes_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        assert_eq!(self.access, DmaAccess::DeviceReads, "device-writable memory is never exposed as &mut");
        let p = self.ptr_at(offset, len);
        // SAFETY: in bounds (ptr_at); the device cannot write it (IOMMU
        // read-only mapping); &mut self guarantees no other Rust reference.
        unsafe { std::slice::from_raw_parts_mut(p, len) }
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        // Whoever owns the region has stopped the NIC's DMA before dropping it
        // (Nic::drop does); removing the mapping guarantees it for the memory.
        if let Err(e) = self.container.unmap_dma(self.iova, self.len) {
            // The pages stay pinned by the container until it closes; leaking
            // them is safer than freeing memory the device might reach.
            log::error!("could not unmap DMA region at IOVA {:#x}: {e}; leaking it", self.iova);
            return;
        }
        crate::syscalls::note(2); // VFIO_IOMMU_UNMAP_DMA, munmap
                                  // SAFETY: the IOMMU mapping is gone and nothing else refers to the memory.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A ring of `D` descriptors inside a device-writable DMA region, accessed
/// only with volatile reads and writes (the NIC changes them behind our back).
/// A view is cheap: the driver makes one for each ring operation, so the TX
/// and RX rings can share one region without sharing ownership of it.
#[derive(Debug)]
pub struct DescriptorView<'a, D> {
    region: &'a DmaRegion,
    offset: usize,
    count: usize,
    _desc: PhantomData<D>,
}

impl<'a, D: Copy> DescriptorView<'a, D> {
    /// `count` descriptors at byte `offset` of `region`.
    ///
    /// Panics if they do not fit, are misaligned, or the region is
    /// device-read-only (the NIC must be able to write status back).
    pub fn new(region: &'a DmaRegion, offset: usize, count: usize) -> Self {
        let size = std::mem::size_of::<D>();
        assert_eq!(region.access, DmaAccess::DeviceReadsWrites, "descriptors must be device-writable");
        assert_eq!(offset % 128, 0, "rings are 128-byte aligned");
        let _ = region.ptr_at(offset, count * size);
        DescriptorView { region, offset, count, _desc: PhantomData }
    }

    /// IOVA of the first descriptor (for the base address registers).
    pub fn iova(&self) -> u64 {
        self.region.iova_at(self.offset, self.byte_len())
    }

    /// Size of the ring in bytes (for the length register).
    pub fn byte_len(&self) -> usize {
        self.count * std::mem::size_of::<D>()
    }

    fn slot(&self, index: usize) -> *mut D {
        assert!(index < self.count, "descriptor index {index} outside a ring of {}", self.count);
        let size = std::mem::size_of::<D>();
        self.region.ptr_at(self.offset + index * size, size).cast()
    }
}

impl<D: Copy> DescriptorMemory<D> for DescriptorView<'_, D> {
    fn len(&self) -> usize {
        self.count
    }

    fn read(&self, index: usize) -> D {
        let p = self.slot(index);
        // SAFETY: in bounds (slot); the offset is 128-byte aligned and D's
        // size divides 128, so `p` is aligned; volatile because the NIC writes it.
        unsafe { p.read_volatile() }
    }

    fn write(&mut self, index: usize, desc: D) {
        let p = self.slot(index);
        // SAFETY: as in read. The memory is only ever reached through raw
        // pointers, so writing through a shared view aliases no reference; the
        // ring logic writes only slots the NIC does not own.
        unsafe { p.write_volatile(desc) }
    }
}
