//! The send loop: windows in, datagrams out, windows released as the NIC
//! completes them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zcnic_ring::TxDesc;

use super::source::FileSource;
use super::window::{plan_windows, FileWindow};
use crate::e1000::Nic;
use crate::error::Error;
use crate::net::udp::{offsets, UdpFlow, HEADERS_LEN, MAX_PAYLOAD};

/// How far a paced sender may fall behind and then catch up at full speed.
const PACE_BURST: Duration = Duration::from_millis(2);

/// Default window: how much of the file is mapped and pinned at a time.
pub const DEFAULT_WINDOW_BYTES: u64 = 32 << 20;

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
    /// How long the NIC may go without completing anything before the send fails.
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

/// What a file send did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSendReport {
    /// The file's size.
    pub file_len: u64,
    /// Payload bytes the NIC completed.
    pub bytes_sent: u64,
    /// Datagrams the NIC completed.
    pub datagrams: u64,
    /// From the first descriptor to the last completion.
    pub elapsed: Duration,
    /// Stopped early by the caller's stop flag (SIGINT).
    pub interrupted: bool,
    /// Header bytes the CPU wrote (42 per datagram).
    pub header_bytes_written: u64,
    /// Payload bytes the CPU copied: what it wrote into TX buffers beyond the
    /// headers. Zero-copy means 0.
    pub payload_bytes_copied: u64,
    /// TDT writes.
    pub doorbells: u64,
    /// Interrupts taken.
    pub interrupts: u64,
    /// File windows the file was split into.
    pub windows: u64,
    /// System calls the driver made during the send (see [`crate::syscalls`]).
    pub syscalls: u64,
    /// Times the link went down during the send and the sender waited for it.
    pub link_outages: u64,
    /// Sleeps taken to hold the requested rate (each one is a syscall).
    pub pacing_sleeps: u64,
    /// Times the NIC stopped completing descriptors and was reset.
    pub recoveries: u32,
    /// Most file bytes pinned for DMA at any one time.
    pub max_pinned_bytes: u64,
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

/// Send `source` as UDP datagrams of `flow`; see [`Nic::send_file`].
pub(crate) fn send_file(
    nic: &mut Nic,
    source: &FileSource,
    flow: &UdpFlow,
    cfg: &FileSendConfig,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(u64),
) -> Result<FileSendReport, Error> {
    let len = source.len();
    let plans = plan_windows(len, MAX_PAYLOAD as u64, cfg.window_bytes);
    // Let earlier frames (an ARP request...) complete, so the counters below
    // count this file's datagrams only.
    nic.wait_tx_done(cfg.stall_timeout)?;
    let before = nic.counters();
    let done = Completion { base: before.tx.completed, len };
    let syscalls_before = crate::syscalls::total();
    let pinned = Arc::new(AtomicU64::new(0));
    let container = Arc::clone(nic.container());
    let mut report = FileSendReport { file_len: len, windows: plans.len() as u64, ..Default::default() };
    if len == 0 {
        return Ok(report);
    }
    let start = Instant::now();

    let outcome = std::thread::scope(|scope| {
        // The mapper runs one window ahead: the bounded channel holds at most
        // one finished window while the sender works through the current one.
        let (ready, windows_in) = sync_channel::<Result<FileWindow, Error>>(1);
        let mapper_pinned = Arc::clone(&pinned);
        let plans_ref = &plans;
        scope.spawn(move || {
            for plan in plans_ref {
                let window = source
                    .check_unchanged(plan.first * MAX_PAYLOAD as u64)
                    .and_then(|()| FileWindow::map(source, *plan, &container, &mapper_pinned));
                let failed = window.is_err();
                if ready.send(window).is_err() || failed {
                    break;
                }
            }
        });
        let mut windows: VecDeque<FileWindow> = VecDeque::new();
        let result = send_loop(
            nic,
            source,
            flow,
            cfg,
            stop,
            progress,
            &windows_in,
            &mut windows,
            &pinned,
            &mut report,
            start,
            done,
        );
        // Whatever happened, the NIC must be done with (or kept away from) the
        // windows before they are unmapped.
        let drained = nic.wait_tx_done(cfg.stall_timeout);
        if drained.is_err() {
            log::error!("the NIC did not finish; stopping it before releasing the file windows");
            nic.halt();
        }
        windows.clear();
        drop(windows_in); // lets the mapper's pending send fail, so it ends
        result.and(drained)
    });
    report.elapsed = start.elapsed();
    let after = nic.counters();
    report.datagrams = done.datagrams(nic);
    report.bytes_sent = done.bytes(nic);
    // Headers of every datagram handed to the NIC, including any sent again after a reset.
    report.header_bytes_written = (after.tx.frames - before.tx.frames) * HEADERS_LEN as u64;
    let cpu_written = after.tx.cpu_bytes_written - before.tx.cpu_bytes_written;
    report.payload_bytes_copied = cpu_written.saturating_sub(report.header_bytes_written);
    report.doorbells = after.tx.doorbells - before.tx.doorbells;
    report.interrupts = after.interrupts - before.interrupts;
    report.syscalls = crate::syscalls::total() - syscalls_before;
    outcome?;
    if !report.interrupted {
        source.check_unchanged(report.bytes_sent)?;
    }
    Ok(report)
}

/// Wait until the link is up and three descriptors are free. Frames are only
/// handed to the NIC while the link is up: QEMU's model completes (and drops)
/// frames sent on a dead link, and real hardware holds them, so either way
/// pausing here is what keeps every datagram on the wire exactly once.
fn wait_for_room_and_link(
    nic: &mut Nic,
    cfg: &FileSendConfig,
    report: &mut FileSendReport,
    done: Completion,
) -> Result<(), Error> {
    loop {
        wait_for_link(nic, cfg, report, done)?;
        match nic.wait_tx_free(3, cfg.stall_timeout) {
            Ok(()) => return Ok(()),
            // Real hardware holds frames while the link is down: not a hang.
            Err(Error::TxTimeout { .. }) if !nic.link_up() => continue,
            Err(e) => return Err(e),
        }
    }
}

/// If the link is down, wait for it (up to the link timeout).
fn wait_for_link(
    nic: &mut Nic,
    cfg: &FileSendConfig,
    report: &mut FileSendReport,
    done: Completion,
) -> Result<(), Error> {
    if nic.link_up() {
        return Ok(());
    }
    report.link_outages += 1;
    // Count what the NIC finished before the link went: reclaim first.
    nic.reclaim_tx();
    let sent = done.bytes(nic);
    log::warn!("link down after {sent} bytes; waiting up to {:?} for it to come back", cfg.link_timeout);
    if !nic.wait_link_up(cfg.link_timeout)? {
        return Err(Error::LinkLost { secs: cfg.link_timeout.as_secs(), sent });
    }
    log::info!("link back up; resuming");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn send_loop(
    nic: &mut Nic,
    source: &FileSource,
    flow: &UdpFlow,
    cfg: &FileSendConfig,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(u64),
    windows_in: &std::sync::mpsc::Receiver<Result<FileWindow, Error>>,
    windows: &mut VecDeque<FileWindow>,
    pinned: &AtomicU64,
    report: &mut FileSendReport,
    start: Instant,
    done: Completion,
) -> Result<(), Error> {
    let total = source.len().div_ceil(MAX_PAYLOAD as u64);
    // One checksum context serves every datagram: all share the same layout.
    let context = TxDesc::tcpip_context(
        offsets::IP_START as u8,
        offsets::IP_CSUM as u8,
        offsets::IP_END as u16,
        offsets::UDP_START as u8,
        offsets::UDP_CSUM as u8,
        true,
    );
    let push_context = |nic: &mut Nic| -> Result<(), Error> {
        nic.wait_tx_free(1, cfg.stall_timeout)?;
        nic.tx_access(|q, rings, _| q.push_context(rings, context))
    };
    push_context(nic)?;

    let bytes_per_sec = cfg.rate_mbit.map(|mbit| mbit * 1e6 / 8.0);
    let mut pace_due = start;
    let mut next = 0u64;
    loop {
        while next < total {
            if stop.load(Ordering::Relaxed) {
                report.interrupted = true;
                break;
            }
            if windows.back().is_none_or(|w| next >= w.plan().end()) {
                let window = windows_in.recv().map_err(|_| Error::Os {
                    what: "mapping the file",
                    source: std::io::Error::other("the mapper stopped"),
                })??;
                windows.push_back(window);
                report.max_pinned_bytes = report.max_pinned_bytes.max(pinned.load(Ordering::Relaxed));
            }
            let mut batch = usize::from(cfg.batch.max(1));
            if let Some(rate) = bytes_per_sec {
                // Pacing: a token bucket allowing at most PACE_BURST of catch-up, so
                // a pause (a link outage, a slow window) is not followed by a burst
                // faster than --rate.
                let now = Instant::now();
                pace_due = pace_due.max(now - PACE_BURST.min(now - start));
                if pace_due > now {
                    crate::syscalls::note(1); // nanosleep
                    report.pacing_sleeps += 1;
                    std::thread::sleep(pace_due - now);
                }
                // Keep bursts short when paced: about 1 ms of traffic per doorbell.
                batch = batch.min(((rate / 1000.0) / (HEADERS_LEN + MAX_PAYLOAD) as f64).ceil().max(1.0) as usize);
            }
            // Last, right before the doorbell: the link is up and there is room.
            // A datagram takes up to three descriptors (header, payload split at a page).
            if let Err(e) = wait_for_room_and_link(nic, cfg, report, done) {
                recover_or_fail(nic, cfg, report, e)?;
                next = done.datagrams(nic);
                push_context(nic)?;
                continue;
            }
            // After a reset `next` may go back into an earlier window, still mapped.
            let window = windows
                .iter()
                .find(|w| w.plan().first <= next && next < w.plan().end())
                .expect("the window holding the next datagram is mapped");
            let window_end = window.plan().end();
            let rung = nic.tx_access(|q, rings, regs| -> Result<bool, Error> {
                let mut n = 0;
                while n < batch && next < window_end && q.free() >= 3 {
                    let (iova, payload_len) = window.span(next);
                    q.push_zero_copy_datagram(rings, flow, next as u16, iova, payload_len)?;
                    if let Some(rate) = bytes_per_sec {
                        pace_due += Duration::from_secs_f64((HEADERS_LEN + usize::from(payload_len)) as f64 / rate);
                    }
                    next += 1;
                    n += 1;
                }
                // One last look at the link, as close to the doorbell as it gets:
                // frames posted to a dead link are lost (QEMU drops them and still
                // reports them done). If it dropped, the batch waits unposted.
                if !Nic::link_is_up(regs) {
                    return Ok(false);
                }
                q.flush(rings, regs);
                Ok(true)
            })?;
            if !rung {
                wait_for_link(nic, cfg, report, done)?;
                nic.tx_access(|q, rings, regs| q.flush(rings, regs));
            }
            let finished = done.datagrams(nic);
            while windows.front().is_some_and(|w| w.plan().end() <= finished) {
                windows.pop_front();
            }
            progress(done.bytes(nic));
        }
        if report.interrupted {
            break;
        }
        match nic.wait_tx_done(cfg.stall_timeout) {
            Ok(()) => break,
            Err(e) => {
                recover_or_fail(nic, cfg, report, e)?;
                next = done.datagrams(nic);
                push_context(nic)?;
            }
        }
    }
    nic.wait_tx_done(cfg.stall_timeout)?;
    progress(done.bytes(nic));
    Ok(())
}

/// A NIC that stopped completing descriptors (with the link up) is reset and
/// brought up again, up to `max_recoveries` times; anything else, or one hang
/// too many, ends the send with the error.
fn recover_or_fail(nic: &mut Nic, cfg: &FileSendConfig, report: &mut FileSendReport, e: Error) -> Result<(), Error> {
    let hang = matches!(e, Error::TxTimeout { .. }) && nic.link_up();
    if !hang || report.recoveries >= cfg.max_recoveries {
        return Err(e);
    }
    report.recoveries += 1;
    log::error!("{e}; resetting the NIC and resuming (recovery {} of {})", report.recoveries, cfg.max_recoveries);
    nic.recover()
}
