//! Descriptor layouts and ring index logic for Intel e1000-family NICs (the
//! legacy and extended formats of the 8254x/8257x, the advanced formats of
//! the 82576).
//!
//! This crate makes no system calls and touches no device. The memory that
//! holds descriptors is reached only through the [`DescriptorMemory`] trait:
//! the driver implements it over DMA memory with volatile accesses, and tests
//! and benchmarks implement it over a plain `Vec` while playing the NIC's side.
//! That split lets every index rule (wrap-around, free count, batch cleanup) be
//! tested exhaustively with no hardware at all.
//!
//! Descriptors the NIC writes back are read status first: the status byte on
//! its own through [`DescriptorMemory::read_status`], and only once it shows
//! DD (which the NIC writes last, vouching for the rest) an acquire fence and
//! the whole descriptor. A whole-descriptor read is several loads in no fixed
//! order, so it alone could pair a fresh DD with a stale length.
//!
//! Data path, TX: the driver writes a [`TxDesc`] per frame with
//! [`TxRing::push`], closes the batch with [`TxRing::close_batch`] (which sets
//! RS on the batch's last descriptor and returns the value for the TDT
//! doorbell), and later frees whole batches with [`TxRing::reclaim`] once the
//! NIC has written DD back on a batch's last descriptor.
//!
//! Data path, RX: every descriptor but one carries a buffer for the NIC.
//! [`RxRing::next_completed`] checks the next descriptor for DD, validates what
//! the NIC wrote back (length, EOP, error bits) and says which slot holds a
//! good frame or why it was dropped; [`RxRing::refill`] hands the processed
//! slots back and returns the value for the single RDT doorbell of the batch.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod adv;
pub mod desc;
pub mod memory;
pub mod rx;
pub mod tx;

pub use adv::{AdvContext, AdvRxDesc, AdvRxErrors, AdvRxStatus, AdvTxCmd, AdvTxDesc, AdvTxPopts, RssType};
pub use desc::{
    Descriptor, LegacyRxDesc, RxDescriptor, RxErrors, RxStatus, TxCmd, TxDesc, TxDescriptor, TxPopts, TxStatus,
};
pub use memory::{DescriptorMemory, VecMemory};
pub use rx::{RxCompletion, RxDrop, RxRing};
pub use tx::{Reclaimed, RingSizeError, TxRing};
