//! The Intel 82576 ("igb"), the second implementation of [`NicFamily`].
//!
//! The 82576 keeps the e1000 family's MAC core (PHY over MDIC, NVM over EERD,
//! the address filter, flow control, statistics, ICR/IMS for link changes),
//! which this module uses from `e1000`. What is its own: sixteen queue pairs
//! with their registers in a new block, advanced descriptors (only those:
//! the model and the datasheet's TX offloads want them), a context that
//! serves many TSO frames, and MSI-X with causes routed to vectors through
//! IVAR. zcnic drives queue 0 with one vector for it and one for the link.
//!
//! An [`Igb`] owns what the NIC can reach: one device-writable DMA mapping
//! holding both rings and the receive buffers, and the transmit header
//! buffers in a mapping the device may only read.

pub(crate) mod bringup;
pub(crate) mod regs;
mod rss;
mod tx;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use zcnic_ring::AdvRxDesc;

use self::bringup::Routing;
use self::rss::RssConfig;
use self::tx::IgbTx;
use crate::device::e1000::bringup::poll_until;
use crate::device::e1000::{self, link, nvm, phy};
use crate::device::register::Registers;
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
use crate::vfio::{Container, DmaAccess, IrqMode};
use e1000::regs::{Interrupts, Rah, Status};
use regs::{Rxdctl, Txdctl};

/// MSI-X vectors for `queues` queue pairs: one each, and one for the other
/// causes (link changes), which comes last.
pub(crate) fn msix_vectors(queues: u16) -> u32 {
    u32::from(queues) + 1
}

/// How long a disabled queue may take to show it has stopped.
const QUEUE_DISABLE_TIMEOUT: Duration = Duration::from_millis(10);

/// One queue pair: its rings and receive buffers (one device-writable
/// mapping), its TX header buffers.
struct QueuePair {
    index: u32,
    // Field order is drop order: DMA memory goes once the queue is stopped.
    rings: DmaMapping,
    tx: TxQueue<IgbTx>,
    rx: RxQueue<AdvRxDesc>,
}

impl QueuePair {
    fn new(container: &Arc<Container>, config: &NicConfig, index: u32) -> Result<QueuePair, Error> {
        let page = |n: usize| n.div_ceil(PAGE) * PAGE;
        let tx_desc = 0;
        let rx_desc = page(usize::from(config.tx_ring_size) * 16);
        let rx_buffers = rx_desc + page(usize::from(config.rx_ring_size) * 16);
        let total = rx_buffers + usize::from(config.rx_ring_size) * RX_BUFFER_SIZE;
        let (rings, kind) = dma::allocate(container, total, DmaAccess::DeviceReadsWrites)?;
        log::debug!("queue {index}: rings at IOVA {:#x} ({kind:?})", rings.iova());
        let tx = TxQueue::new(container, config.tx_ring_size, tx_desc, regs::TDT.at(index))?;
        let rx = RxQueue::new(config.rx_ring_size, rx_desc, rx_buffers, regs::RDT.at(index))?;
        Ok(QueuePair { index, rings, tx, rx })
    }

    /// Program the queue's rings, enable it, hand the NIC its RX buffers.
    fn program(&mut self, regs: &Bar) -> Result<(), Error> {
        let tx_view = self.tx.descriptors(&self.rings);
        bringup::configure_tx_queue(regs, self.index, tx_view.iova(), tx_view.byte_len() as u32);
        let rx_view = self.rx.descriptors(&self.rings);
        bringup::configure_rx_queue(regs, self.index, rx_view.iova(), rx_view.byte_len() as u32)?;
        let rdt = self.rx.init(&self.rings);
        regs.write(regs::RDT.at(self.index), u32::from(rdt));
        Ok(())
    }

    fn tx_state(&self, regs: &Bar) -> TxQueueState {
        let ring = self.tx.ring();
        TxQueueState {
            in_flight: ring.in_flight(),
            head: ring.check_head(regs.read(regs::TDH.at(self.index))),
            tail: ring.next_to_use(),
        }
    }
}

/// What every queue of one NIC shares: the registers, and the counters the
/// NIC keeps for all of them.
struct Shared {
    regs: Bar,
    model: &'static DeviceModel,
    routing: Routing,
    hw_stats: Mutex<HwStats>,
    /// The RSS key and table programmed, with several queues.
    rss: Mutex<Option<RssConfig>>,
}

impl Shared {
    fn link_up(&self) -> bool {
        e1000::bringup::link_up(&self.regs)
    }

    fn link_info(&self) -> LinkInfo {
        link::info(&self.regs, self.model)
    }

    fn rss_queue(&self, src: std::net::SocketAddrV4, dst: std::net::SocketAddrV4) -> Option<usize> {
        let rss = self.rss.lock().unwrap_or_else(|p| p.into_inner());
        rss.as_ref().map(|r| r.queue_for(rss::hash_l4(&r.key, src, dst)) as usize)
    }

    fn hw_stats(&self) -> HwStats {
        let mut acc = self.hw_stats.lock().unwrap_or_else(|p| p.into_inner());
        e1000::stats::accumulate(&mut acc, &self.regs);
        *acc
    }
}

impl Drop for Shared {
    /// The last queue is gone (each stopped its own): make sure the whole
    /// NIC is quiet before its registers are unmapped.
    fn drop(&mut self) {
        bringup::quiesce_igb(&self.regs);
    }
}

/// An 82576's registers, queues and buffers.
pub(crate) struct Igb {
    queues: Vec<QueuePair>,
    shared: Arc<Shared>,
    mac: MacAddress,
    link_tried: String,
}

impl Igb {
    /// Take over the NIC behind `regs`: quiesce it and allocate `config.queues`
    /// queue pairs in `container`. `irq` is how VFIO delivers its interrupts:
    /// several queues need MSI-X with a vector each.
    pub(crate) fn new(
        model: &'static DeviceModel,
        regs: Bar,
        container: &Arc<Container>,
        config: &NicConfig,
        irq: IrqMode,
    ) -> Result<Igb, Error> {
        let wanted = config.queues;
        if wanted == 0 || u32::from(wanted) > regs::QUEUES {
            return Err(Error::BadQueueCount { asked: wanted, max: regs::QUEUES as u16 });
        }
        let routing = match irq {
            IrqMode::MsiX(n) if n >= msix_vectors(wanted) => Routing::MsiX { queues: u32::from(wanted) },
            _ if wanted > 1 => return Err(Error::NoVectorPerQueue { queues: wanted, mode: format!("{irq:?}") }),
            _ => Routing::Single,
        };
        bringup::quiesce_igb(&regs);
        let queues = (0..u32::from(wanted)).map(|q| QueuePair::new(container, config, q)).collect::<Result<_, _>>()?;
        let shared =
            Arc::new(Shared { regs, model, routing, hw_stats: Mutex::new(HwStats::default()), rss: Mutex::new(None) });
        Ok(Igb { queues, shared, mac: MacAddress::default(), link_tried: String::new() })
    }

    /// The station address: from the NVM (checksum verified) for LAN port 0.
    /// Port 1 of a dual-port part has its own, which the NIC loaded into
    /// RAL0/RAH0 at reset; take it from there, once the NVM is verified.
    fn read_mac(&self, accept_bad_checksum: bool) -> Result<MacAddress, Error> {
        let regs = &self.shared.regs;
        let nvm_mac = nvm::read_mac(regs, self.shared.model, accept_bad_checksum)?;
        if !regs.read(e1000::regs::STATUS).contains(Status::FUNC_ID_1) {
            return Ok(nvm_mac);
        }
        let low = regs.read(e1000::regs::RAL.at(0)).to_le_bytes();
        let high = regs.read(e1000::regs::RAH.at(0));
        let [b4, b5, ..] = high.bits().to_le_bytes();
        let loaded = MacAddress([low[0], low[1], low[2], low[3], b4, b5]);
        if !high.contains(Rah::AV) || !loaded.is_valid_unicast() {
            return Err(Error::NoMacAddress(loaded));
        }
        log::info!("LAN port 1: MAC {loaded} as loaded by the NIC (the NVM's base address is {nvm_mac})");
        Ok(loaded)
    }

    /// The queue the whole-NIC handle drives (queue 0).
    fn first(&self) -> &QueuePair {
        &self.queues[0]
    }

    fn first_mut(&mut self) -> &mut QueuePair {
        &mut self.queues[0]
    }

    /// Check the NIC's RSS verdict on every frame queue `q` receives.
    fn check_rss_on(pair: &mut QueuePair, rss: &RssConfig) {
        let rss = rss.clone();
        let q = pair.index;
        pair.rx.check_rss(Box::new(move |frame, reported| match (rss::expected(&rss.key, frame), reported) {
            (Some(want), Some(got)) => want == got && rss.queue_for(got.1) == q,
            (None, None) => q == 0,
            _ => false,
        }));
    }
}

impl NicFamily for Igb {
    fn model(&self) -> &'static DeviceModel {
        self.shared.model
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    fn reset(&mut self) -> Result<(), Error> {
        bringup::reset(&self.shared.regs)
    }

    fn program(&mut self, config: &NicConfig) -> Result<(), Error> {
        let model = self.shared.model;
        let regs = &self.shared.regs;
        e1000::bringup::setup_link(regs, model, config.link_mode);
        self.link_tried = phy::report_and_bring_up(regs, model, config.link_mode)?;
        self.mac = self.read_mac(config.accept_bad_eeprom_checksum)?;
        log::info!("MAC {} from the NVM (checksum verified)", self.mac);
        let shared = Arc::clone(&self.shared);
        let regs = &shared.regs;
        e1000::bringup::program_mac(regs, self.mac);
        bringup::clear_high_receive_addresses(regs);
        e1000::bringup::clear_multicast_table(regs);
        e1000::bringup::program_flow_control(regs, model);
        regs.write(e1000::regs::TCTL, e1000::regs::Tctl::empty());
        regs.write(e1000::regs::RCTL, e1000::regs::Rctl::empty());
        bringup::configure_receive_offloads(regs);
        for pair in &mut self.queues {
            pair.program(regs)?;
        }
        if self.queues.len() > 1 {
            let config = RssConfig::new(self.queues.len() as u32);
            rss::program(regs, &config);
            for pair in &mut self.queues {
                Self::check_rss_on(pair, &config);
            }
            *shared.rss.lock().unwrap_or_else(|p| p.into_inner()) = Some(config);
            log::info!("RSS over {} queues (TCP/IPv4, UDP/IPv4 and IPv4 hashed, random key)", self.queues.len());
        } else {
            rss::disable(regs);
            *shared.rss.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        bringup::route_interrupts(regs, shared.routing);
        log::info!("interrupt routing: {:?}", shared.routing);
        e1000::bringup::clear_statistics(regs);
        Ok(())
    }

    fn enable(&mut self, config: &NicConfig) {
        let regs = &self.shared.regs;
        let (rx_pause, tx_pause) = link::negotiated_pause(regs, self.shared.model, config.link_mode);
        e1000::bringup::apply_pause(regs, self.shared.model, rx_pause, tx_pause);
        e1000::bringup::enable_tx(regs);
        e1000::bringup::enable_rx(regs, config.promiscuous);
    }

    fn stop(&mut self) {
        if self.queues.is_empty() {
            // Split: the queue handles stop their queues, the last one the NIC.
            return;
        }
        bringup::quiesce_igb(&self.shared.regs);
        e1000::bringup::stop(&self.shared.regs, self.shared.model);
    }

    fn link_up(&self) -> bool {
        self.shared.link_up()
    }

    fn link_info(&self) -> LinkInfo {
        self.shared.link_info()
    }

    fn link_facts(&self) -> LinkFacts {
        link::facts(&self.shared.regs, self.shared.model, &self.link_tried)
    }

    fn tx_room(&self, payload_segments: usize) -> usize {
        self.first().tx.room(payload_segments)
    }

    fn tx_fits(&self, frame: &TxFrame<'_>) -> bool {
        self.first().tx.fits(frame)
    }

    fn tx_header_buffer(&mut self) -> Option<&mut [u8]> {
        self.first_mut().tx.header_buffer()
    }

    fn tx_post(&mut self, frame: &TxFrame<'_>) -> Result<(), Error> {
        let q = self.first_mut();
        q.tx.post(&q.rings, frame)
    }

    fn tx_doorbell(&mut self) -> bool {
        let regs = &self.shared.regs;
        let q = &mut self.queues[0];
        q.tx.doorbell(&q.rings, regs)
    }

    fn tx_reclaim(&mut self) -> u64 {
        let q = self.first_mut();
        q.tx.reclaim(&q.rings)
    }

    fn tx_state(&self) -> TxQueueState {
        self.first().tx_state(&self.shared.regs)
    }

    fn tx_forget(&mut self) {
        for pair in &mut self.queues {
            pair.tx.forget();
        }
    }

    fn rx_ready(&self) -> bool {
        let q = self.first();
        q.rx.has_completed(&q.rings)
    }

    fn rx_burst(&mut self, max: usize, on_frame: &mut dyn FnMut(&[u8])) -> usize {
        let regs = &self.shared.regs;
        let q = &mut self.queues[0];
        q.rx.burst(&q.rings, regs, max, on_frame)
    }

    fn arm_interrupts(&mut self, wake: Wake) {
        let regs = &self.shared.regs;
        match self.shared.routing {
            Routing::Single => {
                let causes = bringup::single_causes(wake.contains(Wake::TX_DONE), wake.contains(Wake::RX));
                regs.write(e1000::regs::IMS, causes);
            }
            Routing::MsiX { queues } => {
                // Link changes are an ICR cause routed to the last vector.
                regs.write(e1000::regs::IMS, Interrupts::LSC);
                let mut vectors = 1 << queues;
                if wake.intersects(Wake::TX_DONE | Wake::RX) {
                    vectors |= 1 << 0;
                }
                regs.write(regs::EIMS, vectors);
            }
        }
    }

    fn mask_interrupts(&mut self) {
        self.shared.regs.write(regs::EIMC, u32::MAX);
        self.shared.regs.write(e1000::regs::IMC, Interrupts::from_bits_retain(u32::MAX));
    }

    fn take_interrupt_causes(&mut self) -> Wake {
        let icr = self.shared.regs.take(e1000::regs::ICR);
        let mut wake = Wake::empty();
        wake.set(Wake::LINK, icr.contains(Interrupts::LSC));
        match self.shared.routing {
            Routing::Single => {
                wake.set(Wake::TX_DONE, icr.contains(Interrupts::TXDW));
                wake.set(Wake::RX, icr.intersects(Interrupts::RXT0 | Interrupts::RXO | Interrupts::RXDMT0));
            }
            // Queue causes clear themselves as their vector fires (EIAC): the
            // waiter looks at both rings anyway.
            Routing::MsiX { .. } => wake |= Wake::TX_DONE | Wake::RX,
        }
        wake
    }

    fn counters(&self) -> (TxStats, RxStats) {
        (self.first().tx.stats(), self.first().rx.stats())
    }

    fn hw_stats(&mut self) -> HwStats {
        self.shared.hw_stats()
    }

    fn queue_count(&self) -> usize {
        self.queues.len()
    }

    fn rss_queue(&self, src: std::net::SocketAddrV4, dst: std::net::SocketAddrV4) -> Option<usize> {
        self.shared.rss_queue(src, dst)
    }

    fn split(&mut self) -> Vec<Box<dyn NicFamily>> {
        std::mem::take(&mut self.queues)
            .into_iter()
            .map(|pair| {
                let queue = IgbQueue {
                    pair,
                    shared: Arc::clone(&self.shared),
                    mac: self.mac,
                    link_tried: self.link_tried.clone(),
                };
                Box::new(queue) as Box<dyn NicFamily>
            })
            .collect()
    }
}

/// One queue pair of an 82576, driven on its own (by its own thread) after
/// the whole NIC was brought up. Device-wide operations (reset, program)
/// belong to the whole NIC and are refused here; stopping stops this queue.
struct IgbQueue {
    pair: QueuePair,
    shared: Arc<Shared>,
    mac: MacAddress,
    link_tried: String,
}

impl IgbQueue {
    fn vector(&self) -> u32 {
        1 << self.pair.index
    }
}

impl NicFamily for IgbQueue {
    fn model(&self) -> &'static DeviceModel {
        self.shared.model
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    fn reset(&mut self) -> Result<(), Error> {
        Err(Error::WholeNicOnly { what: "a reset" })
    }

    fn program(&mut self, _: &NicConfig) -> Result<(), Error> {
        Err(Error::WholeNicOnly { what: "programming the NIC" })
    }

    fn enable(&mut self, _: &NicConfig) {}

    /// Stop this queue: no more descriptors fetched or frames written into
    /// its ring (its enable bits read back clear), its vector masked.
    fn stop(&mut self) {
        let regs = &self.shared.regs;
        let q = self.pair.index;
        regs.write(regs::EIMC, self.vector());
        regs.write(regs::TXDCTL.at(q), Txdctl::empty());
        regs.write(regs::RXDCTL.at(q), Rxdctl::empty());
        let stopped = poll_until(QUEUE_DISABLE_TIMEOUT, Duration::from_micros(100), || {
            !regs.read(regs::TXDCTL.at(q)).contains(Txdctl::ENABLE)
                && !regs.read(regs::RXDCTL.at(q)).contains(Rxdctl::ENABLE)
        });
        if !stopped {
            log::warn!("queue {q}: still enabled {} ms after being disabled", QUEUE_DISABLE_TIMEOUT.as_millis());
        }
    }

    fn link_up(&self) -> bool {
        self.shared.link_up()
    }

    fn link_info(&self) -> LinkInfo {
        self.shared.link_info()
    }

    fn link_facts(&self) -> LinkFacts {
        link::facts(&self.shared.regs, self.shared.model, &self.link_tried)
    }

    fn tx_room(&self, payload_segments: usize) -> usize {
        self.pair.tx.room(payload_segments)
    }

    fn tx_fits(&self, frame: &TxFrame<'_>) -> bool {
        self.pair.tx.fits(frame)
    }

    fn tx_header_buffer(&mut self) -> Option<&mut [u8]> {
        self.pair.tx.header_buffer()
    }

    fn tx_post(&mut self, frame: &TxFrame<'_>) -> Result<(), Error> {
        self.pair.tx.post(&self.pair.rings, frame)
    }

    fn tx_doorbell(&mut self) -> bool {
        self.pair.tx.doorbell(&self.pair.rings, &self.shared.regs)
    }

    fn tx_reclaim(&mut self) -> u64 {
        self.pair.tx.reclaim(&self.pair.rings)
    }

    fn tx_state(&self) -> TxQueueState {
        self.pair.tx_state(&self.shared.regs)
    }

    fn tx_forget(&mut self) {
        self.pair.tx.forget();
    }

    fn rx_ready(&self) -> bool {
        self.pair.rx.has_completed(&self.pair.rings)
    }

    fn rx_burst(&mut self, max: usize, on_frame: &mut dyn FnMut(&[u8])) -> usize {
        self.pair.rx.burst(&self.pair.rings, &self.shared.regs, max, on_frame)
    }

    /// This queue's vector only: each queue's waiter sleeps on its own.
    fn arm_interrupts(&mut self, _: Wake) {
        self.shared.regs.write(regs::EIMS, self.vector());
    }

    fn mask_interrupts(&mut self) {
        self.shared.regs.write(regs::EIMC, self.vector());
    }

    /// Nothing to read: the vector's cause cleared itself when it fired.
    fn take_interrupt_causes(&mut self) -> Wake {
        Wake::TX_DONE | Wake::RX
    }

    fn counters(&self) -> (TxStats, RxStats) {
        (self.pair.tx.stats(), self.pair.rx.stats())
    }

    fn hw_stats(&mut self) -> HwStats {
        self.shared.hw_stats()
    }

    fn queue_count(&self) -> usize {
        1
    }

    fn split(&mut self) -> Vec<Box<dyn NicFamily>> {
        unreachable!("a queue handle drives one queue")
    }

    fn interrupt_vector(&self) -> Option<usize> {
        Some(self.pair.index as usize)
    }

    fn rss_queue(&self, src: std::net::SocketAddrV4, dst: std::net::SocketAddrV4) -> Option<usize> {
        self.shared.rss_queue(src, dst)
    }
}
