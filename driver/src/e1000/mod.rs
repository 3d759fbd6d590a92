//! The Intel e1000 family: the 82540EM ("e1000") and the 82574L ("e1000e").

mod bringup;
mod models;
pub mod regs;
mod tx;

use std::time::{Duration, Instant};

use vfio_bindings::bindings::vfio::VFIO_PCI_BAR0_REGION_INDEX;

pub use models::{DeviceModel, EerdLayout, SUPPORTED_DEVICES};
pub use tx::{TxBatch, TxStats, ETH_HEADER_LEN, MAX_FRAME_LEN, MIN_FRAME_LEN, TX_BUFFER_SIZE};

use crate::error::Error;
use crate::mac::MacAddress;
use crate::mmio::Mmio;
use crate::pci::{config, sysfs::Sysfs, PciAddress};
use crate::vfio::{Device, Group};
use tx::TxQueue;

/// Size of BAR0 on both parts.
const BAR0_SIZE: u64 = 128 * 1024;

/// How to bring a NIC up.
#[derive(Debug, Clone)]
pub struct NicConfig {
    /// TX descriptors (a multiple of 8, 8 to 4096).
    pub tx_ring_size: u16,
    /// How long to wait for the link to come up.
    pub link_timeout: Duration,
}

impl Default for NicConfig {
    fn default() -> Self {
        NicConfig {
            tx_ring_size: 512,
            link_timeout: Duration::from_secs(10),
        }
    }
}

/// An e1000-family NIC driven from this process through VFIO.
///
/// Dropping it stops the NIC's DMA (TX/RX off, interrupts masked, bus
/// mastering off) before any memory the NIC could reach is unmapped and freed.
pub struct Nic {
    // Field order is drop order: the DMA memory goes (after Drop::drop has
    // stopped the NIC) before the register mapping and the device.
    tx: TxQueue,
    regs: Mmio,
    device: Device,
    model: &'static DeviceModel,
    mac: MacAddress,
    hw_tx_packets: u64,
}

impl Nic {
    /// Open the NIC at `addr` through VFIO and bring it up, ready to send.
    pub fn open(addr: &PciAddress, config: &NicConfig) -> Result<Nic, Error> {
        Self::open_with_sysfs(addr, config, &Sysfs::default())
    }

    fn open_with_sysfs(addr: &PciAddress, cfg: &NicConfig, sysfs: &Sysfs) -> Result<Nic, Error> {
        let usable = sysfs.check_usable(addr)?;
        let model = usable.model;
        log::info!(
            "{addr}: {} ({}), IOMMU group {}",
            model.name,
            model.family,
            usable.iommu_group
        );
        let group = Group::open(usable.iommu_group, sysfs)?;
        let container = group.container().clone();
        let device = Device::open(group, addr)?;
        let regs = device.map_bar(VFIO_PCI_BAR0_REGION_INDEX, BAR0_SIZE)?;

        // Registers need memory decoding; no DMA until the rings are ours.
        device.update_command(config::COMMAND_MEMORY, config::COMMAND_BUS_MASTER)?;
        bringup::quiesce(&regs);
        bringup::reset(&regs)?;

        let tx = TxQueue::new(&container, cfg.tx_ring_size)?;
        let mut nic = Nic {
            tx,
            regs,
            device,
            model,
            mac: MacAddress::default(),
            hw_tx_packets: 0,
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
        bringup::configure_tx(regs, self.model, self.tx.ring_iova(), self.tx.ring_bytes());
        // Clear-on-read statistics start from zero for this run.
        let _ = (regs.read32(regs::GPTC), regs.read32(regs::TPT));
        bringup::wait_for_link(regs, cfg.link_timeout)?;
        self.device.update_command(config::COMMAND_BUS_MASTER, 0)?;
        bringup::enable_tx(regs);
        log::info!(
            "{}: up, MAC {}, link up, TX ring of {}",
            self.device.addr(),
            self.mac,
            self.tx.ring().size()
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

    /// Whether the link is up now.
    pub fn link_up(&self) -> bool {
        bringup::link_up(&self.regs)
    }

    /// Start a batch of frames; completed descriptors are reclaimed first.
    pub fn tx_batch(&mut self) -> TxBatch<'_> {
        self.tx.reclaim();
        TxBatch {
            queue: &mut self.tx,
            regs: &self.regs,
        }
    }

    /// Reclaim descriptors the NIC has completed; returns how many.
    pub fn reclaim_tx(&mut self) -> u16 {
        self.tx.reclaim()
    }

    /// Frames handed to the NIC and not yet reclaimed as done.
    pub fn tx_in_flight(&self) -> u16 {
        self.tx.ring().in_flight()
    }

    /// Wait until at least one TX descriptor is free; returns how many are.
    pub fn wait_tx_room(&mut self, timeout: Duration) -> Result<u16, Error> {
        self.poll_tx(timeout, |ring| ring.free() > 0)?;
        Ok(self.tx.ring().free())
    }

    /// Wait until the NIC has completed every frame handed to it.
    pub fn wait_tx_done(&mut self, timeout: Duration) -> Result<(), Error> {
        self.poll_tx(timeout, |ring| ring.in_flight() == 0)
    }

    /// Reclaim until `done` holds or `timeout` passes. Spins briefly, then
    /// sleeps between polls (interrupt-driven waiting is a later step).
    fn poll_tx(
        &mut self,
        timeout: Duration,
        done: impl Fn(&zcnic_ring::TxRing) -> bool,
    ) -> Result<(), Error> {
        let start = Instant::now();
        let mut polls = 0u32;
        loop {
            self.tx.reclaim();
            if done(self.tx.ring()) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                let head = self.regs.read32(regs::TDH);
                let head = self.tx.ring().check_head(head).map_or(u32::MAX, u32::from);
                return Err(Error::TxTimeout {
                    ms: timeout.as_millis() as u64,
                    in_flight: self.tx.ring().in_flight(),
                    head,
                    tail: self.tx.ring().next_to_use(),
                });
            }
            polls += 1;
            if polls < 1000 {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Transmit-path counters kept by the driver.
    pub fn tx_stats(&self) -> TxStats {
        self.tx.stats()
    }

    /// Good packets transmitted as counted by the NIC itself (GPTC), since bring-up.
    pub fn hw_tx_packets(&mut self) -> u64 {
        self.hw_tx_packets += u64::from(self.regs.read32(regs::GPTC));
        self.hw_tx_packets
    }

    fn stop_dma(&mut self) {
        bringup::stop(&self.regs, self.model);
        if let Err(e) = self.device.update_command(0, config::COMMAND_BUS_MASTER) {
            log::error!("{}: could not clear bus mastering: {e}", self.device.addr());
        }
        log::info!(
            "{}: stopped (TX/RX off, interrupts masked, bus mastering off)",
            self.device.addr()
        );
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
