//! A sender-side TCP for serving files with zero copies: protocol logic
//! only, no I/O, no clock, no randomness of its own.
//!
//! The send side works on an abstract byte stream: the caller says how many
//! bytes are available ([`Conn::extend_stream`]) and receives segments
//! ([`OutSegment`]) whose payload is a range of stream offsets. The caller
//! maps offsets to header buffers or pinned file pages and keeps them
//! pinned until [`Conn::acked_offset`] passes them; a retransmission points
//! at the same offsets again. Segments may be larger than one MSS, for the
//! NIC to cut (TSO).
//!
//! Time is a [`Duration`](std::time::Duration) since an epoch the caller
//! picks; initial sequence numbers come from the caller (see
//! [`table::IsnGenerator`]). So every test runs the same way twice.
//!
//! What is implemented, by RFC: the state machine of RFC 9293 (with the RST
//! and SYN checks of RFC 5961), MSS and window scale (RFC 7323), RTO of RFC
//! 6298 with Karn's rule, slow start and congestion avoidance of RFC 5681,
//! NewReno fast recovery of RFC 6582, zero-window probes. Not implemented:
//! SACK, timestamps, out-of-order queueing on receive, urgent data.

pub mod config;
pub mod congestion;
pub mod conn;
pub mod rto;
pub mod segment;
pub mod seq;
pub mod table;
pub mod wire;

#[cfg(test)]
mod conn_tests;
#[cfg(test)]
mod sim_tests;

pub use config::TcpConfig;
pub use conn::{Conn, ConnStats, Event, State};
pub use segment::OutSegment;
pub use table::{ConnKey, IsnGenerator, TcpTable};
pub use wire::{Flags, Options, TcpHeader};
