//! PCI configuration space: the few fields zcnic uses.

/// Offset of the 16-bit command register.
pub(crate) const COMMAND: u64 = 0x04;

/// Command register: respond to memory-space accesses (BAR0 MMIO).
pub(crate) const COMMAND_MEMORY: u16 = 1 << 1;
/// Command register: the device may master the bus (DMA).
pub(crate) const COMMAND_BUS_MASTER: u16 = 1 << 2;
