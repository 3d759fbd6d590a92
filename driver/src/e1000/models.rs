//! The NICs zcnic drives, and what differs between them.

/// How the EEPROM read register (EERD) is laid out on a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EerdLayout {
    /// Bit that starts a read.
    pub start: u32,
    /// Bit the NIC sets when the data is there.
    pub done: u32,
    /// Shift of the word address.
    pub addr_shift: u32,
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
    /// EERD layout.
    pub eerd: EerdLayout,
    /// Whether this is the 82574L (PCIe, e1000e), which needs a few extra bits.
    pub is_82574: bool,
}

/// Every NIC zcnic drives.
pub const SUPPORTED_DEVICES: &[DeviceModel] = &[
    DeviceModel {
        vendor_id: 0x8086,
        device_id: 0x100e,
        name: "82540EM",
        family: "e1000",
        eerd: EerdLayout { start: 1 << 0, done: 1 << 4, addr_shift: 8 },
        is_82574: false,
    },
    DeviceModel {
        vendor_id: 0x8086,
        device_id: 0x10d3,
        name: "82574L",
        family: "e1000e",
        eerd: EerdLayout { start: 1 << 0, done: 1 << 1, addr_shift: 2 },
        is_82574: true,
    },
];
