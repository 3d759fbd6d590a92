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
mod tx;

use std::sync::Arc;

use zcnic_ring::AdvRxDesc;

use self::bringup::Routing;
use self::tx::IgbTx;
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

/// MSI-X vectors zcnic asks for: queue 0's, and the one for other causes.
pub(crate) const MSIX_VECTORS: u32 = 2;
const QUEUE_VECTOR: u32 = 0;
const OTHER_VECTOR: u32 = 1;
/// The queue zcnic drives.
const QUEUE: u32 = 0;

/// An 82576's registers, rings and buffers.
pub(crate) struct Igb {
    // Field order is drop order: DMA memory is unmapped (the owner has
    // stopped the NIC first) before the register window goes.
    rings: DmaMapping,
    tx: TxQueue<IgbTx>,
    rx: RxQueue<AdvRxDesc>,
    regs: Bar,
    model: &'static DeviceModel,
    routing: Routing,
    mac: MacAddress,
    hw_stats: HwStats,
    link_tried: String,
}

impl Igb {
    /// Take over the NIC behind `regs`: quiesce it and allocate its rings and
    /// buffers in `container`. `irq` is how VFIO delivers its interrupts.
    pub(crate) fn new(
        model: &'static DeviceModel,
        regs: Bar,
        container: &Arc<Container>,
        config: &NicConfig,
        irq: IrqMode,
    ) -> Result<Igb, Error> {
        bringup::quiesce_igb(&regs);
        let page = |n: usize| n.div_ceil(PAGE) * PAGE;
        let tx_desc = 0;
        let rx_desc = page(usize::from(config.tx_ring_size) * 16);
        let rx_buffers = rx_desc + page(usize::from(config.rx_ring_size) * 16);
        let total = rx_buffers + usize::from(config.rx_ring_size) * RX_BUFFER_SIZE;
        let (rings, kind) = dma::allocate(container, total, DmaAccess::DeviceReadsWrites)?;
        log::debug!("rings at IOVA {:#x} ({kind:?})", rings.iova());
        let tx = TxQueue::new(container, config.tx_ring_size, tx_desc, regs::TDT.at(QUEUE))?;
        let rx = RxQueue::new(config.rx_ring_size, rx_desc, rx_buffers, regs::RDT.at(QUEUE))?;
        let routing = match irq {
            IrqMode::MsiX(n) if n >= MSIX_VECTORS => {
                Routing::MsiX { queue_vector: QUEUE_VECTOR, other_vector: OTHER_VECTOR }
            }
            _ => Routing::Single,
        };
        Ok(Igb {
            rings,
            tx,
            rx,
            regs,
            model,
            routing,
            mac: MacAddress::default(),
            hw_stats: HwStats::default(),
            link_tried: String::new(),
        })
    }

    /// The station address: from the NVM (checksum verified) for LAN port 0.
    /// Port 1 of a dual-port part has its own, which the NIC loaded into
    /// RAL0/RAH0 at reset; take it from there, once the NVM is verified.
    fn read_mac(&self, accept_bad_checksum: bool) -> Result<MacAddress, Error> {
        let nvm_mac = nvm::read_mac(&self.regs, self.model, accept_bad_checksum)?;
        if !self.regs.read(e1000::regs::STATUS).contains(Status::FUNC_ID_1) {
            return Ok(nvm_mac);
        }
        let low = self.regs.read(e1000::regs::RAL.at(0)).to_le_bytes();
        let high = self.regs.read(e1000::regs::RAH.at(0));
        let [b4, b5, ..] = high.bits().to_le_bytes();
        let loaded = MacAddress([low[0], low[1], low[2], low[3], b4, b5]);
        if !high.contains(Rah::AV) || !loaded.is_valid_unicast() {
            return Err(Error::NoMacAddress(loaded));
        }
        log::info!("LAN port 1: MAC {loaded} as loaded by the NIC (the NVM's base address is {nvm_mac})");
        Ok(loaded)
    }
}

impl NicFamily for Igb {
    fn model(&self) -> &'static DeviceModel {
        self.model
    }

    fn mac(&self) -> MacAddress {
        self.mac
    }

    fn reset(&mut self) -> Result<(), Error> {
        bringup::reset(&self.regs)
    }

    fn program(&mut self, config: &NicConfig) -> Result<(), Error> {
        let regs = &self.regs;
        let model = self.model;
        e1000::bringup::setup_link(regs, model, config.link_mode);
        match phy::state(regs, model) {
            Ok(p) => log::info!(
                "PHY {:#010x}: control {:#06x}, status {:#06x}, advertising {:#06x}, partner {:#06x}",
                p.id,
                p.control,
                p.status,
                p.advertise,
                p.partner
            ),
            Err(e) => log::warn!("cannot read the PHY: {e}"),
        }
        self.link_tried = phy::bring_up(regs, model, config.link_mode)?;
        log::info!("PHY: {}", self.link_tried);
        self.mac = self.read_mac(config.accept_bad_eeprom_checksum)?;
        log::info!("MAC {} from the NVM (checksum verified)", self.mac);
        let regs = &self.regs;
        e1000::bringup::program_mac(regs, self.mac);
        bringup::clear_high_receive_addresses(regs);
        e1000::bringup::clear_multicast_table(regs);
        e1000::bringup::program_flow_control(regs, model);
        regs.write(e1000::regs::TCTL, e1000::regs::Tctl::empty());
        regs.write(e1000::regs::RCTL, e1000::regs::Rctl::empty());
        let tx_view = self.tx.descriptors(&self.rings);
        bringup::configure_tx_queue(regs, QUEUE, tx_view.iova(), tx_view.byte_len() as u32);
        bringup::configure_receive_offloads(regs);
        let rx_view = self.rx.descriptors(&self.rings);
        bringup::configure_rx_queue(regs, QUEUE, rx_view.iova(), rx_view.byte_len() as u32)?;
        let rdt = self.rx.init(&self.rings);
        regs.write(regs::RDT.at(QUEUE), u32::from(rdt));
        bringup::route_interrupts(regs, self.routing);
        log::info!("interrupt routing: {:?}", self.routing);
        e1000::bringup::clear_statistics(regs);
        Ok(())
    }

    fn enable(&mut self, config: &NicConfig) {
        let (rx_pause, tx_pause) = link::negotiated_pause(&self.regs, self.model, config.link_mode);
        e1000::bringup::apply_pause(&self.regs, self.model, rx_pause, tx_pause);
        e1000::bringup::enable_tx(&self.regs);
        e1000::bringup::enable_rx(&self.regs, config.promiscuous);
    }

    fn stop(&mut self) {
        bringup::quiesce_igb(&self.regs);
        e1000::bringup::stop(&self.regs, self.model);
    }

    fn link_up(&self) -> bool {
        e1000::bringup::link_up(&self.regs)
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
            head: ring.check_head(self.regs.read(regs::TDH.at(QUEUE))),
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
        let queue = wake.intersects(Wake::TX_DONE | Wake::RX);
        match self.routing {
            Routing::Single => {
                let causes = bringup::single_causes(wake.contains(Wake::TX_DONE), wake.contains(Wake::RX));
                self.regs.write(e1000::regs::IMS, causes);
            }
            Routing::MsiX { queue_vector, other_vector } => {
                // Link changes are an ICR cause routed to the other vector.
                self.regs.write(e1000::regs::IMS, Interrupts::LSC);
                let mut vectors = 1 << other_vector;
                if queue {
                    vectors |= 1 << queue_vector;
                }
                self.regs.write(regs::EIMS, vectors);
            }
        }
    }

    fn mask_interrupts(&mut self) {
        self.regs.write(regs::EIMC, u32::MAX);
        self.regs.write(e1000::regs::IMC, Interrupts::from_bits_retain(u32::MAX));
    }

    fn take_interrupt_causes(&mut self) -> Wake {
        let icr = self.regs.take(e1000::regs::ICR);
        let mut wake = Wake::empty();
        wake.set(Wake::LINK, icr.contains(Interrupts::LSC));
        match self.routing {
            Routing::Single => {
                wake.set(Wake::TX_DONE, icr.contains(Interrupts::TXDW));
                wake.set(Wake::RX, icr.intersects(Interrupts::RXT0 | Interrupts::RXO | Interrupts::RXDMT0));
            }
            Routing::MsiX { queue_vector, .. } => {
                // One vector carries the queue's RX and TX causes: the waiter
                // looks at both rings anyway.
                if self.regs.take(regs::EICR) & (1 << queue_vector) != 0 {
                    wake |= Wake::TX_DONE | Wake::RX;
                }
            }
        }
        wake
    }

    fn counters(&self) -> (TxStats, RxStats) {
        (self.tx.stats(), self.rx.stats())
    }

    fn hw_stats(&mut self) -> HwStats {
        e1000::stats::accumulate(&mut self.hw_stats, &self.regs);
        self.hw_stats
    }
}
