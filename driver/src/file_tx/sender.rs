//! The send loop: windows in, datagrams out, windows released as the NIC
//! completes them.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::budget::{CloseOnDrop, PinBudget, PinnedBytes};
use super::measure::{ProcessIo, ProcessIoDelta};
use super::source::FileSource;
use super::window::{plan_windows, FileWindow};
use crate::device::{DmaStopper, Nic, StopFlag, TxFrame};
use crate::error::Error;
use crate::net::udp::{UdpFlow, HEADERS_LEN, MAX_PAYLOAD};

/// How far a paced sender may fall behind and then catch up at full speed.
const PACE_BURST: Duration = Duration::from_millis(2);

/// Default window: how much of the file is mapped and pinned at a time.
pub const DEFAULT_WINDOW_BYTES: u64 = 32 << 20;

/// Windows pinned at once: the one being sent and the next, pinned while the
/// current one goes out. The next-but-one is pinned only once the NIC has
/// completed the oldest and it has been unmapped, so pinned memory never
/// exceeds two windows.
pub const PINNED_WINDOWS: usize = 2;

/// How to send a file.
#[derive(Debug, Clone)]
pub struct FileSendConfig {
    /// Bytes of the file mapped and pinned per window (rounded to whole datagrams).
    pub window_bytes: u64,
    /// Pace the sender to this many megabits per second of Ethernet frames
    /// (headers included, FCS excluded); `None` sends as fast as the NIC takes them.
    pub rate_mbit: Option<f64>,
    /// Datagrams per doorbell.
    pub batch: u16,
    /// How long the NIC may go without completing anything before it counts as hung.
    pub stall_timeout: Duration,
    /// How long to wait for a link that went down to come back.
    pub link_timeout: Duration,
    /// How many times a NIC that stopped completing descriptors may be reset
    /// and the send resumed before the send fails.
    pub max_recoveries: u32,
}

impl Default for FileSendConfig {
    fn default() -> Self {
        FileSendConfig {
            window_bytes: DEFAULT_WINDOW_BYTES,
            rate_mbit: None,
            batch: 32,
            stall_timeout: Duration::from_secs(5),
            link_timeout: Duration::from_secs(10),
            max_recoveries: 2,
        }
    }
}

/// What a file send did. Each figure says how it was obtained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSendReport {
    /// The file's size.
    pub file_len: u64,
    /// Payload bytes the NIC completed (from its completions).
    pub bytes_sent: u64,
    /// Datagrams the NIC completed (from its completions).
    pub datagrams: u64,
    /// From the first descriptor to the last completion (wall clock).
    pub elapsed: Duration,
    /// Stopped early by the stop flag (SIGINT).
    pub interrupted: bool,
    /// Header bytes the CPU wrote, 42 per datagram posted (driver's count).
    pub header_bytes_written: u64,
    /// Tail writes (driver's count).
    pub doorbells: u64,
    /// Interrupts taken (driver's count of eventfd signals).
    pub interrupts: u64,
    /// File windows the file was split into.
    pub windows: u64,
    /// Times the link went down during the send and the sender waited for it.
    pub link_outages: u64,
    /// Sleeps taken to hold the requested rate.
    pub pacing_sleeps: u64,
    /// Times the NIC stopped completing descriptors and was reset.
    pub recoveries: u32,
    /// Most file bytes pinned for DMA at any one time (driver's count, taken
    /// each time a window is pinned; at most [`PINNED_WINDOWS`] windows).
    pub max_pinned_bytes: u64,
    /// What this process read and faulted during the send, measured by the
    /// kernel (/proc/self/io and getrusage); `None` where it cannot be read.
    pub process_io: Option<ProcessIoDelta>,
}

/// A file send, set up with a builder and run with [`send`](Self::send).
///
/// ```no_run
/// # use zcnic_driver::{FileSend, FileSource, Nic, StopFlag, UdpFlow};
/// # fn f(nic: &mut Nic, source: &FileSource, flow: UdpFlow, stop: &StopFlag) -> Result<(), zcnic_driver::Error> {
/// let report = FileSend::new(source, flow)
///     .rate_mbit(500.0)
///     .stop_flag(stop)
///     .on_progress(|bytes| eprintln!("{bytes} bytes done"))
///     .send(nic)?;
/// # Ok(()) }
/// ```
pub struct FileSend<'a> {
    source: &'a FileSource,
    /// The bytes to send (the whole file unless [`FileSend::part`]).
    part: Option<std::ops::Range<u64>>,
    flow: UdpFlow,
    config: FileSendConfig,
    stop: Option<StopFlag>,
    progress: Box<dyn FnMut(u64) + 'a>,
    #[cfg(feature = "fault-injection")]
    panic_after: Option<u64>,
}

impl<'a> FileSend<'a> {
    /// Send `source` as UDP datagrams of `flow`, with the default settings.
    pub fn new(source: &'a FileSource, flow: UdpFlow) -> Self {
        FileSend {
            source,
            part: None,
            flow,
            config: FileSendConfig::default(),
            stop: None,
            progress: Box::new(|_| {}),
            #[cfg(feature = "fault-injection")]
            panic_after: None,
        }
    }

    /// Send only bytes `part` of the file (e.g. one of several parts sent
    /// in parallel over several queues, each as its own flow).
    pub fn part(mut self, part: std::ops::Range<u64>) -> Self {
        self.part = Some(part);
        self
    }

    /// Every setting at once.
    pub fn config(mut self, config: FileSendConfig) -> Self {
        self.config = config;
        self
    }

    /// Pace to `mbit` megabits per second of frames.
    pub fn rate_mbit(mut self, mbit: f64) -> Self {
        self.config.rate_mbit = Some(mbit);
        self
    }

    /// Pin `bytes` of the file at a time.
    pub fn window_bytes(mut self, bytes: u64) -> Self {
        self.config.window_bytes = bytes;
        self
    }

    /// Stop queueing datagrams once `flag` is set (the queued ones complete
    /// first); the NIC's waits honour it too for the duration of the send.
    pub fn stop_flag(mut self, flag: &StopFlag) -> Self {
        self.stop = Some(flag.clone());
        self
    }

    /// Call `progress` with the payload bytes completed so far, after every batch.
    pub fn on_progress(mut self, progress: impl FnMut(u64) + 'a) -> Self {
        self.progress = Box::new(progress);
        self
    }

    /// Test hook: panic once `n` datagrams have been handed to the NIC, while
    /// it still owns descriptors pointing into the file (for the panic-safety test).
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub fn panic_after_datagrams(mut self, n: u64) -> Self {
        self.panic_after = Some(n);
        self
    }

    /// Send the file through `nic`.
    pub fn send(mut self, nic: &mut Nic) -> Result<FileSendReport, Error> {
        let previous = match &self.stop {
            Some(flag) => nic.replace_stop_flag(Some(flag.clone())),
            None => {
                self.stop = nic.stop_flag().cloned();
                nic.stop_flag().cloned()
            }
        };
        let result = self.run(nic);
        nic.replace_stop_flag(previous);
        result
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(StopFlag::is_set)
    }

    fn run(&mut self, nic: &mut Nic) -> Result<FileSendReport, Error> {
        let source = self.source;
        let cfg = self.config.clone();
        let part = self.part.clone().unwrap_or(0..source.len());
        if part.start > part.end || part.end > source.len() {
            return Err(Error::BadPart { start: part.start, end: part.end, len: source.len() });
        }
        let len = part.end - part.start;
        let plans = plan_windows(len, MAX_PAYLOAD as u64, cfg.window_bytes);
        // Let earlier frames (an ARP request...) complete, so the counters below
        // count this file's datagrams only.
        nic.wait_tx_done(cfg.stall_timeout)?;
        let before = nic.counters();
        let done = Completion { base: before.tx.completed, len };
        let pinned = Arc::new(PinnedBytes::default());
        let budget = PinBudget::new(PINNED_WINDOWS);
        let container = Arc::clone(nic.container());
        let mut report = FileSendReport { file_len: len, windows: plans.len() as u64, ..Default::default() };
        if len == 0 {
            return Ok(report);
        }
        let io_before = ProcessIo::now();
        let start = Instant::now();

        let outcome = std::thread::scope(|scope| {
            // The mapper runs ahead of the sender as far as the pin budget lets
            // it: it takes a permit before pinning a window, and the window gives
            // it back once the NIC is done with it and it is unmapped.
            let (ready, windows_in) = sync_channel::<Result<FileWindow, Error>>(1);
            let mapper_pinned = Arc::clone(&pinned);
            let mapper_budget = Arc::clone(&budget);
            let plans_ref = &plans;
            scope.spawn(move || {
                for plan in plans_ref {
                    let Some(permit) = mapper_budget.acquire() else { break };
                    let window = source.check_unchanged(plan.first * MAX_PAYLOAD as u64).and_then(|()| {
                        FileWindow::map(source, *plan, part.clone(), &container, &mapper_pinned, permit)
                    });
                    let failed = window.is_err();
                    if ready.send(window).is_err() || failed {
                        break;
                    }
                }
            });
            let mut windows = InFlightWindows::new(nic.dma_stopper());
            // However this closure ends (a panic included), a mapper waiting for
            // a permit wakes up and ends, so the scope can join it. Declared after
            // `windows`, so it closes the budget before they are released: the
            // permits they give back then pin nothing more.
            let _close_budget = CloseOnDrop(&budget);
            let mut run = SendRun { send: self, cfg: &cfg, done, report: &mut report, start };
            let result = run.send_loop(nic, &windows_in, &mut windows);
            // Whatever happened, the NIC must be done with (or kept away from)
            // the windows before they are unmapped.
            let drained = nic.wait_tx_done(cfg.stall_timeout);
            match &drained {
                Ok(()) => windows.settled(),
                Err(e) => {
                    log::error!("the NIC did not finish ({e}); stopping it before releasing the file windows");
                    nic.halt();
                }
            }
            budget.close(); // the mapper's wait for a permit ends, and it pins nothing more
            drop(windows);
            drop(windows_in); // lets the mapper's pending send fail, so it ends
            result.and(drained)
        });
        report.max_pinned_bytes = pinned.peak();
        report.elapsed = start.elapsed();
        report.process_io = io_before.and_then(|b| ProcessIo::now().map(|a| a.since(&b)));
        let after = nic.counters();
        report.datagrams = done.datagrams(nic);
        report.bytes_sent = done.bytes(nic);
        // Headers of every datagram handed to the NIC, including any sent again after a reset.
        report.header_bytes_written = (after.tx.frames - before.tx.frames) * HEADERS_LEN as u64;
        report.doorbells = after.tx.doorbells - before.tx.doorbells;
        report.interrupts = after.interrupts - before.interrupts;
        outcome?;
        if !report.interrupted {
            source.check_unchanged(report.bytes_sent)?;
        }
        Ok(report)
    }
}

/// How far this send has got, read from the NIC's completed-frame counter
/// (frames complete in order, and only this file's frames are in the ring).
#[derive(Debug, Clone, Copy)]
struct Completion {
    /// The counter when the send began.
    base: u64,
    /// The file's length.
    len: u64,
}

impl Completion {
    /// Datagrams of this file the NIC has completed.
    fn datagrams(&self, nic: &Nic) -> u64 {
        nic.counters().tx.completed - self.base
    }

    /// Payload bytes of this file the NIC has completed.
    fn bytes(&self, nic: &Nic) -> u64 {
        (self.datagrams(nic) * MAX_PAYLOAD as u64).min(self.len)
    }
}

/// What stops the NIC's DMA from outside it; `DmaStopper` clears bus mastering.
trait StopDma {
    /// Stop it; whether the NIC is now known to start no DMA.
    fn stop_dma(&self) -> bool;
}

impl StopDma for DmaStopper {
    fn stop_dma(&self) -> bool {
        self.stop()
    }
}

/// The windows the NIC may be reading. Dropped any way (after the send, on
/// an error, or while a panic unwinds, even one the caller catches), they
/// make sure the NIC's DMA is over before their memory is unmapped and its
/// IOVAs handed out again: unless the send loop saw every datagram complete
/// ([`settled`](Self::settled)), bus mastering is turned off first. If even
/// that fails, the windows are leaked, never unmapped while reachable.
struct InFlightWindows<W = FileWindow, S: StopDma = DmaStopper> {
    windows: VecDeque<W>,
    stopper: S,
    settled: bool,
}

impl<W, S: StopDma> InFlightWindows<W, S> {
    fn new(stopper: S) -> Self {
        InFlightWindows { windows: VecDeque::new(), stopper, settled: false }
    }

    /// The NIC has completed every datagram posted so far.
    fn settled(&mut self) {
        self.settled = true;
    }

    fn push(&mut self, window: W) {
        self.settled = false;
        self.windows.push_back(window);
    }
}

impl<S: StopDma> InFlightWindows<FileWindow, S> {
    /// The window holding datagram `n`, if it is mapped.
    fn holding(&self, n: u64) -> Option<&FileWindow> {
        self.windows.iter().find(|w| w.plan().first <= n && n < w.plan().end())
    }

    /// One past the last datagram of the newest window (0 if none).
    fn end(&self) -> u64 {
        self.windows.back().map_or(0, |w| w.plan().end())
    }

    /// Release the windows whose every datagram is below `completed`.
    fn release_completed(&mut self, completed: u64) {
        while self.windows.front().is_some_and(|w| w.plan().end() <= completed) {
            self.windows.pop_front();
        }
    }
}

impl<W, S: StopDma> InFlightWindows<W, S> {
    /// How many windows are held (mapped and pinned).
    fn len(&self) -> usize {
        self.windows.len()
    }
}

impl<W, S: StopDma> Drop for InFlightWindows<W, S> {
    fn drop(&mut self) {
        if self.windows.is_empty() || self.settled {
            return;
        }
        if std::thread::panicking() {
            log::error!("panic while the NIC may be reading the file: stopping its DMA before unmapping");
        }
        if !self.stopper.stop_dma() {
            log::error!(
                "could not stop the NIC's DMA: leaking {} file windows rather than unmapping them",
                self.windows.len()
            );
            for w in self.windows.drain(..) {
                std::mem::forget(w);
            }
        }
        // The windows drop after this, each unmapping itself.
    }
}

/// One send in progress.
struct SendRun<'s, 'a> {
    send: &'s mut FileSend<'a>,
    cfg: &'s FileSendConfig,
    done: Completion,
    report: &'s mut FileSendReport,
    start: Instant,
}

impl SendRun<'_, '_> {
    fn send_loop(
        &mut self,
        nic: &mut Nic,
        windows_in: &Receiver<Result<FileWindow, Error>>,
        windows: &mut InFlightWindows,
    ) -> Result<(), Error> {
        let total = self.done.len.div_ceil(MAX_PAYLOAD as u64);
        let bytes_per_sec = self.cfg.rate_mbit.map(|mbit| mbit * 1e6 / 8.0);
        let mut pace_due = self.start;
        let mut next = 0u64;
        let offload = UdpFlow::checksum_offload();
        loop {
            while next < total {
                if self.send.stopping() {
                    self.report.interrupted = true;
                    break;
                }
                if next >= windows.end() {
                    if let Err(e) = self.free_a_pin_permit(nic, windows) {
                        self.recover_or_fail(nic, e)?;
                        next = self.done.datagrams(nic);
                        continue;
                    }
                    let window = windows_in.recv().map_err(|_| Error::Os {
                        what: "mapping the file",
                        source: std::io::Error::other("the mapper stopped"),
                    })??;
                    windows.push(window);
                }
                let mut batch = usize::from(self.cfg.batch.max(1));
                if let Some(rate) = bytes_per_sec {
                    // Pacing: a token bucket allowing at most PACE_BURST of
                    // catch-up, so a pause (a link outage, a slow window) is not
                    // followed by a burst faster than the rate.
                    let now = Instant::now();
                    pace_due = pace_due.max(now - PACE_BURST.min(now - self.start));
                    if pace_due > now {
                        self.report.pacing_sleeps += 1;
                        std::thread::sleep(pace_due - now);
                    }
                    // Keep bursts short when paced: about 1 ms of traffic per doorbell.
                    batch = batch.min(((rate / 1000.0) / (HEADERS_LEN + MAX_PAYLOAD) as f64).ceil().max(1.0) as usize);
                }
                // Last, right before the doorbell: the link is up and there is room.
                if let Err(e) = self.wait_for_room_and_link(nic) {
                    self.recover_or_fail(nic, e)?;
                    next = self.done.datagrams(nic);
                    continue;
                }
                // After a reset `next` may go back into an earlier window, still mapped.
                let window = windows.holding(next).expect("the window holding the next datagram is mapped");
                let window_end = window.plan().end();
                let mut n = 0;
                while n < batch && next < window_end && nic.tx_room(1) > 0 {
                    let payload = window.span(next);
                    let buf = nic.tx_header_buffer().ok_or(Error::TxRingFull)?;
                    self.send.flow.write_offload_headers(buf, payload.len() as usize, next as u16);
                    nic.tx_post(&TxFrame {
                        header_len: HEADERS_LEN,
                        payload: &[payload],
                        offload: Some(offload),
                        segmentation: None,
                    })?;
                    if let Some(rate) = bytes_per_sec {
                        pace_due += Duration::from_secs_f64((HEADERS_LEN + payload.len() as usize) as f64 / rate);
                    }
                    next += 1;
                    n += 1;
                }
                // One last look at the link, as close to the doorbell as it gets:
                // frames posted to a dead link are lost (QEMU drops them and still
                // reports them done). If it dropped, the batch waits unposted.
                if !nic.link_up() {
                    self.wait_for_link(nic)?;
                }
                nic.tx_doorbell()?;
                #[cfg(feature = "fault-injection")]
                if self.send.panic_after.is_some_and(|limit| next >= limit) {
                    panic!("injected panic after {next} datagrams (fault-injection test hook)");
                }
                windows.release_completed(self.done.datagrams(nic));
                (self.send.progress)(self.done.bytes(nic));
            }
            if self.report.interrupted {
                break;
            }
            match nic.wait_tx_done(self.cfg.stall_timeout) {
                Ok(()) => break,
                Err(e) => {
                    self.recover_or_fail(nic, e)?;
                    next = self.done.datagrams(nic);
                }
            }
        }
        nic.wait_tx_done(self.cfg.stall_timeout)?;
        windows.settled();
        (self.send.progress)(self.done.bytes(nic));
        Ok(())
    }

    /// Before waiting for the next window: if this loop holds the whole pin
    /// budget, the mapper cannot pin another one until the oldest is released,
    /// so wait for the NIC to complete what is posted and release it. With
    /// windows larger than the ring this never waits (posting the current
    /// window has reclaimed the previous one long before); tiny windows need it.
    fn free_a_pin_permit(&mut self, nic: &mut Nic, windows: &mut InFlightWindows) -> Result<(), Error> {
        nic.reclaim_tx();
        windows.release_completed(self.done.datagrams(nic));
        if windows.len() < PINNED_WINDOWS {
            return Ok(());
        }
        self.wait_for_link(nic)?;
        nic.wait_tx_done(self.cfg.stall_timeout)?;
        windows.release_completed(self.done.datagrams(nic));
        Ok(())
    }

    /// Wait until the link is up and a datagram fits. Frames are only handed
    /// to the NIC while the link is up: QEMU's model completes (and drops)
    /// frames sent on a dead link, and real hardware holds them, so either
    /// way pausing here is what keeps every datagram on the wire exactly once.
    fn wait_for_room_and_link(&mut self, nic: &mut Nic) -> Result<(), Error> {
        loop {
            self.wait_for_link(nic)?;
            match nic.wait_tx_room_for(1, self.cfg.stall_timeout) {
                Ok(()) => return Ok(()),
                // Real hardware holds frames while the link is down: not a hang.
                Err(Error::TxTimeout { .. }) if !nic.link_up() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// If the link is down, wait for it (up to the link timeout).
    fn wait_for_link(&mut self, nic: &mut Nic) -> Result<(), Error> {
        if nic.link_up() {
            return Ok(());
        }
        self.report.link_outages += 1;
        // Count what the NIC finished before the link went: reclaim first.
        nic.reclaim_tx();
        let sent = self.done.bytes(nic);
        log::warn!("link down after {sent} bytes; waiting up to {:?} for it to come back", self.cfg.link_timeout);
        if !nic.wait_link_up(self.cfg.link_timeout)? {
            return Err(Error::LinkLost { secs: self.cfg.link_timeout.as_secs(), sent });
        }
        log::info!("link back up; resuming");
        Ok(())
    }

    /// A NIC that stopped completing descriptors (with the link up) is reset
    /// and brought up again, up to `max_recoveries` times; anything else, or
    /// one hang too many, ends the send with the error.
    fn recover_or_fail(&mut self, nic: &mut Nic, e: Error) -> Result<(), Error> {
        let hang = matches!(e, Error::TxTimeout { .. }) && nic.link_up();
        if !hang || self.report.recoveries >= self.cfg.max_recoveries {
            return Err(e);
        }
        self.report.recoveries += 1;
        log::error!(
            "{e}; resetting the NIC and resuming (recovery {} of {})",
            self.report.recoveries,
            self.cfg.max_recoveries
        );
        nic.recover()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    type Log = Rc<RefCell<Vec<String>>>;

    /// Stands in for a file window: notes when it is unmapped (dropped).
    struct Window(u32, Log);
    impl Drop for Window {
        fn drop(&mut self) {
            self.1.borrow_mut().push(format!("unmap {}", self.0));
        }
    }

    /// Stands in for the bus-mastering switch.
    struct Stopper(bool, Log);
    impl StopDma for Stopper {
        fn stop_dma(&self) -> bool {
            self.1.borrow_mut().push("stop".into());
            self.0
        }
    }

    fn guard(stops: bool, log: &Log) -> InFlightWindows<Window, Stopper> {
        let mut g = InFlightWindows::new(Stopper(stops, Rc::clone(log)));
        g.push(Window(1, Rc::clone(log)));
        g.push(Window(2, Rc::clone(log)));
        g
    }

    #[test]
    fn a_panic_stops_dma_before_any_window_is_unmapped_even_when_caught() {
        let log: Log = Rc::default();
        let g = guard(true, &log);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _windows = g;
            panic!("mid-send");
        }));
        assert!(caught.is_err());
        assert_eq!(*log.borrow(), ["stop", "unmap 1", "unmap 2"]);
    }

    #[test]
    fn settled_windows_are_unmapped_without_stopping_the_nic() {
        let log: Log = Rc::default();
        let mut g = guard(true, &log);
        g.settled();
        drop(g);
        assert_eq!(*log.borrow(), ["unmap 1", "unmap 2"]);
    }

    #[test]
    fn a_new_window_unsettles_and_a_failed_stop_leaks_instead_of_unmapping() {
        let log: Log = Rc::default();
        let mut g = guard(false, &log);
        g.settled();
        g.push(Window(3, Rc::clone(&log)));
        drop(g);
        assert_eq!(*log.borrow(), ["stop"], "nothing unmapped while the NIC may still read it");
    }
}
