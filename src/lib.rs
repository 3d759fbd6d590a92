//! What the `zcnic` command and the examples share: the `--pci` argument,
//! the hints added to driver errors, SIGINT/SIGTERM handling, and the
//! packet-send frame layout. The driver
//! itself is the `zcnic-driver` crate.

pub mod args;
pub mod hints;
pub mod packet_send;
pub mod signals;
