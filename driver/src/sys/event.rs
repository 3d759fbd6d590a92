//! eventfd(2) and poll(2): how a device interrupt wakes a sleeping thread.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A non-blocking eventfd.
#[derive(Debug)]
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd() takes no pointers; the result is checked.
        let raw = super::check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: a fresh fd that nothing else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    /// Sleep until the counter is non-zero or `timeout` passes. Returns
    /// whether it is readable; an interrupted sleep (EINTR) counts as not.
    pub(crate) fn poll(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.0.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // Round a sub-millisecond remainder up so that a short wait still sleeps.
        let ms = if ms == 0 && !timeout.is_zero() { 1 } else { ms };
        // SAFETY: one live pollfd, and we pass a count of 1.
        match super::check(unsafe { libc::poll(&mut pfd, 1, ms) }) {
            Ok(n) => Ok(n > 0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Read and reset the counter without sleeping (0 if it was 0).
    pub(crate) fn take(&self) -> u64 {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live 8-byte buffer; the fd is non-blocking.
        let n = unsafe { libc::read(self.0.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
        if n == 8 {
            u64::from_ne_bytes(count)
        } else {
            0
        }
    }
}

/// Sleep until one of `fds` is readable or `timeout` passes; returns which
/// are readable (none on timeout or EINTR).
pub(crate) fn poll_any(fds: &[&EventFd], timeout: Duration) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> =
        fds.iter().map(|f| libc::pollfd { fd: f.0.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let ms = if ms == 0 && !timeout.is_zero() { 1 } else { ms };
    // SAFETY: `pfds` is a live array of exactly `pfds.len()` pollfds.
    match super::check(unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) }) {
        Ok(_) => Ok(pfds.iter().map(|p| p.revents & libc::POLLIN != 0).collect()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(vec![false; fds.len()]),
        Err(e) => Err(e),
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
