//! The bottom layer: every call zcnic's driver makes into the kernel or libc,
//! and every raw pointer into memory the device can see.
//!
//! Nothing here knows about NICs. Each module wraps one kind of kernel object
//! in a type that owns it and releases it on drop:
//!
//! - [`bar`]: a device register window (BAR) mapped from a VFIO device file,
//!   read and written 32 bits at a time through the `volatile` crate;
//! - [`memory`]: anonymous (hugepage) and file mappings, their protection, and
//!   volatile or copying access to bytes the device may write;
//! - [`vfio`]: the VFIO ioctls, spelled with vfio-bindings' structures;
//! - [`event`]: eventfds and poll(2), for interrupts;
//! - [`host`]: what the process asks of the host: interface addresses
//!   (getifaddrs), resource limits, its own I/O and fault counters.

pub(crate) mod bar;
pub(crate) mod event;
pub(crate) mod host;
pub(crate) mod memory;
pub(crate) mod vfio;

use std::io;

/// Turn a C-style `-1`/errno return into an `io::Result`.
pub(crate) fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
