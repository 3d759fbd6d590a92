//! Device interrupts delivered through VFIO to an eventfd, so a waiting thread
//! sleeps in poll(2) instead of spinning.
//!
//! INTx (the only kind the 82540EM has) is level-triggered and automasked by
//! VFIO: after each interrupt the driver must make the device deassert the line
//! (on the e1000, by reading ICR) and then unmask it. MSI needs no unmasking.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use vfio_bindings::bindings::vfio::{
    VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX,
    VFIO_PCI_MSI_IRQ_INDEX,
};

use super::{ioctl, Device};
use crate::error::Error;

/// Which interrupt mechanism is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqMode {
    /// Legacy level-triggered INTx, automasked by VFIO.
    Intx,
    /// Message-signalled, one vector.
    Msi,
}

impl IrqMode {
    fn index(self) -> u32 {
        match self {
            IrqMode::Intx => VFIO_PCI_INTX_IRQ_INDEX,
            IrqMode::Msi => VFIO_PCI_MSI_IRQ_INDEX,
        }
    }
}

/// A device interrupt wired to an eventfd.
#[derive(Debug)]
pub struct Interrupt {
    mode: IrqMode,
    eventfd: OwnedFd,
}

impl Interrupt {
    /// Wire the device's interrupt to a new eventfd: MSI if the device offers
    /// it, INTx otherwise.
    pub fn enable(device: &Device) -> Result<Interrupt, Error> {
        let fd = device.as_fd();
        let offers = |index| {
            ioctl::device_get_irq_info(fd, index)
                .map(|i| i.count > 0 && i.flags & VFIO_IRQ_INFO_EVENTFD != 0)
                .unwrap_or(false)
        };
        let mode = if offers(VFIO_PCI_MSI_IRQ_INDEX) {
            IrqMode::Msi
        } else if offers(VFIO_PCI_INTX_IRQ_INDEX) {
            IrqMode::Intx
        } else {
            return Err(Error::VfioUnsupported("the device offers neither MSI nor INTx through VFIO".into()));
        };
        // SAFETY: eventfd() takes no pointers; the result is checked below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(Error::Os { what: "eventfd", source: io::Error::last_os_error() });
        }
        // SAFETY: a fresh fd that nothing else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(raw) };
        ioctl::device_set_irqs(fd, mode.index(), VFIO_IRQ_SET_ACTION_TRIGGER, 1, Some(eventfd.as_fd()))
            .map_err(Error::os("VFIO_DEVICE_SET_IRQS (enable)"))?;
        log::debug!("{}: interrupts through {mode:?}", device.addr());
        Ok(Interrupt { mode, eventfd })
    }

    /// The mechanism in use.
    pub fn mode(&self) -> IrqMode {
        self.mode
    }

    /// Sleep until the interrupt fires or `timeout` passes. Returns how many
    /// interrupts were signalled (0 on timeout).
    pub fn wait(&self, timeout: Duration) -> Result<u64, Error> {
        let mut pfd = libc::pollfd { fd: self.eventfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // Round a sub-millisecond remainder up so a short wait still sleeps.
        let ms = if ms == 0 && !timeout.is_zero() { 1 } else { ms };
        crate::syscalls::note(1);
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(Error::Os { what: "poll on the interrupt eventfd", source: e });
        }
        if n == 0 {
            return Ok(0);
        }
        Ok(self.drain())
    }

    /// Read and reset the eventfd's count without sleeping.
    pub fn drain(&self) -> u64 {
        let mut count = 0u64;
        crate::syscalls::note(1);
        // SAFETY: reads 8 bytes into a live u64; the fd is non-blocking.
        let n = unsafe { libc::read(self.eventfd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        if n == 8 {
            count
        } else {
            0
        }
    }

    /// After the device has deasserted its interrupt (ICR read), let INTx
    /// through again. A no-op for MSI.
    pub fn unmask(&self, device: &Device) -> Result<(), Error> {
        if self.mode == IrqMode::Intx {
            crate::syscalls::note(1);
            ioctl::device_set_irqs(device.as_fd(), VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 1, None)
                .map_err(Error::os("VFIO_DEVICE_SET_IRQS (unmask INTx)"))?;
        }
        Ok(())
    }

    /// Disconnect the eventfd from the device.
    pub fn disable(&self, device: &Device) {
        if let Err(e) = ioctl::device_set_irqs(device.as_fd(), self.mode.index(), VFIO_IRQ_SET_ACTION_TRIGGER, 0, None)
        {
            log::warn!("{}: could not disable interrupts: {e}", device.addr());
        }
    }
}
