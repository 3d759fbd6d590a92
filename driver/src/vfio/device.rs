//! A VFIO device: its regions (BAR0, config space) and the PCI command register.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use vfio_bindings::bindings::vfio::{
    VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR5_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX, VFIO_REGION_INFO_FLAG_MMAP,
    VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
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

    /// The device's first I/O-port BAR, if it has one VFIO lets us read and
    /// write (the 82540EM's IOADDR/IODATA window).
    pub(crate) fn io_bar(&self) -> Result<Option<IoBar>, Error> {
        for index in VFIO_PCI_BAR0_REGION_INDEX..=VFIO_PCI_BAR5_REGION_INDEX {
            let mut bar = [0u8; 4];
            let at = self.config.offset + config::BAR0 + 4 * u64::from(index - VFIO_PCI_BAR0_REGION_INDEX);
            self.file.read_exact_at(&mut bar, at).map_err(Error::os("reading PCI config space"))?;
            // Bit 0 of a BAR register set: it decodes I/O space, not memory.
            if u32::from_le_bytes(bar) & 1 == 0 {
                continue;
            }
            let info = self.region_info(index)?;
            let rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
            if info.size >= 8 && info.flags & rw == rw {
                return Ok(Some(IoBar { file: Arc::clone(&self.file), offset: info.offset }));
            }
        }
        Ok(None)
    }

    /// Turn off ASPM L0s and L1 in the device's PCIe Link Control register
    /// (the 82574L's errata: with ASPM its PCIe completions are unreliable).
    /// Returns the ASPM bits (0-1) before and after, or `None` if the device
    /// has no PCIe capability. VFIO may refuse the write; the caller logs
    /// what read back.
    pub(crate) fn disable_aspm(&self) -> Result<Option<(u16, u16)>, Error> {
        let Some(cap) = self.find_capability(config::CAP_ID_PCIE)? else {
            return Ok(None);
        };
        let at = self.config.offset + u64::from(cap) + config::PCIE_LINK_CONTROL;
        let before = read_config_u16(&self.file, at)?;
        let wanted = before & !config::LINK_CONTROL_ASPM;
        if wanted != before {
            self.file.write_all_at(&wanted.to_le_bytes(), at).map_err(Error::os("writing PCI config space"))?;
        }
        let after = read_config_u16(&self.file, at)?;
        Ok(Some((before & config::LINK_CONTROL_ASPM, after & config::LINK_CONTROL_ASPM)))
    }

    /// The config-space offset of capability `id`, walking the list from 0x34
    /// (bounded: a looping list ends after 48 hops).
    fn find_capability(&self, id: u8) -> Result<Option<u8>, Error> {
        let mut b = [0u8; 1];
        self.file
            .read_exact_at(&mut b, self.config.offset + config::CAPABILITY_LIST)
            .map_err(Error::os("reading PCI config space"))?;
        let mut at = b[0] & !3;
        for _ in 0..48 {
            if at < 0x40 {
                return Ok(None);
            }
            let mut cap = [0u8; 2];
            self.file
                .read_exact_at(&mut cap, self.config.offset + u64::from(at))
                .map_err(Error::os("reading PCI config space"))?;
            if cap[0] == id {
                return Ok(Some(at));
            }
            at = cap[1] & !3;
        }
        Ok(None)
    }

    /// A handle that can turn bus mastering off without the device itself.
    pub(crate) fn bus_master(&self) -> BusMaster {
        BusMaster { file: Arc::clone(&self.file), config_offset: self.config.offset, addr: self.addr }
    }
}

/// An I/O-port BAR with the e1000 family's indirect register window: a
/// register's offset is written to IOADDR (byte 0 of the BAR), then its value
/// is read from or written to IODATA (byte 4). VFIO forwards each access.
#[derive(Debug)]
pub(crate) struct IoBar {
    file: Arc<File>,
    offset: u64,
}

impl IoBar {
    fn port_write(&self, port: u64, value: u32) {
        if let Err(e) = self.file.write_all_at(&value.to_le_bytes(), self.offset + port) {
            log::error!("I/O BAR write at +{port} failed: {e}");
        }
    }

    /// Write register `reg` through the window.
    pub(crate) fn write_register(&self, reg: u32, value: u32) {
        self.port_write(0, reg);
        self.port_write(4, value);
    }

    /// Read register `reg` through the window.
    pub(crate) fn read_register(&self, reg: u32) -> u32 {
        self.port_write(0, reg);
        let mut b = [0u8; 4];
        match self.file.read_exact_at(&mut b, self.offset + 4) {
            Ok(()) => u32::from_le_bytes(b),
            Err(e) => {
                log::error!("I/O BAR read failed: {e}");
                u32::MAX
            }
        }
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
