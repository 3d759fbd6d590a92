//! Device interrupts delivered through VFIO to an eventfd, so a waiting thread
//! sleeps in poll(2) instead of spinning.
//!
//! INTx (the only kind the 82540EM has) is level-triggered and automasked by
//! VFIO: after each interrupt the driver must make the device deassert the line
//! (on the e1000, by reading ICR) and then unmask it. MSI needs no unmasking.
//! MSI-X gives each vector its own eventfd; the device says which cause
//! raises which vector (the igb's IVAR registers).

use std::os::fd::AsFd;
use std::time::Duration;

use vfio_bindings::bindings::vfio::{
    VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX,
    VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX,
};

use super::Device;
use crate::error::Error;
use crate::sys::event::{poll_any, EventFd};
use crate::sys::vfio as ioctl;

/// Which interrupt mechanism is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqMode {
    /// Legacy level-triggered INTx, automasked by VFIO.
    Intx,
    /// Message-signalled, one vector.
    Msi,
    /// MSI-X with this many vectors, each with its own eventfd.
    MsiX(u32),
}

impl IrqMode {
    fn index(self) -> u32 {
        match self {
            IrqMode::Intx => VFIO_PCI_INTX_IRQ_INDEX,
            IrqMode::Msi => VFIO_PCI_MSI_IRQ_INDEX,
            IrqMode::MsiX(_) => VFIO_PCI_MSIX_IRQ_INDEX,
        }
    }
}

/// Which interrupt mechanism to ask VFIO for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IrqChoice {
    /// The best the device offers: MSI-X with a vector per queue where the
    /// driver can use it (igb), else MSI, else INTx.
    #[default]
    Auto,
    /// MSI, one vector (for platforms whose MSI-X misbehaves).
    Msi,
    /// Legacy INTx, shared and level-triggered: the last resort.
    Intx,
}

/// A device's interrupt vectors, each wired to an eventfd.
#[derive(Debug)]
pub(crate) struct Interrupt {
    mode: IrqMode,
    eventfds: Vec<EventFd>,
}

impl Interrupt {
    /// Wire the device's interrupts to new eventfds. With `msix_vectors`,
    /// MSI-X with that many vectors if the device offers as many; otherwise
    /// MSI if it offers it, INTx if not; or what `choice` insists on.
    pub(crate) fn enable(device: &Device, msix_vectors: Option<u32>, choice: IrqChoice) -> Result<Interrupt, Error> {
        let fd = device.as_fd();
        let offered = |index| {
            ioctl::device_get_irq_info(fd, index)
                .map(|i| if i.flags & VFIO_IRQ_INFO_EVENTFD != 0 { i.count } else { 0 })
                .unwrap_or(0)
        };
        let insist = |index, mode| {
            if offered(index) > 0 {
                Ok(mode)
            } else {
                Err(Error::VfioUnsupported(format!(
                    "{mode:?} was asked for, and VFIO does not offer it for this device"
                )))
            }
        };
        let mode = match (choice, msix_vectors) {
            (IrqChoice::Msi, _) => insist(VFIO_PCI_MSI_IRQ_INDEX, IrqMode::Msi)?,
            (IrqChoice::Intx, _) => insist(VFIO_PCI_INTX_IRQ_INDEX, IrqMode::Intx)?,
            (IrqChoice::Auto, Some(n)) if n >= 1 && offered(VFIO_PCI_MSIX_IRQ_INDEX) >= n => IrqMode::MsiX(n),
            (IrqChoice::Auto, Some(n)) => {
                log::info!("{}: VFIO offers fewer than {n} MSI-X vectors; falling back", device.addr());
                Self::single_vector_mode(&offered)?
            }
            (IrqChoice::Auto, None) => Self::single_vector_mode(&offered)?,
        };
        let count = match mode {
            IrqMode::MsiX(n) => n as usize,
            _ => 1,
        };
        let eventfds =
            (0..count).map(|_| EventFd::new().map_err(Error::os("eventfd"))).collect::<Result<Vec<_>, _>>()?;
        let fds: Vec<_> = eventfds.iter().map(AsFd::as_fd).collect();
        ioctl::device_set_irq_eventfds(fd, mode.index(), &fds).map_err(Error::os("VFIO_DEVICE_SET_IRQS (enable)"))?;
        log::debug!("{}: interrupts through {mode:?}", device.addr());
        Ok(Interrupt { mode, eventfds })
    }

    fn single_vector_mode(offered: &dyn Fn(u32) -> u32) -> Result<IrqMode, Error> {
        if offered(VFIO_PCI_MSI_IRQ_INDEX) > 0 {
            Ok(IrqMode::Msi)
        } else if offered(VFIO_PCI_INTX_IRQ_INDEX) > 0 {
            Ok(IrqMode::Intx)
        } else {
            Err(Error::VfioUnsupported("the device offers neither MSI nor INTx through VFIO".into()))
        }
    }

    /// The mechanism in use.
    pub(crate) fn mode(&self) -> IrqMode {
        self.mode
    }

    /// Sleep until vector `vector` (any vector, with `None`) fires or
    /// `timeout` passes. Returns how many interrupts were signalled (0 on
    /// timeout or a signal). Several threads may wait at once, each on its
    /// own vector.
    pub(crate) fn wait(&self, vector: Option<usize>, timeout: Duration) -> Result<u64, Error> {
        if let Some(i) = vector {
            let fd = self.eventfds.get(i).ok_or_else(|| Error::VfioUnsupported(format!("no interrupt vector {i}")))?;
            let ready = fd.poll(timeout).map_err(Error::os("poll on the interrupt eventfd"))?;
            return Ok(if ready { fd.take() } else { 0 });
        }
        if let [only] = self.eventfds.as_slice() {
            let ready = only.poll(timeout).map_err(Error::os("poll on the interrupt eventfd"))?;
            return Ok(if ready { only.take() } else { 0 });
        }
        let all: Vec<&EventFd> = self.eventfds.iter().collect();
        let ready = poll_any(&all, timeout).map_err(Error::os("poll on the interrupt eventfds"))?;
        Ok(self.eventfds.iter().zip(ready).filter(|(_, r)| *r).map(|(fd, _)| fd.take()).sum())
    }

    /// After the device has deasserted its interrupt (ICR read), let INTx
    /// through again. A no-op for MSI.
    pub(crate) fn unmask(&self, device: &Device) -> Result<(), Error> {
        if self.mode == IrqMode::Intx {
            ioctl::device_set_irqs(device.as_fd(), VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, 1)
                .map_err(Error::os("VFIO_DEVICE_SET_IRQS (unmask INTx)"))?;
        }
        Ok(())
    }

    /// Disconnect the eventfd from the device.
    pub(crate) fn disable(&self, device: &Device) {
        if let Err(e) = ioctl::device_set_irqs(device.as_fd(), self.mode.index(), VFIO_IRQ_SET_ACTION_TRIGGER, 0) {
            log::warn!("{}: could not disable interrupts: {e}", device.addr());
        }
    }
}
