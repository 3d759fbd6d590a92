//! Tunables of a connection, with defaults for a LAN file server.

use std::time::Duration;

/// Largest payload of one TSO send: the IPv4 total length is 16 bits, so a
/// super-frame's payload stays below 64 KiB.
pub const TSO_MAX_PAYLOAD: u32 = 65535 - 20 - 60;

/// Configuration shared by the connections of a table.
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// MSS we advertise: a 1500-byte MTU less the IPv4 and TCP headers.
    pub mss: u16,
    /// Receive buffer in bytes: the most we advertise. The window scale we
    /// offer is the smallest shift that lets it fit the 16-bit field.
    pub recv_buffer: u32,
    /// RTO before the first measurement (RFC 6298 section 2.1: 1 s).
    pub rto_initial: Duration,
    /// Lower bound of the RTO (RFC 6298 2.4: 1 s; tests use less).
    pub rto_min: Duration,
    /// Upper bound of the RTO (RFC 6298 2.5: at least 60 s).
    pub rto_max: Duration,
    /// Maximum segment lifetime. TIME-WAIT lasts twice this. RFC 9293 names
    /// 2 minutes; 30 s is Linux's TIME-WAIT total and plenty on a LAN, where
    /// the risk TIME-WAIT guards against (an old duplicate arriving late)
    /// needs a segment delayed by the network for that long.
    pub msl: Duration,
    /// Retransmissions of the same data before the connection gives up
    /// (RFC 9293 section 3.8.3's R2, counted instead of timed).
    pub max_retransmissions: u32,
    /// Retransmissions of a SYN or SYN-ACK before giving up; this bounds how
    /// long a half-open connection occupies a table slot.
    pub syn_retries: u32,
    /// How long FIN-WAIT-2 waits for the peer's FIN (RFC 9293 sets no limit;
    /// without one a vanished peer holds the slot forever).
    pub fin_wait2_timeout: Duration,
    /// Largest payload of one send the NIC cuts into MSS-sized segments;
    /// 0 or anything below one MSS disables TSO.
    pub tso_max_payload: u32,
}

impl Default for TcpConfig {
    fn default() -> TcpConfig {
        TcpConfig {
            mss: 1460,
            recv_buffer: 256 * 1024,
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_secs(1),
            rto_max: Duration::from_secs(60),
            msl: Duration::from_secs(30),
            max_retransmissions: 12,
            syn_retries: 5,
            fin_wait2_timeout: Duration::from_secs(60),
            tso_max_payload: TSO_MAX_PAYLOAD,
        }
    }
}

impl TcpConfig {
    /// The window scale shift we offer (RFC 7323): the smallest that fits
    /// the receive buffer into 16 bits.
    pub fn window_shift(&self) -> u8 {
        let mut shift = 0;
        while shift < 14 && (self.recv_buffer >> shift) > 0xffff {
            shift += 1;
        }
        shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_shift_fits_the_buffer() {
        let mut c = TcpConfig { recv_buffer: 65535, ..TcpConfig::default() };
        assert_eq!(c.window_shift(), 0);
        c.recv_buffer = 65536;
        assert_eq!(c.window_shift(), 1);
        c.recv_buffer = 256 * 1024;
        assert_eq!(c.window_shift(), 3);
    }
}
