//! The e1000-family parts zcnic drives, and what differs between them.

use crate::pci::PciId;

/// How the EEPROM read register (EERD) is laid out on a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EerdLayout {
    /// Bit that starts a read.
    pub(crate) start: u32,
    /// Bit the NIC sets when the data is there.
    pub(crate) done: u32,
    /// Shift of the word address.
    pub(crate) addr_shift: u32,
}

/// One supported NIC model.
#[derive(Debug, PartialEq, Eq)]
pub struct DeviceModel {
    /// PCI vendor ID.
    pub vendor_id: u16,
    /// PCI device ID.
    pub device_id: u16,
    /// Intel's part name.
    pub name: &'static str,
    /// Linux driver family (and QEMU device name).
    pub family: &'static str,
    /// Size of BAR0, the register window.
    pub(crate) bar0_size: u64,
    /// EERD layout.
    pub(crate) eerd: EerdLayout,
    /// Whether this is the 82574L (PCIe, e1000e), which needs a few extra bits.
    pub(crate) is_82574: bool,
}

impl DeviceModel {
    /// Whether ASPM L0s/L1 must be off (the 82574L's errata, as Linux's
    /// e1000e flags it).
    pub(crate) fn needs_aspm_off(&self) -> bool {
        self.is_82574
    }

    /// Its PCI vendor and device ID.
    pub fn pci_id(&self) -> PciId {
        PciId { vendor: self.vendor_id, device: self.device_id }
    }
}

/// Every e1000-family NIC zcnic drives.
pub(crate) const SUPPORTED_DEVICES: &[DeviceModel] = &[
    DeviceModel {
        vendor_id: 0x8086,
        device_id: 0x100e,
        name: "82540EM",
        family: "e1000",
        bar0_size: 128 * 1024,
        eerd: EerdLayout { start: 1 << 0, done: 1 << 4, addr_shift: 8 },
        is_82574: false,
    },
    DeviceModel {
        vendor_id: 0x8086,
        device_id: 0x10d3,
        name: "82574L",
        family: "e1000e",
        bar0_size: 128 * 1024,
        eerd: EerdLayout { start: 1 << 0, done: 1 << 1, addr_shift: 2 },
        is_82574: true,
    },
];
