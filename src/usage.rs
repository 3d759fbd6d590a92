//! CPU time and context switches of this process (getrusage), to show what
//! sending and waiting cost.

use std::time::Duration;

/// User and system CPU time, and context switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime {
    /// Time spent in user space.
    pub user: Duration,
    /// Time spent in the kernel.
    pub system: Duration,
    /// Voluntary context switches (the process gave up the CPU: slept, waited).
    pub voluntary_switches: u64,
    /// Involuntary context switches (the scheduler took the CPU away).
    pub involuntary_switches: u64,
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

impl CpuTime {
    /// What this process has used so far.
    pub fn now() -> CpuTime {
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes one rusage into the live struct we pass.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
            return CpuTime::default();
        }
        CpuTime {
            user: tv(ru.ru_utime),
            system: tv(ru.ru_stime),
            voluntary_switches: ru.ru_nvcsw.max(0) as u64,
            involuntary_switches: ru.ru_nivcsw.max(0) as u64,
        }
    }

    /// What was used between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            voluntary_switches: self.voluntary_switches.saturating_sub(earlier.voluntary_switches),
            involuntary_switches: self.involuntary_switches.saturating_sub(earlier.involuntary_switches),
        }
    }
}

/// This process's peak locked memory (the kernel's VmLck, read after every
/// DMA map: rings, buffers and pinned file windows) and peak resident set
/// (VmHWM), in bytes; 0 where /proc/self/status cannot be read.
pub fn memory_peaks() -> (u64, u64) {
    let resident = zcnic_driver::MemoryStatus::now().map_or(0, |m| m.peak_resident);
    (zcnic_driver::locked_memory_peak(), resident)
}

/// One line for the summaries: [`memory_peaks`], said with how it was measured.
pub fn memory_line() -> String {
    let (locked, resident) = memory_peaks();
    format!(
        "memory measured by the kernel: peak locked {locked} bytes (VmLck, read after every DMA map), \
         peak resident {resident} bytes (VmHWM)"
    )
}

/// Seconds the guest's CPUs together have been busy (not idle, not waiting
/// for I/O) since boot, from the kernel's own account in /proc/stat. Around a
/// run on an otherwise idle machine, the difference is what the run cost the
/// machine: its process, the kernel's work for it (softirqs, the NIC's
/// interrupts) and, under an emulator, the device work done inside its
/// register writes. The kernel measures idle time at each idle entry and exit,
/// not by sampling, so this holds where tick-sampled process times do not.
/// `None` without /proc/stat.
pub fn system_busy_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_busy(&text)
}

fn parse_busy(stat: &str) -> Option<f64> {
    // "cpu  user nice system idle iowait irq softirq steal ..." in USER_HZ (100 on Linux).
    let fields: Vec<u64> =
        stat.lines().find(|l| l.starts_with("cpu "))?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Some(total.saturating_sub(idle) as f64 / hz)
}

#[cfg(test)]
mod tests {
    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 100 5 50 1000 20 3 2 0 0 0\nintr 1\n";
        let busy = super::parse_busy(stat).unwrap();
        assert!((busy - 1.6).abs() < 1e-9, "{busy}");
        assert_eq!(super::parse_busy("intr 1\n"), None);
        assert!(super::system_busy_seconds().is_some());
    }
}
