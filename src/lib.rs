//! What the `zcnic` command and the examples share: the `--pci` argument,
//! the hints added to driver errors, SIGINT/SIGTERM handling, the
//! packet-send frame layout, the HTTP layer of `zcnic serve`, and what a
//! run cost (CPU, busy time, memory peaks). The
//! driver itself is the `zcnic-driver` crate.

pub mod args;
pub mod hints;
pub mod packet_send;
pub mod serve;
pub mod signals;
pub mod usage;
