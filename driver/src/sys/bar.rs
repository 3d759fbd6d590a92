//! A memory BAR mapped from a VFIO device file: the device's registers.
//!
//! Every access is 32 bits wide, aligned, bound-checked against the mapping
//! and made through the `volatile` crate, because the e1000 family accepts
//! only 32-bit register accesses and each one has side effects on the device.
//! Which offsets mean what, and with which access, is the device layer's
//! business (see `device::register`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use volatile::VolatilePtr;

/// A mapped memory BAR.
#[derive(Debug)]
pub(crate) struct Bar {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a Bar is a handle to device registers; it holds no thread-affine
// state, and moving it to another thread moves the only way to use it.
unsafe impl Send for Bar {}

// SAFETY: every access through `&Bar` is one aligned 32-bit volatile load or
// store to device memory, which no Rust reference ever points into; two
// threads' accesses are two separate bus transactions that the device
// orders. What sharing cannot make atomic is a read-modify-write sequence:
// the device layer shares a Bar between queue threads only for per-queue
// registers and write-1-to-set/clear registers (EIMS, EIMC), and guards the
// shared PHY and NVM with the NIC's own semaphores.
unsafe impl Sync for Bar {}

impl Bar {
    /// mmap `len` bytes of `fd` at `offset` (a VFIO region) as registers.
    pub(crate) fn map(fd: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<Bar> {
        let offset = libc::off_t::try_from(offset).map_err(|_| io::Error::other("region offset out of range"))?;
        // SAFETY: a fresh shared mapping at an address the kernel picks
        // (NULL hint), so it aliases nothing of ours; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Bar { base, len })
    }

    fn register(&self, offset: u32) -> VolatilePtr<'_, u32> {
        let off = offset as usize;
        assert!(
            off % 4 == 0 && off.checked_add(4).is_some_and(|end| end <= self.len),
            "register offset {offset:#x} outside the {:#x}-byte BAR or unaligned",
            self.len
        );
        // SAFETY: `off + 4 <= len` (checked above), so the pointer stays in
        // our live mapping, and it is 4-byte aligned (page-aligned base plus a
        // multiple of 4). Device memory is only ever reached through these
        // volatile pointers, never through a Rust reference.
        unsafe { VolatilePtr::new(NonNull::new_unchecked(self.base.as_ptr().add(off).cast::<u32>())) }
    }

    /// Read the 32-bit register at `offset`.
    pub(crate) fn read32(&self, offset: u32) -> u32 {
        self.register(offset).read()
    }

    /// Write the 32-bit register at `offset`.
    pub(crate) fn write32(&self, offset: u32, value: u32) {
        self.register(offset).write(value)
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly the mapping made in `map`; nothing can
        // use it after drop.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
