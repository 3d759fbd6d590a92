//! [`Nic`]: one NIC driven from this process through VFIO, whichever family
//! it belongs to.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vfio_bindings::bindings::vfio::VFIO_PCI_BAR0_REGION_INDEX;

use super::{e1000, find_model, igb, supported_list, DeviceModel, NicFamily, TxBatch, TxFrame, Wake};
use super::{Counters, HwStats, LinkInfo, LinkMode, StopFlag, TxStats};
use crate::error::Error;
use crate::mac::MacAddress;
use crate::pci::{config, sysfs::Sysfs, PciAddress, PciId};
use crate::vfio::{BusMaster, Container, Device, Group, Interrupt, IrqChoice, IrqMode};

/// After the last sign of traffic, keep polling this long before going to
/// sleep on the interrupt (the default of [`NicConfig::poll_window`]).
pub const DEFAULT_POLL_WINDOW: Duration = Duration::from_micros(200);
/// With a stop flag installed, sleep at most this long at a time, so that a
/// stop is noticed promptly.
const STOP_CHECK_SLICE: Duration = Duration::from_millis(100);
/// How long a wait goes on once the stop flag is set: long enough for frames
/// already queued to complete (microseconds on a working NIC), short enough
/// that every wait ends within 200 ms of a Ctrl-C.
const STOP_GRACE: Duration = Duration::from_millis(100);

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
    /// Give up every wait (bring-up included) within about 200 ms of this
    /// flag being set; see [`Nic::set_stop_flag`].
    pub stop_flag: Option<StopFlag>,
    /// Autonegotiate (the default) or force speed and duplex.
    pub link_mode: LinkMode,
    /// Fail bring-up when the link does not come up within `link_timeout`
    /// (the default); without it the NIC is brought up anyway, link or not
    /// (for looking at it: `zcnic info`).
    pub require_link: bool,
    /// Go on when the EEPROM's checksum is wrong (logged), trusting the MAC
    /// address in it; by default a bad checksum is an error.
    pub accept_bad_eeprom_checksum: bool,
    /// After the last sign of traffic, poll this long before sleeping on the
    /// interrupt. Polling saves the syscalls and the wake-up of a sleep while
    /// frames flow back to back (a sender refilling its ring); it burns CPU
    /// while waiting on a peer (a TCP server waiting for ACKs), where zero is
    /// the better choice.
    pub poll_window: Duration,
    /// Queue pairs (TX and RX) to bring up: 1, or up to 16 on an igb (with
    /// receive-side scaling spreading flows over them). Each is driven by a
    /// [`Nic`] of its own after [`Nic::split_queues`].
    pub queues: u16,
    /// Which interrupt mechanism to ask VFIO for (by default the best the
    /// NIC offers).
    pub interrupts: IrqChoice,
}

impl Default for NicConfig {
    fn default() -> Self {
        NicConfig {
            tx_ring_size: 512,
            rx_ring_size: 512,
            promiscuous: false,
            link_timeout: Duration::from_secs(10),
            stop_flag: None,
            link_mode: LinkMode::Autonegotiate,
            require_link: true,
            accept_bad_eeprom_checksum: false,
            poll_window: DEFAULT_POLL_WINDOW,
            queues: 1,
            interrupts: IrqChoice::Auto,
        }
    }
}

/// A NIC driven from this process through VFIO, or one queue pair of it
/// (see [`Nic::split_queues`]).
///
/// Dropping it stops the NIC's DMA (TX/RX off, interrupts masked, bus
/// mastering off) before any memory the NIC could reach is unmapped and freed.
/// A queue handle stops its own queue; the last handle of a NIC stops it all.
pub struct Nic {
    // Field order is drop order: the family's DMA memory and register mapping
    // go (after Drop::drop has stopped the NIC, or this queue) before the
    // shared interrupt and device, whose group holds the container.
    family: Box<dyn NicFamily>,
    shared: Arc<Shared>,
    config: NicConfig,
    interrupts: u64,
    link_changes: u64,
    last_activity: Instant,
    /// Wall time spent in TX doorbell writes (see [`Nic::time_in_tx_doorbells`]).
    doorbell_time: Duration,
    stop: Option<StopFlag>,
}

/// What every handle of one NIC shares: the VFIO device (its bus-mastering
/// switch, its group and container), the interrupt vectors, whether the NIC
/// is halted, and how many handles still drive it.
struct Shared {
    irq: Interrupt,
    device: Device,
    halted: Arc<AtomicBool>,
    /// Handles alive: the last to go turns bus mastering off.
    handles: AtomicUsize,
}

/// Stops a NIC's DMA from wherever it is held, without the [`Nic`]: for
/// guards that must make sure the NIC no longer reads memory before they
/// release it, also while a panic unwinds. A stopped NIC refuses every
/// operation until [`Nic::recover`] brings it up again.
#[derive(Debug, Clone)]
pub(crate) struct DmaStopper {
    bus_master: BusMaster,
    halted: Arc<AtomicBool>,
}

impl DmaStopper {
    /// Turn bus mastering off. Returns whether the NIC is now known to start
    /// no DMA; if not, the caller must not release memory the NIC can reach.
    pub(crate) fn stop(&self) -> bool {
        self.halted.store(true, Ordering::SeqCst);
        match self.bus_master.disable() {
            Ok(()) => true,
            Err(e) => {
                log::error!("could not turn the NIC's bus mastering off: {e}");
                false
            }
        }
    }
}

impl Nic {
    /// Open the NIC at `addr` through VFIO and bring it up, ready to send and receive.
    pub fn open(addr: &PciAddress, config: &NicConfig) -> Result<Nic, Error> {
        Self::open_with_sysfs(addr, config, &Sysfs::default())
    }

    fn open_with_sysfs(addr: &PciAddress, config: &NicConfig, sysfs: &Sysfs) -> Result<Nic, Error> {
        let usable =
            sysfs.check_usable(addr, &|id: PciId| find_model(id.vendor, id.device).is_some(), &supported_list)?;
        let model = find_model(usable.id.vendor, usable.id.device).expect("check_usable passed only supported IDs");
        log::info!("{addr}: {} ({}), IOMMU group {}", model.name, model.family, usable.iommu_group);
        let group = Group::open(usable.iommu_group, sysfs)?;
        let container = Arc::clone(group.container());
        let device = Device::open(group, addr)?;
        let bar = device.map_bar(VFIO_PCI_BAR0_REGION_INDEX, model.bar0_size)?;
        // Registers need memory decoding; no DMA until the rings are ours.
        device.update_command(config::COMMAND_MEMORY, config::COMMAND_BUS_MASTER)?;
        let io = device.io_bar()?;
        if model.needs_aspm_off() {
            match device.disable_aspm()? {
                Some((before, after)) if after != 0 => {
                    log::warn!("{addr}: ASPM could not be turned off (Link Control ASPM bits {before:#x} -> {after:#x}); the 82574L errata says PCIe completions may then be unreliable")
                }
                Some((before, _)) => log::info!("{addr}: ASPM L0s/L1 off (Link Control ASPM bits were {before:#x})"),
                None => log::info!("{addr}: no PCI Express capability; nothing to do for ASPM"),
            }
        }
        let (family, irq): (Box<dyn NicFamily>, Interrupt) = if model.is_igb() {
            let irq = Interrupt::enable(&device, Some(igb::msix_vectors(config.queues)), config.interrupts)?;
            (Box::new(igb::Igb::new(model, bar, &container, config, irq.mode())?), irq)
        } else {
            if config.queues != 1 {
                return Err(Error::BadQueueCount { asked: config.queues, max: 1 });
            }
            let family = Box::new(e1000::E1000::new(model, bar, io, &container, config)?);
            (family, Interrupt::enable(&device, None, config.interrupts)?)
        };
        let mut nic = Nic {
            family,
            shared: Arc::new(Shared {
                irq,
                device,
                halted: Arc::new(AtomicBool::new(false)),
                handles: AtomicUsize::new(1),
            }),
            config: config.clone(),
            interrupts: 0,
            link_changes: 0,
            last_activity: Instant::now(),
            doorbell_time: Duration::ZERO,
            stop: config.stop_flag.clone(),
        };
        // From here on, an error drops `nic`, which stops the NIC first.
        nic.family.reset()?;
        nic.bring_up()?;
        Ok(nic)
    }

    /// Program the NIC, wait for the link, then let it master the bus and
    /// turn TX and RX on.
    fn bring_up(&mut self) -> Result<(), Error> {
        self.family.program(&self.config)?;
        match self.wait_for_link_polling(self.config.link_timeout) {
            Err(Error::LinkDown { .. }) if !self.config.require_link => {
                log::warn!("{}: no link; going on as asked", self.shared.device.addr());
            }
            other => other?,
        }
        self.shared.device.update_command(config::COMMAND_BUS_MASTER, 0)?;
        self.family.enable(&self.config);
        self.shared.halted.store(false, Ordering::SeqCst);
        log::info!(
            "{}: up, MAC {}, link up, interrupts via {:?}",
            self.shared.device.addr(),
            self.family.mac(),
            self.shared.irq.mode()
        );
        Ok(())
    }

    /// Before bus mastering is on, interrupts (MSI is a DMA write) cannot
    /// reach us: poll the link.
    fn wait_for_link_polling(&mut self, timeout: Duration) -> Result<(), Error> {
        let start = Instant::now();
        while !self.family.link_up() {
            if start.elapsed() > timeout {
                let facts = self.family.link_facts();
                return Err(Error::LinkDown {
                    secs: timeout.as_secs(),
                    mac_status: facts.mac_status,
                    phy_id: facts.phy.map(|p| p.0),
                    phy_control: facts.phy.map(|p| p.1),
                    phy_status: facts.phy.map(|p| p.2),
                    tried: facts.tried,
                });
            }
            if self.stop.as_ref().is_some_and(StopFlag::is_set) {
                return Err(Error::Stopped);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Make every wait of this NIC give up (with [`Error::Stopped`]) within
    /// about 200 ms of `flag` being set.
    pub fn set_stop_flag(&mut self, flag: StopFlag) {
        self.stop = Some(flag);
    }

    /// Install `flag` (or none) and return the one installed before.
    pub(crate) fn replace_stop_flag(&mut self, flag: Option<StopFlag>) -> Option<StopFlag> {
        std::mem::replace(&mut self.stop, flag)
    }

    /// The stop flag, if one is installed.
    pub(crate) fn stop_flag(&self) -> Option<&StopFlag> {
        self.stop.as_ref()
    }

    /// The NIC's MAC address.
    pub fn mac(&self) -> MacAddress {
        self.family.mac()
    }

    /// Which model this is.
    pub fn model(&self) -> &'static DeviceModel {
        self.family.model()
    }

    /// The NIC's PCI address.
    pub fn pci_address(&self) -> PciAddress {
        self.shared.device.addr()
    }

    /// How interrupts reach us (INTx on the 82540EM, MSI on the 82574L).
    pub fn irq_mode(&self) -> IrqMode {
        self.shared.irq.mode()
    }

    /// Whether the link is up now.
    pub fn link_up(&self) -> bool {
        self.family.link_up()
    }

    /// The link's state: up or down, speed, duplex, flow control, the PHY's identity.
    pub fn link_info(&self) -> LinkInfo {
        self.family.link_info()
    }

    fn check_running(&self) -> Result<(), Error> {
        if self.shared.halted.load(Ordering::SeqCst) {
            return Err(Error::Halted);
        }
        Ok(())
    }

    // ---- transmit ----

    /// Start a batch of frames the CPU builds in driver buffers; completed
    /// descriptors are reclaimed first. The doorbell rings once, when the
    /// batch is sent or dropped.
    pub fn tx_batch(&mut self) -> Result<TxBatch<'_>, Error> {
        self.check_running()?;
        self.family.tx_reclaim();
        self.last_activity = Instant::now();
        Ok(TxBatch::new(self))
    }

    /// How many more frames of `payload_segments` DMA spans fit now.
    pub(crate) fn tx_room(&self, payload_segments: usize) -> usize {
        self.family.tx_room(payload_segments)
    }

    /// Whether `frame` fits in the TX ring now (see [`NicFamily::tx_fits`]).
    #[cfg_attr(
        not(feature = "fault-injection"),
        expect(dead_code, reason = "for the TCP sender, which is being built")
    )]
    pub(crate) fn family_fits(&self, frame: &TxFrame<'_>) -> bool {
        self.family.tx_fits(frame)
    }

    /// The next frame's header buffer (see [`NicFamily::tx_header_buffer`]).
    pub(crate) fn tx_header_buffer(&mut self) -> Option<&mut [u8]> {
        self.family.tx_header_buffer()
    }

    /// Queue a frame (see [`NicFamily::tx_post`]).
    pub(crate) fn tx_post(&mut self, frame: &TxFrame<'_>) -> Result<(), Error> {
        self.check_running()?;
        self.family.tx_post(frame)
    }

    /// Ring the TX doorbell for everything posted.
    pub(crate) fn tx_doorbell(&mut self) -> Result<(), Error> {
        self.check_running()?;
        let started = Instant::now();
        self.family.tx_doorbell();
        self.last_activity = Instant::now();
        self.doorbell_time += self.last_activity - started;
        Ok(())
    }

    /// Wall time spent inside TX doorbell writes since bring-up, measured by
    /// the monotonic clock around each. On real silicon a tail write is a
    /// posted store that takes nanoseconds; under an emulator it is where the
    /// NIC model does its work (QEMU's e1000 reads the descriptors, segments,
    /// and hands every frame to its peers before the store completes), so this
    /// is the emulator's share of a send, measured from inside the guest.
    pub fn time_in_tx_doorbells(&self) -> Duration {
        self.doorbell_time
    }

    /// Collect TX completions; returns how many frames completed.
    pub fn reclaim_tx(&mut self) -> u64 {
        self.family.tx_reclaim()
    }

    /// Descriptors handed to the NIC and not yet reclaimed as done.
    pub fn tx_in_flight(&self) -> u16 {
        self.family.tx_state().in_flight
    }

    /// Wait until a frame of `payload_segments` DMA spans fits in the TX ring.
    pub(crate) fn wait_tx_room_for(&mut self, payload_segments: usize, timeout: Duration) -> Result<(), Error> {
        self.wait_tx(timeout, |f| f.tx_room(payload_segments) > 0)
    }

    /// Wait until at least one more frame fits; returns how many do.
    pub fn wait_tx_room(&mut self, timeout: Duration) -> Result<usize, Error> {
        self.wait_tx(timeout, |f| f.tx_room(0) > 0)?;
        Ok(self.family.tx_room(0))
    }

    /// Wait until the NIC has completed every frame handed to it.
    pub fn wait_tx_done(&mut self, timeout: Duration) -> Result<(), Error> {
        self.wait_tx(timeout, |f| f.tx_state().in_flight == 0)
    }

    /// Reclaim completed descriptors until `done` holds; a TX-hang error
    /// with the ring's state if it does not within `timeout`.
    fn wait_tx(&mut self, timeout: Duration, done: impl Fn(&dyn NicFamily) -> bool) -> Result<(), Error> {
        let ready = self.wait_until(Wake::TX_DONE, timeout, |nic| {
            nic.family.tx_reclaim();
            done(&*nic.family)
        })?;
        if !ready {
            let s = self.family.tx_state();
            return Err(Error::TxTimeout {
                ms: timeout.as_millis() as u64,
                in_flight: s.in_flight,
                head: s.head.map_or(u32::MAX, u32::from),
                tail: s.tail,
            });
        }
        Ok(())
    }

    /// Wait up to `timeout` for the link to be up (sleeping on the link-change
    /// interrupt). Returns whether it is.
    pub fn wait_link_up(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.wait_until(Wake::LINK, timeout, |nic| nic.family.link_up())
    }

    // ---- receive ----

    /// Hand up to `max` received frames to `on_frame` (each checked: length
    /// within its buffer, EOP set, no error bits; bad ones are dropped and
    /// counted) and give their buffers back to the NIC with one doorbell.
    /// Returns how many frames were delivered; never waits.
    pub fn rx_burst(&mut self, max: usize, mut on_frame: impl FnMut(&[u8])) -> usize {
        if self.shared.halted.load(Ordering::SeqCst) {
            return 0;
        }
        let n = self.family.rx_burst(max, &mut on_frame);
        if n > 0 {
            self.last_activity = Instant::now();
        }
        n
    }

    /// Wait up to `timeout` for a received frame. Returns whether one is ready.
    /// While traffic flows this polls; when the line goes quiet it sleeps on
    /// the NIC's interrupt, so an idle receiver costs almost no CPU.
    pub fn wait_rx(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.wait_until(Wake::RX, timeout, |nic| nic.family.rx_ready())
    }

    // ---- waiting ----

    /// Wait until `ready` holds or `timeout` passes; returns whether it holds.
    /// Polls for `config.poll_window` after the last activity, then arms the interrupt
    /// causes of `wake` (and link changes) and sleeps on the eventfd. Gives up
    /// with [`Error::Stopped`] once the stop flag has been set for STOP_GRACE.
    fn wait_until(&mut self, wake: Wake, timeout: Duration, ready: impl Fn(&mut Nic) -> bool) -> Result<bool, Error> {
        let deadline = Instant::now() + timeout;
        let mut stop_seen: Option<Instant> = None;
        loop {
            self.check_running()?;
            if ready(self) {
                self.last_activity = Instant::now();
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if self.stop.as_ref().is_some_and(StopFlag::is_set) {
                let since = *stop_seen.get_or_insert(now);
                if now.duration_since(since) >= STOP_GRACE {
                    return Err(Error::Stopped);
                }
            }
            if now.duration_since(self.last_activity) < self.config.poll_window {
                std::hint::spin_loop();
                continue;
            }
            // Clear causes left from the polling phase, then look once more:
            // whatever happens after this check sets a cause that arming
            // turns into an interrupt, so no wake-up is lost.
            self.service_interrupt_causes();
            if ready(self) {
                continue;
            }
            let mut sleep = deadline - now;
            if self.stop.is_some() {
                sleep = sleep.min(STOP_CHECK_SLICE);
            }
            if stop_seen.is_some() {
                sleep = sleep.min(STOP_GRACE / 4);
            }
            self.family.arm_interrupts(wake);
            let signalled = self.shared.irq.wait(self.family.interrupt_vector(), sleep);
            self.family.mask_interrupts();
            let signalled = signalled?;
            // Reading the causes deasserts the interrupt; only then may INTx be unmasked.
            self.service_interrupt_causes();
            if signalled > 0 {
                self.interrupts += signalled;
                self.shared.irq.unmask(&self.shared.device)?;
            }
        }
    }

    /// Read (and so clear) the interrupt causes, noting link changes.
    fn service_interrupt_causes(&mut self) {
        let causes = self.family.take_interrupt_causes();
        if causes.contains(Wake::LINK) {
            self.link_changes += 1;
            log::info!("{}: link {}", self.shared.device.addr(), if self.link_up() { "up" } else { "down" });
        }
    }

    // ---- counters ----

    /// Transmit-path counters kept by the driver.
    pub fn tx_stats(&self) -> TxStats {
        self.family.counters().0
    }

    /// Every counter the driver keeps.
    pub fn counters(&self) -> Counters {
        let (tx, rx) = self.family.counters();
        Counters { tx, rx, interrupts: self.interrupts, link_changes: self.link_changes }
    }

    /// The NIC's own statistics registers, accumulated since bring-up.
    pub fn hw_stats(&mut self) -> HwStats {
        self.family.hw_stats()
    }

    // ---- failure and recovery ----

    /// Bring a NIC that stopped completing descriptors (or was stopped after
    /// a failure) back: stop its DMA, reset it, and program everything again.
    /// Frames that were in the TX ring are forgotten (the caller sends them
    /// again); counters carry on.
    pub fn recover(&mut self) -> Result<(), Error> {
        self.family.hw_stats();
        self.family.stop();
        self.shared.device.update_command(0, config::COMMAND_BUS_MASTER)?;
        self.family.reset()?;
        self.family.tx_forget();
        self.bring_up()?;
        log::warn!("{}: reset and brought up again", self.shared.device.addr());
        Ok(())
    }

    /// A handle that stops this NIC's DMA without the NIC (see [`DmaStopper`]).
    pub(crate) fn dma_stopper(&self) -> DmaStopper {
        DmaStopper { bus_master: self.shared.device.bus_master(), halted: Arc::clone(&self.shared.halted) }
    }

    /// The IOMMU address space of this NIC, for mapping more memory into it.
    pub(crate) fn container(&self) -> &Arc<Container> {
        self.shared.device.group().container()
    }

    /// Stop all DMA now; the NIC refuses every operation until [`recover`](Self::recover).
    pub(crate) fn halt(&mut self) {
        self.shared.halted.store(true, Ordering::SeqCst);
        self.family.stop();
        if let Err(e) = self.shared.device.update_command(0, config::COMMAND_BUS_MASTER) {
            log::error!("{}: could not clear bus mastering: {e}", self.shared.device.addr());
        }
    }

    /// Stop this handle's DMA: the whole NIC, or its queue; the last handle
    /// of a NIC also turns bus mastering off and disconnects the interrupts.
    fn stop_dma(&mut self) {
        self.family.stop();
        if self.shared.handles.fetch_sub(1, Ordering::SeqCst) != 1 {
            return;
        }
        if let Err(e) = self.shared.device.update_command(0, config::COMMAND_BUS_MASTER) {
            log::error!("{}: could not clear bus mastering: {e}", self.shared.device.addr());
        }
        self.shared.irq.disable(&self.shared.device);
        log::info!("{}: stopped (TX/RX off, interrupts masked, bus mastering off)", self.shared.device.addr());
    }

    // ---- queues ----

    /// Queue pairs this handle drives (`NicConfig::queues` before a split, 1 after).
    pub fn queue_count(&self) -> usize {
        self.family.queue_count()
    }

    /// One handle per queue pair, each to be driven by a thread of its own:
    /// its TX ring, its RX ring (fed by receive-side scaling), its own
    /// interrupt vector to sleep on. The NIC stays up until the last handle
    /// is dropped; a reset or [`recover`](Self::recover) needs the whole NIC
    /// and is refused on a handle. A NIC with one queue returns itself.
    pub fn split_queues(mut self) -> Vec<Nic> {
        if self.family.queue_count() == 1 {
            return vec![self];
        }
        let families = self.family.split();
        self.shared.handles.fetch_add(families.len(), Ordering::SeqCst);
        families
            .into_iter()
            .map(|family| Nic {
                family,
                shared: Arc::clone(&self.shared),
                config: self.config.clone(),
                interrupts: 0,
                link_changes: 0,
                last_activity: Instant::now(),
                doorbell_time: Duration::ZERO,
                stop: self.stop.clone(),
            })
            .collect()
        // `self` goes here: its spent family stops nothing, and it is not the last handle.
    }

    /// The queue this handle drives, if it drives one of several.
    pub fn queue(&self) -> Option<usize> {
        self.family.interrupt_vector()
    }

    /// The RX queue the NIC's receive-side scaling puts a TCP or UDP datagram
    /// from `src` to `dst` on, when it spreads flows over several queues: a
    /// handle that opens a connection picks a local port whose replies land
    /// on its own queue.
    pub fn rss_queue(&self, src: std::net::SocketAddrV4, dst: std::net::SocketAddrV4) -> Option<usize> {
        self.family.rss_queue(src, dst)
    }

    /// Pin the calling thread to a CPU of its own for this queue handle:
    /// queue q to the q-th CPU the process may use, when there are at least
    /// as many CPUs as queues (otherwise the threads share them as the
    /// scheduler sees fit). Returns the CPU, if pinned.
    pub fn pin_current_thread(&self) -> Option<usize> {
        let q = self.queue()?;
        let cpus = crate::sys::host::usable_cpus();
        if cpus.len() < usize::from(self.config.queues) {
            return None;
        }
        let cpu = cpus[q];
        match crate::sys::host::pin_current_thread(cpu) {
            Ok(()) => Some(cpu),
            Err(e) => {
                log::warn!("queue {q}: could not pin the thread to CPU {cpu}: {e}");
                None
            }
        }
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
            .field("addr", &self.shared.device.addr())
            .field("model", &self.model().name)
            .field("mac", &self.mac())
            .finish_non_exhaustive()
    }
}

// Queue handles go to threads of their own.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Nic>();
};
