//! Register access to a memory BAR mapped from the VFIO device file.
//!
//! Every access goes through [`Mmio::read32`] / [`Mmio::write32`]: 4-byte,
//! aligned, volatile, bound-checked against the mapping. The e1000 accepts
//! only 32-bit register accesses.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

/// A mapped memory BAR.
#[derive(Debug)]
pub struct Mmio {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: Mmio is a handle to device registers; it holds no thread-affine
// state, and moving it to another thread moves the only way to use it.
unsafe impl Send for Mmio {}

impl Mmio {
    /// mmap `len` bytes of `fd` at `offset` (a VFIO region) as registers.
    pub(crate) fn map(fd: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<Mmio> {
        // SAFETY: a fresh shared mapping chosen by the kernel (addr NULL), so
        // it aliases nothing of ours; the result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mmio { base, len })
    }

    fn reg_ptr(&self, offset: u32) -> *mut u32 {
        let off = offset as usize;
        assert!(
            off % 4 == 0 && off.checked_add(4).is_some_and(|end| end <= self.len),
            "register offset {offset:#x} outside the {:#x}-byte BAR or unaligned",
            self.len
        );
        // SAFETY: the offset is inside the mapping (checked above), so the
        // result stays within the same allocation.
        unsafe { self.base.as_ptr().add(off).cast::<u32>() }
    }

    /// Read the 32-bit register at `offset`.
    pub fn read32(&self, offset: u32) -> u32 {
        let p = self.reg_ptr(offset);
        // SAFETY: `p` is aligned and inside our live BAR mapping; device
        // memory must be read with a volatile access of exactly this width.
        unsafe { p.read_volatile() }
    }

    /// Write the 32-bit register at `offset`.
    pub fn write32(&self, offset: u32, value: u32) {
        let p = self.reg_ptr(offset);
        // SAFETY: as in read32; a register write has effects on the device
        // only, never on memory Rust knows about.
        unsafe { p.write_volatile(value) }
    }
}

impl Drop for Mmio {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly the mapping made in `map`, and nothing
        // can use it after drop.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
