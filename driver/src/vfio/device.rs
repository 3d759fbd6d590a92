//! A VFIO device: its regions (BAR0, config space) and the PCI command register.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use vfio_bindings::bindings::vfio::{
    VFIO_PCI_CONFIG_REGION_INDEX, VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};

use super::Group;
use crate::error::Error;
use crate::pci::{config, PciAddress};
use crate::sys::bar::Bar;
use crate::sys::vfio as ioctl;

/// Where a region lives in the device file and what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegionInfo {
    /// Region size in bytes.
    pub size: u64,
    /// Offset of the region in the device file (for pread/pwrite/mmap).
    pub offset: u64,
    /// VFIO_REGION_INFO_FLAG_* bits.
    pub flags: u32,
}

/// An open VFIO device. Keeps its group (and so its container) alive.
#[derive(Debug)]
pub(crate) struct Device {
    file: Arc<File>,
    addr: PciAddress,
    config: RegionInfo,
    group: Group,
}

impl Device {
    /// Open the device `addr` in `group`.
    pub(crate) fn open(group: Group, addr: &PciAddress) -> Result<Device, Error> {
        let fd: OwnedFd = group.device_fd(addr)?;
        let info = ioctl::device_get_info(fd.as_fd()).map_err(Error::os("VFIO_DEVICE_GET_INFO"))?;
        log::debug!("{addr}: {} regions, {} IRQ types, flags {:#x}", info.num_regions, info.num_irqs, info.flags);
        let file = Arc::new(File::from(fd));
        let mut dev = Device { file, addr: *addr, config: RegionInfo { size: 0, offset: 0, flags: 0 }, group };
        dev.config = dev.region_info(VFIO_PCI_CONFIG_REGION_INDEX)?;
        if dev.config.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)
            != (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)
        {
            return Err(Error::VfioUnsupported("the PCI config region is not readable and writable".into()));
        }
        Ok(dev)
    }

    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The device's PCI address.
    pub(crate) fn addr(&self) -> PciAddress {
        self.addr
    }

    /// The group the device belongs to.
    pub(crate) fn group(&self) -> &Group {
        &self.group
    }

    /// Size, offset and flags of region `index`.
    pub(crate) fn region_info(&self, index: u32) -> Result<RegionInfo, Error> {
        let r = ioctl::device_get_region_info(self.file.as_fd(), index)
            .map_err(Error::os("VFIO_DEVICE_GET_REGION_INFO"))?;
        Ok(RegionInfo { size: r.size, offset: r.offset, flags: r.flags })
    }

    /// Map memory BAR `index` (a VFIO region index) for register access.
    pub(crate) fn map_bar(&self, index: u32, min_size: u64) -> Result<Bar, Error> {
        let info = self.region_info(index)?;
        let bad = |why: String| Error::BadBar { addr: self.addr, why };
        if info.size < min_size {
            return Err(bad(format!("it is {} bytes, the NIC has {min_size}", info.size)));
        }
        if info.flags & VFIO_REGION_INFO_FLAG_MMAP == 0 {
            return Err(bad("VFIO does not allow it to be mmapped".into()));
        }
        Bar::map(self.file.as_fd(), info.offset, info.size as usize).map_err(|e| bad(format!("mmap failed: {e}")))
    }

    /// Set and clear bits of the PCI command register.
    pub(crate) fn update_command(&self, set: u16, clear: u16) -> Result<u16, Error> {
        update_command(&self.file, self.config.offset, self.addr, set, clear)
    }

    /// A handle that can turn bus mastering off without the device itself.
    pub(crate) fn bus_master(&self) -> BusMaster {
        BusMaster { file: Arc::clone(&self.file), config_offset: self.config.offset, addr: self.addr }
    }
}

/// Turns the device's bus mastering off from wherever it is held. Clearing
/// Bus Master Enable in the PCI command register stops every DMA the device
/// would start; guards that must stop the NIC before releasing memory it can
/// reach keep one of these, so they need no access to the NIC itself.
#[derive(Debug, Clone)]
pub(crate) struct BusMaster {
    file: Arc<File>,
    config_offset: u64,
    addr: PciAddress,
}

impl BusMaster {
    /// Clear Bus Master Enable: from the next bus cycle on, the device starts no DMA.
    pub(crate) fn disable(&self) -> Result<(), Error> {
        update_command(&self.file, self.config_offset, self.addr, 0, config::COMMAND_BUS_MASTER).map(drop)
    }
}

fn read_config_u16(file: &File, at: u64) -> Result<u16, Error> {
    let mut b = [0u8; 2];
    file.read_exact_at(&mut b, at).map_err(Error::os("reading PCI config space"))?;
    Ok(u16::from_le_bytes(b))
}

fn update_command(file: &File, config_offset: u64, addr: PciAddress, set: u16, clear: u16) -> Result<u16, Error> {
    let at = config_offset + config::COMMAND;
    let old = read_config_u16(file, at)?;
    let new = (old | set) & !clear;
    if new != old {
        file.write_all_at(&new.to_le_bytes(), at).map_err(Error::os("writing PCI config space"))?;
    }
    log::debug!("{addr}: PCI command {old:#06x} -> {new:#06x}");
    Ok(new)
}
