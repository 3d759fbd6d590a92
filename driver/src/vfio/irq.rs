//! Device interrupts delivered through VFIO to an eventfd, so a waiting thread
//! sleeps in poll(2) instead of spinning.
//!
//! INTx (the only kind the 82540EM has) is level-triggered and automasked by
//! VFIO: after each interrupt the driver must make the device deassert the line
//! (on the e1000, by reading ICR) and then unmask it. MSI needs no unmasking.

use std::os::fd::AsFd;
use std::time::Duration;

use vfio_bindings::bindings::vfio::{
    VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX,
    VFIO_PCI_MSI_IRQ_INDEX,
};

use super::Device;
use crate::error::Error;
use crate::sys::event::EventFd;
use crate::sys::vfio as ioctl;

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
pub(crate) struct Interrupt {
    mode: IrqMode,
    eventfd: EventFd,
}

impl Interrupt {
    /// Wire the device's interrupt to a new eventfd: MSI if the device offers
    /// it, INTx otherwise.
    pub(crate) fn enable(device: &Device) -> Result<Interrupt, Error> {
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
        let eventfd = EventFd::new().map_err(Error::os("eventfd"))?;
        ioctl::device_set_irqs(fd, mode.index(), VFIO_IRQ_SET_ACTION_TRIGGER, 1, Some(eventfd.as_fd()))
            .map_err(Error::os("VFIO_DEVICE_SET_IRQS (enable)"))?;
        log::debug!("{}: interrupts through {mode:?}", device.addr());
        Ok(Interrupt { mode, eventfd })
    }

    /// The mechanism in use.
    pub(crate) fn mode(&self) -> IrqMode {
        self.mode
    }

    /// Sleep until the interrupt fires or `timeout` passes. Returns how many
    /// interrupts were signalled (0 on timeout or a signal).
    pub(crate) fn wait(&self, timeout: Duration) -> Result<u64, Error> {
        let ready = self.eventfd.poll(timeout).map_err(Error::os("poll on the interrupt eventfd"))?;
        Ok(if ready { self.eventfd.take() } else { 0 })
    }

    /// After the device has deasserted its interrupt (ICR read), let INTx
    /// through again. A no-op for MSI.
    pub(crate) fn unmask(&self, device: &Device) -> Result<(), Error> {
        if self.mode == IrqMode::Intx {
            ioctl::device_set_irqs(device.as_fd(), VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 1, None)
                .map_err(Error::os("VFIO_DEVICE_SET_IRQS (unmask INTx)"))?;
        }
        Ok(())
    }

    /// Disconnect the eventfd from the device.
    pub(crate) fn disable(&self, device: &Device) {
        if let Err(e) = ioctl::device_set_irqs(device.as_fd(), self.mode.index(), VFIO_IRQ_SET_ACTION_TRIGGER, 0, None)
        {
            log::warn!("{}: could not disable interrupts: {e}", device.addr());
        }
    }
}
