//! The device layer: NICs, and the one seam every NIC family implements.
//!
//! [`Nic`] is what a program holds: it opens the PCI function through VFIO,
//! picks the family that drives it, owns the interrupt and the bus-mastering
//! switch, and runs the wait loop that polls while traffic flows and sleeps on
//! the interrupt when it does not. What differs between NIC families sits
//! behind [`NicFamily`]: registers, bring-up, descriptor formats, TX and RX
//! queues, interrupt causes, statistics. The e1000 family (82540EM, 82574L) is
//! the first implementation.
//!
//! This layer knows frames, not protocols: a frame to send is a header buffer
//! the CPU fills, payload spans of DMA memory, and an optional checksum
//! offload described by byte offsets. Ethernet, ARP, IP and UDP live in `net`.

mod batch;
pub(crate) mod e1000;
pub(crate) mod frame;
pub(crate) mod igb;
mod link;
pub(crate) mod models;
mod nic;
pub(crate) mod register;
mod rx_queue;
mod stats;
mod stop;
mod tx_queue;

pub use batch::TxBatch;
pub(crate) use frame::{ChecksumOffload, L4Protocol, TxFrame};
pub(crate) use link::LinkFacts;
pub use link::{LinkInfo, LinkMode};
pub(crate) use nic::DmaStopper;
pub use nic::{Nic, NicConfig};
pub use stats::{Counters, HwStats, RxStats, TxStats};
pub use stop::StopFlag;

pub use models::DeviceModel;
pub(crate) use models::Part;

use crate::error::Error;
use crate::mac::MacAddress;

/// Length of the Ethernet header every frame starts with (no VLAN tag).
pub const ETH_HEADER_LEN: usize = 14;
/// Largest frame accepted: 1500-byte MTU plus the Ethernet header (FCS excluded).
pub const MAX_FRAME_LEN: usize = 1514;
/// Smallest frame on the wire without FCS; shorter frames are zero-padded to it.
pub const MIN_FRAME_LEN: usize = 60;

/// Every NIC model zcnic drives, across families.
pub fn supported_devices() -> impl Iterator<Item = &'static DeviceModel> {
    models::SUPPORTED_DEVICES.iter()
}

/// The model with this PCI vendor and device ID, if zcnic drives it.
pub fn find_model(vendor: u16, device: u16) -> Option<&'static DeviceModel> {
    supported_devices().find(|m| m.vendor_id == vendor && m.device_id == device)
}

/// The models zcnic drives, named, for messages: "8086:100e (82540EM, e1000), ...".
pub(crate) fn supported_list() -> String {
    supported_devices().map(|m| format!("{} ({}, {})", m.pci_id(), m.name, m.family)).collect::<Vec<_>>().join(", ")
}

bitflags::bitflags! {
    /// Events a waiting thread can be woken by.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Wake: u8 {
        /// The NIC completed transmit descriptors.
        const TX_DONE = 1 << 0;
        /// A frame arrived (or the receive ring is running low).
        const RX = 1 << 1;
        /// The link went up or down.
        const LINK = 1 << 2;
    }
}

/// The transmit queue's state, for a hang report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxQueueState {
    /// Descriptors posted and not completed.
    pub(crate) in_flight: u16,
    /// The head the NIC reports, if it lies inside the ring.
    pub(crate) head: Option<u16>,
    /// The tail last written.
    pub(crate) tail: u16,
}

/// What a NIC family implements. The e1000 family is the first; a second
/// family (the igb, with advanced descriptors and several queues) implements
/// the same methods, and nothing above this layer needs to know which it is.
///
/// Payload spans handed to [`tx_post`](Self::tx_post) are IOVAs of live DMA
/// mappings; the caller keeps those mappings alive until the frame has
/// completed (see `file_tx`), or stops the NIC's DMA before releasing them.
pub(crate) trait NicFamily: Send {
    /// The model.
    fn model(&self) -> &'static DeviceModel;
    /// The station address the NIC was programmed with.
    fn mac(&self) -> MacAddress;

    /// Reset the NIC; interrupts masked, RX and TX off before and after.
    fn reset(&mut self) -> Result<(), Error>;
    /// Program every register for operation, TX and RX still off, rings empty.
    fn program(&mut self, config: &NicConfig) -> Result<(), Error>;
    /// Turn transmit and receive on (bus mastering is on by now).
    fn enable(&mut self, config: &NicConfig);
    /// Stop all DMA the NIC starts on its own: interrupts masked, RX and TX off.
    fn stop(&mut self);
    /// Whether the link is up now.
    fn link_up(&self) -> bool;
    /// The link's speed, duplex, flow control and PHY, now.
    fn link_info(&self) -> LinkInfo;
    /// What the MAC and PHY show, for an error when the link stays down.
    fn link_facts(&self) -> LinkFacts;

    /// How many more frames of `payload_segments` spans (each at most one
    /// MTU) fit in the TX ring now.
    fn tx_room(&self, payload_segments: usize) -> usize;
    /// Whether `frame` (any size, TSO included) fits in the TX ring now.
    fn tx_fits(&self, frame: &TxFrame<'_>) -> bool;
    /// The buffer for the next frame's headers (or whole frame), [`MAX_FRAME_LEN`]
    /// bytes, or `None` if the ring is full. Fill it from byte 0, then post.
    fn tx_header_buffer(&mut self) -> Option<&mut [u8]>;
    /// Queue the frame whose headers are in the last header buffer.
    fn tx_post(&mut self, frame: &TxFrame<'_>) -> Result<(), Error>;
    /// Hand everything posted to the NIC (one tail write); whether there was anything.
    fn tx_doorbell(&mut self) -> bool;
    /// Collect completions; returns how many frames completed.
    fn tx_reclaim(&mut self) -> u64;
    /// The transmit queue's state.
    fn tx_state(&self) -> TxQueueState;
    /// Forget every posted descriptor (after a reset): the ring starts empty.
    fn tx_forget(&mut self);

    /// Whether a received frame is waiting.
    fn rx_ready(&self) -> bool;
    /// Hand up to `max` received frames to `on_frame`, give their buffers back.
    fn rx_burst(&mut self, max: usize, on_frame: &mut dyn FnMut(&[u8])) -> usize;

    /// Enable the interrupt causes behind `wake` (link changes always).
    fn arm_interrupts(&mut self, wake: Wake);
    /// Mask every interrupt cause.
    fn mask_interrupts(&mut self);
    /// Read and clear the pending causes (this deasserts INTx).
    fn take_interrupt_causes(&mut self) -> Wake;

    /// Driver-side counters of the transmit and receive paths.
    fn counters(&self) -> (TxStats, RxStats);
    /// The NIC's own statistics, accumulated since bring-up.
    fn hw_stats(&mut self) -> HwStats;

    /// Queue pairs brought up.
    fn queue_count(&self) -> usize;
    /// Hand out one object per queue pair, each driving its queue alone,
    /// leaving this one spent: it owns no queue any more and stopping it
    /// does nothing (the queues stop themselves). Only for several queues.
    fn split(&mut self) -> Vec<Box<dyn NicFamily>>;
    /// The one interrupt vector this object's waits sleep on, if not all.
    fn interrupt_vector(&self) -> Option<usize> {
        None
    }
    /// The RX queue receive-side scaling puts a TCP or UDP datagram from
    /// `src` to `dst` on, if the NIC spreads flows over several.
    fn rss_queue(&self, _src: std::net::SocketAddrV4, _dst: std::net::SocketAddrV4) -> Option<usize> {
        None
    }
}
