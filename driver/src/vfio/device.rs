//! A VFIO device: its regions (BAR0, config space) and the PCI command register.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;

use vfio_bindings::bindings::vfio::{
    VFIO_PCI_CONFIG_REGION_INDEX, VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};

use super::{ioctl, Group};
use crate::error::Error;
use crate::mmio::Mmio;
use crate::pci::{config, PciAddress};

/// Where a region lives in the device file and what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    /// Region size in bytes.
    pub size: u64,
    /// Offset of the region in the device file (for pread/pwrite/mmap).
    pub offset: u64,
    /// VFIO_REGION_INFO_FLAG_* bits.
    pub flags: u32,
}

/// An open VFIO device. Keeps its group (and so its container) alive.
#[derive(Debug)]
pub struct Device {
    file: std::fs::File,
    addr: PciAddress,
    config: RegionInfo,
    group: Group,
}

impl Device {
    /// Open the device `addr` in `group`.
    pub fn open(group: Group, addr: &PciAddress) -> Result<Device, Error> {
        let fd: OwnedFd = group.device_fd(addr)?;
        let info = ioctl::device_get_info(fd.as_fd()).map_err(Error::os("VFIO_DEVICE_GET_INFO"))?;
        log::debug!("{addr}: {} regions, {} IRQ types, flags {:#x}", info.num_regions, info.num_irqs, info.flags);
        let file = std::fs::File::from(fd);
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
    pub fn addr(&self) -> PciAddress {
        self.addr
    }

    /// The group the device belongs to.
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// Size, offset and flags of region `index`.
    pub fn region_info(&self, index: u32) -> Result<RegionInfo, Error> {
        let r = ioctl::device_get_region_info(self.file.as_fd(), index)
            .map_err(Error::os("VFIO_DEVICE_GET_REGION_INFO"))?;
        Ok(RegionInfo { size: r.size, offset: r.offset, flags: r.flags })
    }

    /// Map memory BAR `index` (a VFIO region index) for register access.
    pub(crate) fn map_bar(&self, index: u32, min_size: u64) -> Result<Mmio, Error> {
        let info = self.region_info(index)?;
        let bad = |why: String| Error::BadBar { addr: self.addr, why };
        if info.size < min_size {
            return Err(bad(format!("it is {} bytes, the NIC has {min_size}", info.size)));
        }
        if info.flags & VFIO_REGION_INFO_FLAG_MMAP == 0 {
            return Err(bad("VFIO does not allow it to be mmapped".into()));
        }
        Mmio::map(self.file.as_fd(), info.offset, info.size as usize).map_err(|e| bad(format!("mmap failed: {e}")))
    }

    /// Read a 16-bit config-space field.
    pub fn config_read_u16(&self, offset: u64) -> Result<u16, Error> {
        let mut b = [0u8; 2];
        self.file.read_exact_at(&mut b, self.config.offset + offset).map_err(Error::os("reading PCI config space"))?;
        Ok(u16::from_le_bytes(b))
    }

    /// Write a 16-bit config-space field.
    pub(crate) fn config_write_u16(&self, offset: u64, value: u16) -> Result<(), Error> {
        self.file
            .write_all_at(&value.to_le_bytes(), self.config.offset + offset)
            .map_err(Error::os("writing PCI config space"))
    }

    /// Set and clear bits of the PCI command register.
    pub(crate) fn update_command(&self, set: u16, clear: u16) -> Result<u16, Error> {
        let old = self.config_read_u16(config::COMMAND)?;
        let new = (old | set) & !clear;
        if new != old {
            self.config_write_u16(config::COMMAND, new)?;
        }
        log::debug!("{}: PCI command {old:#06x} -> {new:#06x}", self.addr);
        Ok(new)
    }
}
