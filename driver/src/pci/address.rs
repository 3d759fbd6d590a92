//! PCI addresses (domain:bus:device.function, "BDF").

use std::fmt;
use std::str::FromStr;

/// A PCI function address such as `0000:00:02.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress {
    /// PCI domain (segment), usually 0.
    pub domain: u16,
    /// Bus number.
    pub bus: u8,
    /// Device (slot) number, 0..=31.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
}

/// A string that is not a PCI address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not a PCI address: {why} (expected DDDD:BB:SS.F or BB:SS.F in hex, \
     e.g. 0000:03:00.0; `lspci -D` lists them)"
)]
pub struct PciAddressError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl FromStr for PciAddress {
    type Err = PciAddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| PciAddressError { input: s.to_string(), why };
        let hex = |part: &str, max_len: usize, what| {
            if part.is_empty() || part.len() > max_len || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err(what));
            }
            u32::from_str_radix(part, 16).map_err(|_| err(what))
        };
        let (rest, function) = s.rsplit_once('.').ok_or_else(|| err("no '.' before the function"))?;
        let function = hex(function, 1, "function is not one hex digit")?;
        if function > 7 {
            return Err(err("function must be 0 to 7"));
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [bus, dev] => (0, *bus, *dev),
            [dom, bus, dev] => (hex(dom, 4, "domain is not up to 4 hex digits")?, *bus, *dev),
            _ => return Err(err("wrong number of ':'")),
        };
        let bus = hex(bus, 2, "bus is not up to 2 hex digits")?;
        let device = hex(device, 2, "device is not up to 2 hex digits")?;
        if device > 0x1f {
            return Err(err("device must be 00 to 1f"));
        }
        Ok(PciAddress { domain: domain as u16, bus: bus as u8, device: device as u8, function: function as u8 })
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.device, self.function)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_short_forms() {
        let a: PciAddress = "0000:03:00.1".parse().unwrap();
        assert_eq!(a, PciAddress { domain: 0, bus: 3, device: 0, function: 1 });
        assert_eq!(a.to_string(), "0000:03:00.1");
        let b: PciAddress = "00:1f.7".parse().unwrap();
        assert_eq!(b.to_string(), "0000:00:1f.7");
        let c: PciAddress = "ABCD:ff:1F.0".parse().unwrap();
        assert_eq!(c.to_string(), "abcd:ff:1f.0");
    }

    #[test]
    fn rejects_malformed_addresses_with_a_reason() {
        for bad in [
            "",
            "0000:03:00",
            "03:00.8",
            "0000:03:20.0",
            "00000:03:00.0",
            "0000:003:00.0",
            "x0:00.0",
            "0000:03:00.0.1",
            "1:2:3:4.0",
            "0000:03:00.",
            "eth0",
            "0000:03:0g.0",
        ] {
            let e = bad.parse::<PciAddress>().unwrap_err();
            assert!(e.to_string().contains("is not a PCI address"), "{bad}: {e}");
        }
    }
}
