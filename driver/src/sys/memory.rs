//! Memory mappings the device can reach: anonymous memory for rings and
//! buffers (2 MiB hugepages where the host has them) and read-only mappings
//! of a file's page cache. The one place that turns offsets into pointers.
//!
//! Memory the device may write is never made into a Rust reference: it is
//! read and written through the `volatile` crate, or copied out. Only memory
//! the IOMMU lets the device read, never write, may be lent out as `&mut [u8]`,
//! and the caller of [`Mapping::bytes_mut`] promises that.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use volatile::VolatilePtr;

/// 2 MiB, the x86 huge page size zcnic uses.
pub(crate) const HUGE_PAGE: usize = 2 << 20;
/// 4 KiB, the base page size of x86: the granule of mmap, mprotect and the IOMMU.
pub(crate) const PAGE: usize = 4096;

/// mmap's flag asking for 2 MiB pages in particular: log2(2 MiB) = 21 in the
/// MAP_HUGE_SHIFT (26) field (linux/mman.h). Without it MAP_HUGETLB takes the
/// system's default huge page size, which need not be 2 MiB.
const MAP_HUGE_2MB: libc::c_int = 21 << 26;

/// A private anonymous or shared file mapping, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a Mapping owns its pages and holds no thread-bound state; moving it
// moves the only handle to them.
unsafe impl Send for Mapping {}

impl Mapping {
    /// `len` bytes of zeroed, populated anonymous memory, not inherited by
    /// child processes (pinned DMA pages must never become copy-on-write).
    /// With `huge`, from the 2 MiB hugepage pool (`len` a multiple of 2 MiB).
    pub(crate) fn anonymous(len: usize, huge: bool) -> io::Result<Mapping> {
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        if huge {
            flags |= libc::MAP_HUGETLB | MAP_HUGE_2MB;
        }
        // SAFETY: an anonymous mapping at an address the kernel picks aliases
        // nothing; the result is checked.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
        let mapping = Self::from_mmap(p, len)?;
        // SAFETY: advises our own fresh mapping, which is exactly `len` bytes.
        super::check(unsafe { libc::madvise(p, len, libc::MADV_DONTFORK) })?;
        Ok(mapping)
    }

    /// A read-only shared mapping of `len` bytes of `file` from `offset` (a
    /// multiple of the page size): the page cache itself, not a copy.
    pub(crate) fn file_read_only(file: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<Mapping> {
        let offset = libc::off_t::try_from(offset).map_err(|_| io::Error::other("file offset out of range"))?;
        // SAFETY: a new shared read-only mapping of an open file at an address
        // the kernel picks: it aliases nothing; the result is checked.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), offset)
        };
        Self::from_mmap(p, len)
    }

    fn from_mmap(p: *mut libc::c_void, len: usize) -> io::Result<Mapping> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mapping { ptr, len })
    }

    /// Take every access away from this process (PROT_NONE): afterwards any
    /// CPU read or write of these pages faults. The device's access through
    /// the IOMMU is not affected.
    pub(crate) fn protect_none(&self) -> io::Result<()> {
        // SAFETY: changes only the protection of our own mapping, into which
        // no Rust reference points (file mappings are never lent out).
        super::check(unsafe { libc::mprotect(self.ptr.as_ptr().cast(), self.len, libc::PROT_NONE) }).map(drop)
    }

    /// Start address (for VFIO_IOMMU_MAP_DMA).
    pub(crate) fn addr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn at(&self, offset: usize, len: usize) -> NonNull<u8> {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len), "access outside the mapping");
        // SAFETY: offset + len is inside the mapping (checked above), so the
        // result stays within the same allocation and is non-null.
        unsafe { NonNull::new_unchecked(self.ptr.as_ptr().add(offset)) }
    }

    fn volatile_at<T: Copy>(&self, offset: usize) -> VolatilePtr<'_, T> {
        let p = self.at(offset, std::mem::size_of::<T>()).cast::<T>();
        assert!(p.as_ptr().is_aligned(), "unaligned volatile access at offset {offset:#x}");
        // SAFETY: in bounds and aligned (checked); this memory is only ever
        // reached through raw or volatile pointers, never Rust references, so
        // the device writing it behind our back breaks no aliasing rule.
        unsafe { VolatilePtr::new(p) }
    }

    /// Volatile read of a `T` at `offset` (bound- and alignment-checked).
    pub(crate) fn read_volatile<T: Copy>(&self, offset: usize) -> T {
        self.volatile_at(offset).read()
    }

    /// Volatile write of a `T` at `offset` (bound- and alignment-checked).
    pub(crate) fn write_volatile<T: Copy>(&self, offset: usize, value: T) {
        self.volatile_at(offset).write(value)
    }

    /// Copy `out.len()` bytes at `offset` out of the mapping. A device that
    /// misbehaves can only make the copy hold garbage.
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [u8]) {
        let p = self.at(offset, out.len());
        // SAFETY: in bounds (checked by `at`); `out` is a distinct Rust buffer
        // so the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), out.as_mut_ptr(), out.len()) }
    }

    /// Lend `len` bytes at `offset` as a mutable slice.
    ///
    /// # Safety
    /// The device must not be able to write these bytes (they are mapped
    /// read-only in the IOMMU, or not mapped at all), and the caller must not
    /// lend out overlapping ranges at the same time (`&mut self` ensures that
    /// for the lifetime of the slice).
    pub(crate) unsafe fn bytes_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        let p = self.at(offset, len);
        // SAFETY: in bounds; no other Rust reference can exist (&mut self);
        // the caller guarantees the device cannot write it.
        unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made by mmap; nothing refers to it after
        // drop (owners unmap it from the IOMMU first).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_access_is_bound_checked_and_round_trips() {
        let m = Mapping::anonymous(PAGE, false).unwrap();
        m.write_volatile::<u64>(8, 0x1122_3344_5566_7788);
        assert_eq!(m.read_volatile::<u64>(8), 0x1122_3344_5566_7788);
        assert_eq!(m.read_volatile::<u8>(8), 0x88, "little-endian");
        let mut out = [0u8; 2];
        m.copy_out(8, &mut out);
        assert_eq!(out, [0x88, 0x77]);
        assert!(std::panic::catch_unwind(|| m.read_volatile::<u32>(PAGE - 2)).is_err());
    }
}
