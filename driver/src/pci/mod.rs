//! PCI: device addresses, what sysfs says about a device, config-space layout.

mod address;
pub mod binding;
pub mod config;
pub mod sysfs;

pub use address::{PciAddress, PciAddressError};
