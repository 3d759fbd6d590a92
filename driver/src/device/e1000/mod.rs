//! The Intel e1000 family: the 82540EM ("e1000") and the 82574L ("e1000e"),
//! the first implementation of [`NicFamily`].
//!
//! An [`E1000`] owns everything the NIC can reach: one device-writable DMA
//! mapping holding both descriptor rings and the receive buffers, and the
//! transmit header buffers in a mapping the device may only read.

pub(crate) mod bringup;
#[cfg(test)]
mod fake;
mod init_82574;
pub(crate) mod link;
pub(crate) mod nvm;
pub(crate) mod phy;
pub(crate) mod regs;
pub(crate) mod semaphore;
pub(crate) mod stats;
mod tx;

use std::sync::Arc;

use regs::Interrupts;
use tx::E1000Tx;
use zcnic_ring::LegacyRxDesc;

use crate::device::register::{RegisterIo, Registers};
use crate::device::rx_queue::{RxQueue, RX_BUFFER_SIZE};
use crate::device::tx_queue::TxQueue;
use crate::device::{
    DeviceModel, HwStats, LinkFacts, LinkInfo, NicConfig, NicFamily, RxStats, TxFrame, TxQueueState, TxStats, Wake,
};
use crate::dma::{self, DmaMapping};
use crate::error::Error;
use crate::mac::MacAddress;
use crate::sys::bar::Bar;
use crate::sys::memory::PAGE;
use crate::vfio::{Container, DmaAccess, IoBar};

/// Where each ring lives in the device-writable mapping.
struct RingLayout {
    tx_desc: usize,
    rx_desc: usize,
    rx_buffers: usize,
    total: usize,
}

impl RingLayout {
    fn new(tx_size: u16, rx_size: u16) -> RingLayout {
        let page = |n: usize| n.div_ceil(PAGE) * PAGE;
        let tx_desc = 0;
        let rx_desc = page(usize::from(tx_size) * 16);
        let rx_buffers = rx_desc + page(usize::from(rx_size) * 16);
        let total = rx_buffers + usize::from(rx_size) * RX_BUFFER_SIZE;
        RingLayout { tx_desc, rx_desc, rx_buffers, total }
    }
}

/// An e1000-family NIC's registers, rings and buffers.
pub(crate) struct E1000 {
    // Field order is drop order: DMA memory is unmapped (the owner has
    // stopped the NIC first) before the register window goes.
    rings: DmaMapping,
    tx: TxQueue<E1000Tx>,
    rx: RxQueue<LegacyRxDesc>,
    regs: Bar,
    /// The I/O-port window, if VFIO offers one (the 82540EM's reset goes through it).
    io: Option<IoBar>,
    model: &'static DeviceModel,
    mac: MacAddress,
    hw_stats: HwStats,
    /// What bring-up did to the PHY, for the log and the no-link error.
    link_tried: String,
}

impl E1000 {
    /// Take over the NIC behind `regs`: quiesce it and allocate its rings
    /// and buffers in `container`. The NIC is not reset nor programmed yet.
    pub(crate) fn new(
        model: &'static DeviceModel,
        regs: Bar,
        io: Option<IoBar>,
        container: &Arc<Container>,
        config: &NicConfig,
    ) -> Result<E1000, Error> {
        bringup::quiesce(&regs);
        let layout = RingLayout::new(config.tx_ring_size, config.rx_ring_size);
        let (rings, kind) = dma::allocate(container, layout.total, DmaAccess::DeviceReadsWrites)?;
        log::debug!("rings at IOVA {:#x} ({kind:?})", rings.iova());
        let tx = TxQueue::new(container, config.tx_ring_size, layout.tx_desc, regs::TDT)?;
        let rx = RxQueue::new(config.rx_ring_size, layout.rx_desc, layout.rx_buffers, regs::RDT)?;
        Ok(E1000 {
            rings,
            tx,
            rx,
            regs,
            io,
            model,
            mac: MacAddress::default(),
            hw_stats: HwStats::default(),
            link_tried: String::new(),
        })
    }
}

/// The e1000 interrupt causes that wake a waiter for `wake`.
fn causes_for(wake: Wake) -> Interrupts {
    let mut causes = Interrupts::LSC;
    if wake.contains(Wake::TX_DONE) {
        causes |= Interrupts::TXDW;
    }
    if wake.contains(Wake::RX) {
        causes |= Interrupts::RXT0 | Interrupts::RXO | Interrupts::RXDMT0;
    }
    causes
}

fn wake_for(causes: Interrupts) -> Wake {
    let mut wake = Wake::empty();
    wake.set(Wake::TX_DONE, causes.contains(Interrupts::TXDW));
    wake.set(Wake::RX, causes.intersects(Interrupts::RXT0 | Interrupts::RXO | Interrupts::RXDMT0));
    wake.set(Wake::LINK, causes.contains(Interrupts::LSC));
    wake
}

impl NicFamily for E1000 {
    fn model(&self) -> &'static DeviceModel {
        self.model
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    fn reset(&mut self) -> Result<(), Error> {
        let io = self.io.as_ref().map(|io| io as &dyn RegisterIo);
        bringup::reset(&self.regs, self.model, io)
    }

    fn program(&mut self, config: &NicConfig) -> Result<(), Error> {
        let regs = &self.regs;
        let model = self.model;
        bringup::setup_link(regs, model, config.link_mode);
        if model.is_82574() {
            init_82574::apply(regs);
        }
        self.link_tried = phy::report_and_bring_up(regs, model, config.link_mode)?;
        self.mac = nvm::read_mac(regs, model, config.accept_bad_eeprom_checksum)?;
        log::info!("MAC {} from the EEPROM (checksum verified)", self.mac);
        bringup::program_mac(regs, self.mac);
        bringup::clear_multicast_table(regs);
        bringup::program_flow_control(regs, model);
        let tx_view = self.tx.descriptors(&self.rings);
        bringup::configure_tx(regs, self.model, tx_view.iova(), tx_view.byte_len() as u32);
        let rx_view = self.rx.descriptors(&self.rings);
        bringup::configure_rx(regs, rx_view.iova(), rx_view.byte_len() as u32);
        let rdt = self.rx.init(&self.rings);
        regs.write(regs::RDT, u32::from(rdt));
        bringup::set_interrupt_throttle(regs);
        bringup::clear_statistics(regs);
        Ok(())
    }

    fn enable(&mut self, config: &NicConfig) {
        let (rx_pause, tx_pause) = link::negotiated_pause(&self.regs, self.model, config.link_mode);
        bringup::apply_pause(&self.regs, self.model, rx_pause, tx_pause);
        bringup::enable_tx(&self.regs);
        bringup::enable_rx(&self.regs, config.promiscuous);
    }

    fn stop(&mut self) {
        bringup::stop(&self.regs, self.model);
    }

    fn link_up(&self) -> bool {
        bringup::link_up(&self.regs)
    }

    fn link_info(&self) -> LinkInfo {
        link::info(&self.regs, self.model)
    }

    fn link_facts(&self) -> LinkFacts {
        link::facts(&self.regs, self.model, &self.link_tried)
    }

    fn tx_room(&self, payload_segments: usize) -> usize {
        self.tx.room(payload_segments)
    }

    fn tx_fits(&self, frame: &TxFrame<'_>) -> bool {
        self.tx.fits(frame)
    }

    fn tx_header_buffer(&mut self) -> Option<&mut [u8]> {
        self.tx.header_buffer()
    }

    fn tx_post(&mut self, frame: &TxFrame<'_>) -> Result<(), Error> {
        self.tx.post(&self.rings, frame)
    }

    fn tx_doorbell(&mut self) -> bool {
        self.tx.doorbell(&self.rings, &self.regs)
    }

    fn tx_reclaim(&mut self) -> u64 {
        self.tx.reclaim(&self.rings)
    }

    fn tx_state(&self) -> TxQueueState {
        let ring = self.tx.ring();
        TxQueueState {
            in_flight: ring.in_flight(),
            head: ring.check_head(self.regs.read(regs::TDH)),
            tail: ring.next_to_use(),
        }
    }

    fn tx_forget(&mut self) {
        self.tx.forget();
    }

    fn rx_ready(&self) -> bool {
        self.rx.has_completed(&self.rings)
    }

    fn rx_burst(&mut self, max: usize, on_frame: &mut dyn FnMut(&[u8])) -> usize {
        self.rx.burst(&self.rings, &self.regs, max, on_frame)
    }

    fn arm_interrupts(&mut self, wake: Wake) {
        self.regs.write(regs::IMS, causes_for(wake));
    }

    fn mask_interrupts(&mut self) {
        self.regs.write(regs::IMC, Interrupts::from_bits_retain(u32::MAX));
    }

    fn take_interrupt_causes(&mut self) -> Wake {
        wake_for(self.regs.take(regs::ICR))
    }

    fn counters(&self) -> (TxStats, RxStats) {
        (self.tx.stats(), self.rx.stats())
    }

    fn hw_stats(&mut self) -> HwStats {
        stats::accumulate(&mut self.hw_stats, &self.regs);
        self.hw_stats
    }

    fn queue_count(&self) -> usize {
        1
    }

    fn split(&mut self) -> Vec<Box<dyn NicFamily>> {
        unreachable!("an e1000-family NIC has one queue")
    }
}
