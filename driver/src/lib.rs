//! zcnic's driver: VFIO, PCI, DMA memory and the Intel e1000/e1000e device.
//!
//! This is the only crate of zcnic that touches the kernel's VFIO interface,
//! device registers and DMA memory; the `unsafe` lives in a few small modules:
//! `vfio::ioctl` (the raw ioctls), `mmio` (BAR0 register access) and
//! [`dma`] (pinned memory the NIC reads and writes). Register access and the
//! raw ioctls are private to the crate: no safe API outside it can point the
//! NIC at an address, and the IOMMU maps nothing but the driver's own regions.
//!
//! The data path, top to bottom:
//!
//! ```text
//! caller builds a frame ──> TxBatch::frame_buffer  (DMA buffer, device-read-only)
//!                         ──> TxBatch::push         (descriptor into the TX ring)
//!                         ──> TxBatch::send         (one TDT doorbell per batch)
//!                         ──> NIC reads descriptor + buffer through the IOMMU ──> wire
//! ```
//!
//! A minimal sender:
//!
//! ```no_run
//! use zcnic_driver::{Nic, NicConfig, PciAddress};
//! # fn main() -> Result<(), zcnic_driver::Error> {
//! let addr: PciAddress = "0000:00:02.0".parse()?;
//! let mut nic = Nic::open(&addr, &NicConfig::default())?;
//! let mac = nic.mac();
//! let mut batch = nic.tx_batch();
//! if let Some(buf) = batch.frame_buffer() {
//!     buf[..6].fill(0xff);                  // broadcast
//!     buf[6..12].copy_from_slice(&mac.0);   // from our MAC
//!     buf[12..14].copy_from_slice(&[0x88, 0xb5]);
//!     batch.push(60)?;
//! }
//! batch.send();
//! nic.wait_tx_done(std::time::Duration::from_secs(1))?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
// IOVA range lists often hold one range; that is not a typo for a range of values.
#![allow(clippy::single_range_in_vec_init)]

pub mod dma;
pub mod e1000;
mod error;
pub mod file_tx;
pub mod mac;
pub(crate) mod mmio;
pub mod net;
pub mod pci;
pub mod syscalls;
pub mod vfio;

pub use e1000::{Counters, DeviceModel, HwStats, Nic, NicConfig, RxStats, TxBatch, TxStats, SUPPORTED_DEVICES};
pub use error::Error;
pub use file_tx::{FileSendConfig, FileSendReport, FileSource};
pub use mac::MacAddress;
pub use pci::PciAddress;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
