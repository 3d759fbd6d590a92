//! The NIC parts zcnic drives, across families, and what differs between them.

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

/// Which part a model is: what the family code branches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// 82540EM (QEMU's `e1000`): PCI, legacy descriptors, INTx.
    I82540EM,
    /// 82574L (QEMU's `e1000e`): PCIe, MSI/MSI-X, a few errata.
    I82574L,
    /// 82576 (QEMU's `igb`): advanced descriptors, 16 queues, MSI-X.
    I82576,
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
    /// The part.
    pub(crate) part: Part,
}

impl DeviceModel {
    /// Whether ASPM L0s/L1 must be off (the 82574L's errata, as Linux's
    /// e1000e flags it).
    pub(crate) fn needs_aspm_off(&self) -> bool {
        self.part == Part::I82574L
    }

    /// Whether this is the 82574L (PCIe, e1000e), which needs a few extra bits.
    pub(crate) fn is_82574(&self) -> bool {
        self.part == Part::I82574L
    }

    /// Whether this part belongs to the igb family (advanced descriptors).
    pub(crate) fn is_igb(&self) -> bool {
        self.part == Part::I82576
    }

    /// Its PCI vendor and device ID.
    pub fn pci_id(&self) -> PciId {
        PciId { vendor: self.vendor_id, device: self.device_id }
    }
}

/// Every NIC zcnic drives.
pub(crate) const SUPPORTED_DEVICES: &[DeviceModel] = &[
    DeviceModel {
        vendor_id: 0x8086,
        device_id: 0x100e,
        name: "82540EM",
        family: "e1000",
        bar0_size: 128 * 1024,
        eerd: EerdLayout { start: 1 << 0, done: 1 << 4, addr_shift: 8 },
        part: Part::I82540EM,
    },
    DeviceModel {
        vendor_id: 0x8086,
        device_id: 0x10d3,
        name: "82574L",
        family: "e1000e",
        bar0_size: 128 * 1024,
        eerd: EerdLayout { start: 1 << 0, done: 1 << 1, addr_shift: 2 },
        part: Part::I82574L,
    },
    DeviceModel {
        vendor_id: 0x8086,
        device_id: 0x10c9,
        name: "82576",
        family: "igb",
        bar0_size: 128 * 1024,
        eerd: EerdLayout { start: 1 << 0, done: 1 << 1, addr_shift: 2 },
        part: Part::I82576,
    },
];
