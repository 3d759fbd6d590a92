//! PCI configuration space: the few fields zcnic uses.

/// Offset of the 16-bit command register.
pub(crate) const COMMAND: u64 = 0x04;

/// Command register: respond to memory-space accesses (BAR0 MMIO).
pub(crate) const COMMAND_MEMORY: u16 = 1 << 1;
/// Command register: the device may master the bus (DMA).
pub(crate) const COMMAND_BUS_MASTER: u16 = 1 << 2;

/// Offset of the first base address register (six 32-bit BARs follow).
pub(crate) const BAR0: u64 = 0x10;
/// Offset of the capability list pointer.
pub(crate) const CAPABILITY_LIST: u64 = 0x34;
/// Capability ID of PCI Express.
pub(crate) const CAP_ID_PCIE: u8 = 0x10;
/// Link Control, from the start of the PCI Express capability.
pub(crate) const PCIE_LINK_CONTROL: u64 = 0x10;
/// Link Control: ASPM L0s (bit 0) and L1 (bit 1) enable.
pub(crate) const LINK_CONTROL_ASPM: u16 = 0b11;
