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
//! # Driving it
//!
//! ```text
//! table = TcpTable::new(config, max_conns, Rfc6528Isn::new(random_secret))
//! table.listen(80)
//! loop {
//!     now = clock since start
//!     for each received IPv4/TCP frame (checksum verified):
//!         (header, payload) = wire::parse(tcp bytes)
//!         table.on_segment(now, src_ip, &header, payload)
//!     for (key, event) in table.take_events():   // filled by poll
//!         Established   -> wait for the request
//!         DataReceived  -> conn.read(..) the request; once complete, pin the
//!                          file, conn.extend_stream(header_len + file_len),
//!                          conn.close()   (FIN follows the last byte)
//!         Acked(offset) -> unpin file windows wholly below offset
//!         Closed        -> release everything of key
//!     table.poll(now, &mut out)
//!     for (key, seg) in out:
//!         build Ethernet/IPv4 + seg.header() (checksum = wire::tso_seed or
//!         wire::offload_seed); payload = stream offsets seg.payload mapped to
//!         the response header buffer and file pages; TSO at seg.mss if seg.tso
//!     sleep until table.next_deadline() or the next frame
//! }
//! ```
//!
//! What is implemented, by RFC: the state machine of RFC 9293 (with the RST
//! and SYN checks of RFC 5961 and RFC 1337's protected TIME-WAIT), MSS and
//! window scale (RFC 7323), the RTO of RFC 6298 with Karn's rule, slow start
//! and congestion avoidance of RFC 5681 with Limited Transmit (RFC 3042),
//! NewReno fast recovery of RFC 6582, zero-window probes, ISNs per RFC 6528.
//!
//! Not implemented: SACK and timestamps (neither is offered, so peers send
//! neither), out-of-order queueing on receive (our receive side only takes
//! HTTP requests), delayed ACKs (every poll that received data ACKs it),
//! keep-alives, urgent data, rate limits on challenge ACKs. One consequence,
//! seen in the simulation: when both ends are ours, heavy loss on a long
//! transfer makes the receiver drop everything behind each hole, every later
//! segment becomes a retransmission that Karn's rule cannot time, and the
//! backed-off RTO stays high; stock receivers queue out-of-order data and
//! do not provoke this.

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
