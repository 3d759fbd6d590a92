//! SIGINT and SIGTERM set a stop flag instead of killing the process, so a
//! send or a receive stops cleanly: queued frames complete, the NIC is
//! stopped, a summary is printed. Every wait in the driver honours the flag
//! within 200 ms.

use std::sync::OnceLock;

use zcnic_driver::StopFlag;

static STOP: OnceLock<StopFlag> = OnceLock::new();

extern "C" fn on_signal(_: libc::c_int) {
    // OnceLock::get is one atomic load once initialised (it is, before the
    // handler is installed), and StopFlag::stop one atomic store: both are
    // async-signal-safe.
    if let Some(flag) = STOP.get() {
        flag.stop();
    }
}

/// The process's stop flag, with SIGINT and SIGTERM routed to it.
pub fn install() -> StopFlag {
    let flag = STOP.get_or_init(StopFlag::new).clone();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is an extern "C" fn that only does an atomic
        // load and store, which is async-signal-safe; sigaction copies the struct.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
    flag
}

/// Whether a stop was asked for.
pub fn stopping() -> bool {
    STOP.get().is_some_and(StopFlag::is_set)
}
