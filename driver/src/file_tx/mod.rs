//! Zero-copy file transmit: a file's page cache goes on the wire as UDP/IPv4
//! datagrams without the CPU reading or writing a byte of it.
//!
//! ```text
//! file ──mmap(PROT_READ)──> window ──VFIO_IOMMU_MAP_DMA(READ)──> IOVA span
//!                              │ mprotect(PROT_NONE): the CPU cannot touch it now
//!                              ▼
//! headers (42 B, CPU-written) + payload span (IOVA into the window)
//!                              ▼
//!              Nic::tx_post ──one doorbell per batch──> NIC ──> wire
//! ```
//!
//! The file is mapped a window at a time (32 MiB by default). A helper thread
//! maps and pins the next window while the current one is being sent; a window
//! is unmapped from the IOMMU as soon as the NIC has completed its last
//! datagram, and the helper pins a window only with a permit from a budget of
//! two, so pinned memory never exceeds two windows whatever the file's size.
//! IPv4 and UDP checksums are computed by the NIC (the CPU seeds the UDP
//! pseudo-header sum).
//!
//! Over TCP ([`TcpFileServer`]) a file is a range of a connection's stream,
//! pinned a window at a time when first sent and kept until acknowledged.

mod budget;
mod measure;
mod pinned;
mod sender;
mod source;
mod tcp_server;
mod window;

pub use measure::ProcessIoDelta;
#[cfg(feature = "fault-injection")]
pub(crate) use pinned::PinnedFile;
pub use sender::{FileSend, FileSendConfig, FileSendReport, DEFAULT_WINDOW_BYTES, PINNED_WINDOWS};
pub use source::FileSource;
pub use tcp_server::{Application, Outgoing, ServerConfig, ServerStats, TcpFileServer};
