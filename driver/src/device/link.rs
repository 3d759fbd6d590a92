//! The link as a program sees it: how it is set up, and what it is now.

use std::fmt;

/// How the link is to be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkMode {
    /// Autonegotiate: advertise every speed and duplex the part has, and
    /// symmetric pause.
    #[default]
    Autonegotiate,
    /// Force a speed (10 or 100 Mb/s; 1000BASE-T cannot be forced) and duplex.
    Forced {
        /// 10 or 100.
        speed_mbit: u16,
        /// Full duplex, or half.
        full_duplex: bool,
    },
}

/// The link's state, as the MAC and the PHY report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkInfo {
    /// The PHY's identifier (PHY ID 1 << 16 | PHY ID 2; the low four bits are
    /// its revision), if the PHY answered.
    pub phy_id: Option<u32>,
    /// Whether the link is up (the MAC's STATUS.LU).
    pub up: bool,
    /// Speed in Mb/s (10, 100, 1000), when the link is up.
    pub speed_mbit: Option<u16>,
    /// Full duplex, when the link is up.
    pub full_duplex: bool,
    /// Whether autonegotiation completed (PHY status).
    pub autoneg_complete: bool,
    /// The MAC honours pause frames it receives (CTRL.RFCE).
    pub rx_pause: bool,
    /// The MAC sends pause frames (CTRL.TFCE).
    pub tx_pause: bool,
}

impl fmt::Display for LinkInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.up {
            return write!(f, "down");
        }
        match self.speed_mbit {
            Some(s) => write!(f, "up, {s} Mb/s")?,
            None => write!(f, "up, speed unknown")?,
        }
        write!(f, ", {} duplex", if self.full_duplex { "full" } else { "half" })
    }
}

impl LinkInfo {
    /// Flow control in words: "none", "rx", "tx" or "rx+tx".
    pub fn flow_control(&self) -> &'static str {
        match (self.rx_pause, self.tx_pause) {
            (false, false) => "none",
            (true, false) => "rx",
            (false, true) => "tx",
            (true, true) => "rx+tx",
        }
    }
}

/// What the MAC and the PHY showed when the link did not come up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LinkFacts {
    /// The MAC's STATUS register.
    pub(crate) mac_status: u32,
    /// PHY ID, control and status, if the PHY answered.
    pub(crate) phy: Option<(u32, u16, u16)>,
    /// What bring-up did to the PHY.
    pub(crate) tried: String,
}
