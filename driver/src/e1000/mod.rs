//! The Intel e1000 family: the 82540EM ("e1000") and the 82574L ("e1000e").
//!
//! A [`Nic`] owns everything the NIC can reach: one device-writable DMA
//! region holding both descriptor rings and the receive buffers, and the
//! transmit buffers in a region the device may only read.

mod bringup;
mod models;
pub mod regs;
mod rx;
mod stats;
mod tx;

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vfio_bindings::bindings::vfio::VFIO_PCI_BAR0_REGION_INDEX;

pub use models::{DeviceModel, EerdLayout, SUPPORTED_DEVICES};
pub use rx::{RxStats, RX_BUFFER_SIZE};
pub use stats::HwStats;
pub use tx::{TxBatch, TxStats, ETH_HEADER_LEN, MAX_FRAME_LEN, MIN_FRAME_LEN, TX_BUFFER_SIZE};

use crate::dma::DmaRegion;
use crate::error::Error;
use crate::file_tx::{FileSendConfig, FileSendReport, FileSource};
use crate::mac::MacAddress;
use crate::mmio::Mmio;
use crate::net::arp;
use crate::net::udp::UdpFlow;
use crate::pci::{config, sysfs::Sysfs, PciAddress};
use crate::vfio::Container;
use crate::vfio::{Device, DmaAccess, Group, Interrupt, IrqMode};
use regs::icr;
use rx::RxQueue;
pub(crate) use tx::TxQueue;

/// Size of BAR0 on both parts.
const BAR0_SIZE: u64 = 128 * 1024;

/// After the last sign of traffic, keep polling this long before going to
/// sleep on the interrupt: while frames flow, waiting costs no syscalls.
const POLL_WINDOW: Duration = Duration::from_micros(200);

/// How to bring a NIC up.
#[derive(Debug, Clone)]
pub struct NicConfig {
    /// TX descriptors (a multiple of 8, 8 to 4096).
    pub tx_ring_size: u16,
    /// RX descriptors (a multiple of 8, 8 to 4096).
    pub rx_ring_size: u16,
    /// Receive every unicast and multicast frame, not only ours and broadcasts.
    pub promiscuous: bool,
    /// How long to wait for the link to come up.
    pub link_timeout: Duration,
}

impl Default for NicConfig {
    fn default() -> Self {
        NicConfig { tx_ring_size: 512, rx_ring_size: 512, promiscuous: false, link_timeout: Duration::from_secs(10) }
    }
}

/// Counters kept by the driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Transmit path.
    pub tx: TxStats,
    /// Receive path.
    pub rx: RxStats,
    /// Interrupts taken (eventfd signals).
    pub interrupts: u64,
    /// Link status changes seen (LSC).
    pub link_changes: u64,
}

/// Where each ring lives in the device-writable region.
struct RingLayout {
    tx_desc: usize,
    rx_desc: usize,
    rx_buffers: usize,
    total: usize,
}

impl RingLayout {
    fn new(tx_size: u16, rx_size: u16) -> RingLayout {
        let page = |n: usize| n.div_ceil(4096) * 4096;
        let tx_desc = 0;
        let rx_desc = page(usize::from(tx_size) * 16);
        let rx_buffers = rx_desc + page(usize::from(rx_size) * 16);
        let total = rx_buffers + usize::from(rx_size) * RX_BUFFER_SIZE;
        RingLayout { tx_desc, rx_desc, rx_buffers, total }
    }
}

/// An e1000-family NIC driven from this process through VFIO.
///
/// Dropping it stops the NIC's DMA (TX/RX off, interrupts masked, bus
/// mastering off) before any memory the NIC could reach is unmapped and freed.
pub struct Nic {
    // Field order is drop order: the DMA memory goes (after Drop::drop has
    // stopped the NIC) before the interrupt, the register mapping and the device.
    rings: DmaRegion,
    tx: TxQueue,
    rx: RxQueue,
    irq: Interrupt,
    regs: Mmio,
    device: Device,
    model: &'static DeviceModel,
    mac: MacAddress,
    hw_stats: HwStats,
    config: NicConfig,
    interrupts: u64,
    link_changes: u64,
    last_activity: Instant,
}

impl Nic {
    /// Open the NIC at `addr` through VFIO and bring it up, ready to send and receive.
    pub fn open(addr: &PciAddress, config: &NicConfig) -> Result<Nic, Error> {
        Self::open_with_sysfs(addr, config, &Sysfs::default())
    }

    fn open_with_sysfs(addr: &PciAddress, cfg: &NicConfig, sysfs: &Sysfs) -> Result<Nic, Error> {
        let usable = sysfs.check_usable(addr)?;
        let model = usable.model;
        log::info!("{addr}: {} ({}), IOMMU group {}", model.name, model.family, usable.iommu_group);
        let group = Group::open(usable.iommu_group, sysfs)?;
        let container = group.container().clone();
        let device = Device::open(group, addr)?;
        let regs = device.map_bar(VFIO_PCI_BAR0_REGION_INDEX, BAR0_SIZE)?;

        // Registers need memory decoding; no DMA until the rings are ours.
        device.update_command(config::COMMAND_MEMORY, config::COMMAND_BUS_MASTER)?;
        bringup::quiesce(&regs);
        bringup::reset(&regs)?;

        let layout = RingLayout::new(cfg.tx_ring_size, cfg.rx_ring_size);
        let rings = DmaRegion::new(&container, layout.total, DmaAccess::DeviceReadsWrites)?;
        let tx = TxQueue::new(&container, cfg.tx_ring_size, layout.tx_desc)?;
        let rx = RxQueue::new(cfg.rx_ring_size, layout.rx_desc, layout.rx_buffers)?;
        log::debug!("rings at IOVA {:#x} ({:?})", rings.iova(), rings.page_kind());
        let irq = Interrupt::enable(&device)?;
        let mut nic = Nic {
            rings,
            tx,
            rx,
            irq,
            regs,
            device,
            model,
            mac: MacAddress::default(),
            hw_stats: HwStats::default(),
            config: cfg.clone(),
            interrupts: 0,
            link_changes: 0,
            last_activity: Instant::now(),
        };
        // From here on, an error drops `nic`, which stops the NIC first.
        nic.bring_up(cfg)?;
        Ok(nic)
    }

    fn bring_up(&mut self, cfg: &NicConfig) -> Result<(), Error> {
        let regs = &self.regs;
        bringup::setup_link(regs, self.model);
        self.mac = bringup::read_and_program_mac(regs, self.model)?;
        bringup::clear_multicast_table(regs);
        let tx_view = self.tx.descriptors(&self.rings);
        bringup::configure_tx(regs, self.model, tx_view.iova(), tx_view.byte_len() as u32);
        let rx_view = self.rx.descriptors(&self.rings);
        bringup::configure_rx(regs, rx_view.iova(), rx_view.byte_len() as u32);
        let rdt = self.rx.init(&self.rings);
        regs.write32(regs::RDT, u32::from(rdt));
        bringup::set_interrupt_throttle(regs);
        bringup::clear_statistics(regs);
        bringup::wait_for_link(regs, cfg.link_timeout)?;
        self.device.update_command(config::COMMAND_BUS_MASTER, 0)?;
        bringup::enable_tx(regs);
        bringup::enable_rx(regs, cfg.promiscuous);
        log::info!(
            "{}: up, MAC {}, link up, TX ring {}, RX ring {}, interrupts via {:?}",
            self.device.addr(),
            self.mac,
            self.tx.ring().size(),
            self.rx.ring().size(),
            self.irq.mode()
        );
        Ok(())
    }

    /// The NIC's MAC address.
    pub fn mac(&self) -> MacAddress {
        self.mac
    }

    /// Which model this is.
    pub fn model(&self) -> &'static DeviceModel {
        self.model
    }

    /// The NIC's PCI address.
    pub fn pci_address(&self) -> PciAddress {
        self.device.addr()
    }

    /// How interrupts reach us (INTx on the 82540EM, MSI on the 82574L).
    pub fn irq_mode(&self) -> IrqMode {
        self.irq.mode()
    }

    /// Whether the link is up, read straight from the registers (for code
    /// that holds the register mapping but not the `Nic`).
    pub(crate) fn link_is_up(regs: &Mmio) -> bool {
        bringup::link_up(regs)
    }

    /// Whether the link is up now.
    pub fn link_up(&self) -> bool {
        bringup::link_up(&self.regs)
    }

    // ---- transmit ----

    /// Start a batch of frames; completed descriptors are reclaimed first.
    pub fn tx_batch(&mut self) -> TxBatch<'_> {
        self.tx.reclaim(&self.rings);
        self.last_activity = Instant::now();
        TxBatch { queue: &mut self.tx, rings: &self.rings, regs: &self.regs }
    }

    /// Reclaim descriptors the NIC has completed; returns how many.
    pub fn reclaim_tx(&mut self) -> u16 {
        self.tx.reclaim(&self.rings).count
    }

    /// Frames handed to the NIC and not yet reclaimed as done.
    pub fn tx_in_flight(&self) -> u16 {
        self.tx.ring().in_flight()
    }

    /// Wait until at least one TX descriptor is free; returns how many are.
    pub fn wait_tx_room(&mut self, timeout: Duration) -> Result<u16, Error> {
        self.wait_tx(timeout, |ring| ring.free() > 0)?;
        Ok(self.tx.ring().free())
    }

    /// Wait up to `timeout` for the link to be up (sleeping on the link-change
    /// interrupt). Returns whether it is.
    pub fn wait_link_up(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.wait_until(icr::LSC, timeout, |nic| nic.link_up())
    }

    /// Wait until at least `n` TX descriptors are free.
    pub fn wait_tx_free(&mut self, n: u16, timeout: Duration) -> Result<(), Error> {
        self.wait_tx(timeout, |ring| ring.free() >= n)
    }

    /// Wait until the NIC has completed every frame handed to it.
    pub fn wait_tx_done(&mut self, timeout: Duration) -> Result<(), Error> {
        self.wait_tx(timeout, |ring| ring.in_flight() == 0)
    }

    /// Reclaim completed descriptors until `done` holds; a TX-hang error
    /// with the ring's state if it does not within `timeout`.
    fn wait_tx(&mut self, timeout: Duration, done: impl Fn(&zcnic_ring::TxRing) -> bool) -> Result<(), Error> {
        let ready = self.wait_until(icr::TXDW, timeout, |nic| {
            nic.tx.reclaim(&nic.rings);
            done(nic.tx.ring())
        })?;
        if !ready {
            return Err(self.tx_timeout(timeout));
        }
        Ok(())
    }

    fn tx_timeout(&self, timeout: Duration) -> Error {
        let head = self.regs.read32(regs::TDH);
        Error::TxTimeout {
            ms: timeout.as_millis() as u64,
            in_flight: self.tx.ring().in_flight(),
            head: self.tx.ring().check_head(head).map_or(u32::MAX, u32::from),
            tail: self.tx.ring().next_to_use(),
        }
    }

    /// Learn `dst_ip`'s MAC with ARP: broadcast a request from `src_ip`, wait
    /// `per_try` for the reply, up to `tries` times. Frames other than the
    /// reply that arrive meanwhile are discarded.
    pub fn resolve_mac(
        &mut self,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        tries: u32,
        per_try: Duration,
    ) -> Result<MacAddress, Error> {
        let start = Instant::now();
        let mac = self.mac;
        for attempt in 1..=tries {
            {
                let mut batch = self.tx_batch();
                let buf = batch.frame_buffer().ok_or(Error::TxRingFull)?;
                let n = arp::write_request(buf, mac, src_ip, dst_ip);
                batch.push(n)?;
            }
            log::debug!("ARP: who has {dst_ip}? tell {src_ip} (try {attempt} of {tries})");
            let deadline = Instant::now() + per_try;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || !self.wait_rx(left)? {
                    break;
                }
                let mut found = None;
                self.rx_burst(64, |frame| found = found.or_else(|| arp::parse_reply(frame, src_ip, dst_ip)));
                if let Some(m) = found {
                    log::info!("ARP: {dst_ip} is at {m}");
                    return Ok(m);
                }
            }
        }
        Err(Error::ArpNoReply { ip: dst_ip, tries, secs: start.elapsed().as_secs_f64() })
    }

    /// Send a file as UDP datagrams of `flow` with zero copies: see
    /// [`crate::file_tx`]. `stop` ends the send early (the frames already
    /// queued complete first); `progress` is told the payload bytes completed.
    pub fn send_file(
        &mut self,
        source: &FileSource,
        flow: &UdpFlow,
        config: &FileSendConfig,
        stop: &AtomicBool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<FileSendReport, Error> {
        crate::file_tx::sender::send_file(self, source, flow, config, stop, progress)
    }

    pub(crate) fn container(&self) -> &Arc<Container> {
        self.device.group().container()
    }

    pub(crate) fn tx_access<R>(&mut self, f: impl FnOnce(&mut TxQueue, &DmaRegion, &Mmio) -> R) -> R {
        self.last_activity = Instant::now();
        f(&mut self.tx, &self.rings, &self.regs)
    }

    /// Stop all DMA now (the NIC is unusable afterwards): for error paths that
    /// must release memory the NIC might still be reading.
    pub(crate) fn halt(&mut self) {
        self.stop_dma();
    }

    // ---- receive ----

    /// Hand up to `max` received frames to `on_frame` (each checked: length
    /// within its buffer, EOP set, no error bits; bad ones are dropped and
    /// counted) and give their buffers back to the NIC with one RDT write.
    /// Returns how many frames were delivered; never waits.
    pub fn rx_burst(&mut self, max: usize, on_frame: impl FnMut(&[u8])) -> usize {
        let n = self.rx.burst(&self.rings, &self.regs, max, on_frame);
        if n > 0 {
            self.last_activity = Instant::now();
        }
        n
    }

    /// Wait up to `timeout` for a received frame. Returns whether one is ready.
    /// While traffic flows this polls; when the line goes quiet it sleeps on
    /// the NIC's interrupt, so an idle receiver costs almost no CPU.
    pub fn wait_rx(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.wait_until(icr::RXT0 | icr::RXO | icr::RXDMT0, timeout, |nic| nic.rx.has_completed(&nic.rings))
    }

    // ---- waiting ----

    /// Wait until `ready` holds or `timeout` passes; returns whether it holds.
    /// Polls for POLL_WINDOW after the last activity, then arms the interrupt
    /// `causes` (plus link changes) and sleeps on the eventfd.
    fn wait_until(&mut self, causes: u32, timeout: Duration, ready: impl Fn(&mut Nic) -> bool) -> Result<bool, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready(self) {
                self.last_activity = Instant::now();
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if now.duration_since(self.last_activity) < POLL_WINDOW {
                std::hint::spin_loop();
                continue;
            }
            // Clear causes left from the polling phase, then look once more:
            // whatever happens after this check sets a cause that the IMS
            // write below turns into an interrupt, so no wake-up is lost.
            self.service_interrupt_causes();
            if ready(self) {
                continue;
            }
            self.regs.write32(regs::IMS, causes | icr::LSC);
            let signalled = self.irq.wait(deadline - now);
            self.regs.write32(regs::IMC, u32::MAX);
            let signalled = signalled?;
            // Reading ICR deasserts the interrupt; only then may INTx be unmasked.
            self.service_interrupt_causes();
            if signalled > 0 {
                self.interrupts += signalled;
                self.irq.unmask(&self.device)?;
            }
        }
    }

    /// Read (and so clear) ICR, noting link changes.
    fn service_interrupt_causes(&mut self) -> u32 {
        let causes = self.regs.read32(regs::ICR);
        if causes & icr::LSC != 0 {
            self.link_changes += 1;
            log::info!("{}: link {}", self.device.addr(), if self.link_up() { "up" } else { "down" });
        }
        causes
    }

    // ---- counters ----

    /// Transmit-path counters kept by the driver.
    pub fn tx_stats(&self) -> TxStats {
        self.tx.stats()
    }

    /// Every counter the driver keeps.
    pub fn counters(&self) -> Counters {
        Counters {
            tx: self.tx.stats(),
            rx: self.rx.stats(),
            interrupts: self.interrupts,
            link_changes: self.link_changes,
        }
    }

    /// The NIC's own statistics registers, accumulated since bring-up.
    pub fn hw_stats(&mut self) -> HwStats {
        self.hw_stats.accumulate(&self.regs);
        self.hw_stats
    }

    /// Bring a NIC that stopped completing descriptors back: stop its DMA,
    /// reset it, and program everything again. Frames that were in the TX ring
    /// are forgotten (the caller sends them again); counters carry on.
    pub fn recover(&mut self) -> Result<(), Error> {
        self.hw_stats.accumulate(&self.regs);
        bringup::stop(&self.regs, self.model);
        self.device.update_command(0, config::COMMAND_BUS_MASTER)?;
        bringup::reset(&self.regs)?;
        self.tx.reset();
        let cfg = self.config.clone();
        self.bring_up(&cfg)?;
        log::warn!("{}: reset and brought up again", self.device.addr());
        Ok(())
    }

    fn stop_dma(&mut self) {
        bringup::stop(&self.regs, self.model);
        if let Err(e) = self.device.update_command(0, config::COMMAND_BUS_MASTER) {
            log::error!("{}: could not clear bus mastering: {e}", self.device.addr());
        }
        self.irq.disable(&self.device);
        log::info!("{}: stopped (TX/RX off, interrupts masked, bus mastering off)", self.device.addr());
    }
}

impl Drop for Nic {
    fn drop(&mut self) {
        self.stop_dma();
        // Fields drop next: DMA memory is unmapped from the IOMMU, then freed.
    }
}

impl std::fmt::Debug for Nic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nic")
            .field("addr", &self.device.addr())
            .field("model", &self.model.name)
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}
