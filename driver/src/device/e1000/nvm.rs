//! The EEPROM (NVM) through EERD: words read one at a time, the checksum
//! verified, the MAC taken from words 0-2.

use std::thread;
use std::time::{Duration, Instant};

use super::regs;
use super::semaphore::{self, Shared};
use crate::device::register::{RegisterIo, Registers};
use crate::device::DeviceModel;
use crate::error::Error;
use crate::mac::MacAddress;

/// Words 0x00..=0x3F must add up (mod 2^16) to this; word 0x3F is set so they do.
pub(crate) const CHECKSUM_SUM: u16 = 0xBABA;
/// The words the checksum covers.
pub(crate) const CHECKSUMMED_WORDS: u32 = 0x40;
/// How long one EERD read may take.
const READ_TIMEOUT: Duration = Duration::from_millis(50);

/// Read EEPROM word `word` through EERD.
pub(crate) fn read_word<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel, word: u32) -> Result<u16, Error> {
    let e = model.eerd;
    regs.write(regs::EERD, (word << e.addr_shift) | e.start);
    let start = Instant::now();
    loop {
        let v = regs.read(regs::EERD);
        if v & e.done != 0 {
            return Ok((v >> 16) as u16);
        }
        if start.elapsed() > READ_TIMEOUT {
            return Err(Error::EepromTimeout { word, ms: READ_TIMEOUT.as_millis() as u64 });
        }
        thread::sleep(Duration::from_micros(10));
    }
}

/// The checksummed words 0x00..=0x3F (holding the NVM semaphore where the part has one).
pub(crate) fn read_checksummed<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel) -> Result<Vec<u16>, Error> {
    semaphore::with(regs, model, Shared::Nvm, || (0..CHECKSUMMED_WORDS).map(|w| read_word(regs, model, w)).collect())
}

/// The sum of the checksummed words (mod 2^16); valid when it is [`CHECKSUM_SUM`].
pub(crate) fn checksum(words: &[u16]) -> u16 {
    words.iter().fold(0u16, |sum, w| sum.wrapping_add(*w))
}

/// The station address in words 0-2, low byte first.
pub(crate) fn mac_address(words: &[u16]) -> MacAddress {
    let mut b = [0u8; 6];
    for (pair, w) in b.chunks_exact_mut(2).zip(words) {
        pair.copy_from_slice(&w.to_le_bytes());
    }
    MacAddress(b)
}

/// The MAC from the EEPROM, its checksum verified (unless `accept_bad_checksum`,
/// which logs instead).
pub(crate) fn read_mac<R: RegisterIo + ?Sized>(
    regs: &R,
    model: &DeviceModel,
    accept_bad_checksum: bool,
) -> Result<MacAddress, Error> {
    let words = read_checksummed(regs, model)?;
    let sum = checksum(&words);
    if sum != CHECKSUM_SUM {
        if !accept_bad_checksum {
            return Err(Error::EepromChecksum { sum, expected: CHECKSUM_SUM });
        }
        log::warn!("EEPROM checksum is {sum:#06x}, not {CHECKSUM_SUM:#06x}; going on as asked");
    }
    let mac = mac_address(&words);
    if !mac.is_valid_unicast() {
        return Err(Error::NoMacAddress(mac));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_and_mac_follow_the_layout() {
        let mut words = vec![0u16; 64];
        words[..3].copy_from_slice(&[0x5452, 0x1200, 0x5634]);
        words[63] = CHECKSUM_SUM.wrapping_sub(checksum(&words[..63]));
        assert_eq!(checksum(&words), CHECKSUM_SUM);
        assert_eq!(mac_address(&words).to_string(), "52:54:00:12:34:56");
    }
}
