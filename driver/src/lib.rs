//! zcnic's driver: a NIC driven from an ordinary process through Linux VFIO,
//! sending files with no copies (the NIC reads the payload straight from the
//! page cache).
//!
//! # Sending a file
//!
//! ```no_run
//! use std::net::SocketAddrV4;
//! use std::time::Duration;
//! use zcnic_driver::{resolve_mac, FileSend, FileSource, Nic, NicConfig, UdpFlow};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut nic = Nic::open(&"0000:00:02.0".parse()?, &NicConfig::default())?;
//! let src: SocketAddrV4 = "10.0.0.1:47000".parse()?;
//! let dst: SocketAddrV4 = "10.0.0.2:9000".parse()?;
//! let dst_mac = resolve_mac(&mut nic, *src.ip(), *dst.ip(), 3, Duration::from_secs(1))?;
//! let flow = UdpFlow::new(nic.mac(), src, dst_mac, dst);
//!
//! let file = FileSource::open("big.iso".as_ref())?;
//! let report = FileSend::new(&file, flow).on_progress(|done| eprint!("\r{done} bytes")).send(&mut nic)?;
//! println!("{} bytes in {} datagrams", report.bytes_sent, report.datagrams);
//! # Ok(()) }
//! ```
//!
//! # Sending frames you build
//!
//! ```no_run
//! # use zcnic_driver::{Nic, NicConfig};
//! # fn main() -> Result<(), zcnic_driver::Error> {
//! let mut nic = Nic::open(&"0000:00:02.0".parse()?, &NicConfig::default())?;
//! let mac = nic.mac();
//! let mut batch = nic.tx_batch()?;
//! if let Some(buf) = batch.frame_buffer() {
//!     buf[..6].fill(0xff); // broadcast
//!     buf[6..12].copy_from_slice(&mac.0);
//!     buf[12..14].copy_from_slice(&[0x88, 0xb5]);
//!     batch.push(60)?;
//! }
//! batch.send()?;
//! nic.wait_tx_done(std::time::Duration::from_secs(1))?;
//! # Ok(()) }
//! ```
//!
//! # Layers
//!
//! Each module imports only from the layers below it (a test checks this):
//!
//! ```text
//! file_tx   zero-copy file send: file windows pinned read-only, the send loop
//! net       Ethernet/ARP/IPv4/UDP headers, the ARP resolver    binding (bind/unbind)
//! device    Nic, the NicFamily seam, typed registers, the e1000 family
//! dma       DMA mappings and spans, descriptor rings in DMA memory
//! vfio      container + IOVA allocator, group, device, interrupts     pci (sysfs)
//! sys       every FFI call: BAR, mmap/mprotect, VFIO ioctls, eventfd, getifaddrs
//! ```
//!
//! The `unsafe` code lives in `sys` (and a few lines of `dma`): no safe public
//! API can point the NIC at an address, and the IOMMU maps nothing but the
//! driver's own memory and the file windows it sends.

#![deny(missing_docs)]
// IOVA range lists often hold one range; that is not a typo for a range of values.
#![allow(clippy::single_range_in_vec_init)]

// DMA ordering: the driver relies on x86-64's ordering of stores to ordinary
// memory before a store to device memory (a compiler fence before each
// doorbell is enough there). Other architectures need real barriers
// (dma_wmb/rmb in Linux), which zcnic does not have yet.
#[cfg(not(target_arch = "x86_64"))]
compile_error!("zcnic's driver supports x86-64 only: its DMA ordering relies on x86-64 memory ordering (see lib.rs)");

mod sys;

pub mod pci;
mod vfio;

mod dma;

mod device;

pub mod binding;
pub mod net;

mod file_tx;

#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod test_hooks;

mod error;
mod mac;

pub use device::{
    supported_devices, Counters, DeviceModel, HwStats, LinkInfo, LinkMode, Nic, NicConfig, RxStats, StopFlag, TxBatch,
    TxStats, ETH_HEADER_LEN, MAX_FRAME_LEN, MIN_FRAME_LEN,
};
pub use error::{Error, GroupMember, NetworkController};
pub use file_tx::{
    Application, FileSend, FileSendConfig, FileSendReport, FileSource, Outgoing, ProcessIoDelta, ServerConfig,
    ServerStats, TcpFileServer, DEFAULT_WINDOW_BYTES, PINNED_WINDOWS,
};
pub use mac::{MacAddress, MacParseError};
pub use net::arp::resolve_mac;
pub use net::udp::UdpFlow;
pub use pci::{PciAddress, PciId};
pub use sys::host::MemoryStatus;
pub use vfio::{live_dma_mappings, locked_memory_peak, time_mapping_dma, IrqChoice, IrqMode};

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
