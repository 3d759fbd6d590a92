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
