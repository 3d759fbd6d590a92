//! PCI: device addresses and IDs, what sysfs says about a device, and the
//! config-space fields zcnic touches.

pub(crate) mod address;
pub(crate) mod config;
pub mod sysfs;

pub use address::{PciAddress, PciAddressError};

/// A PCI vendor and device ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PciId {
    /// Vendor ID (0x8086 for Intel).
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
}

impl std::fmt::Display for PciId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor, self.device)
    }
}
