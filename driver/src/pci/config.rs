//! PCI configuration space: the few fields zcnic uses.

/// Offset of the 16-bit vendor ID.
pub const VENDOR_ID: u64 = 0x00;
/// Offset of the 16-bit device ID.
pub const DEVICE_ID: u64 = 0x02;
/// Offset of the 16-bit command register.
pub const COMMAND: u64 = 0x04;

/// Command register: respond to memory-space accesses (BAR0 MMIO).
pub const COMMAND_MEMORY: u16 = 1 << 1;
/// Command register: the device may master the bus (DMA).
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;
/// Command register: INTx assertion disabled.
pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;
