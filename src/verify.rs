//! `zcnic verify-capture`: check a capture of packet-send's frames.
//!
//! Run packet-send on one machine, capture on the peer (`tcpdump -w`), and
//! this says whether every frame arrived, in order, byte for byte.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context};
use zcnic::packet_send;
use zcnic_driver::{MacAddress, ETH_HEADER_LEN};

/// Check that `pcap` holds exactly `count` packet-send frames of `size` bytes
/// from `src` (the first frame's source MAC if `None`). Other frames in the
/// capture (the peer's own traffic) are ignored; packet-send's frames are
/// recognised by their EtherType (0x88B5).
pub fn verify_capture(pcap: &Path, count: u64, size: usize, src: Option<MacAddress>) -> anyhow::Result<String> {
    let file = File::open(pcap).with_context(|| format!("cannot open {}", pcap.display()))?;
    let mut reader =
        pcap_file::pcap::PcapReader::new(file).with_context(|| format!("{} is not a pcap file", pcap.display()))?;
    let mut seq = 0u64;
    let mut src = src;
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.with_context(|| format!("corrupt packet in {}", pcap.display()))?;
        let data = &pkt.data;
        if data.len() < ETH_HEADER_LEN || data[12..14] != packet_send::ETHERTYPE {
            continue;
        }
        let from = *src.get_or_insert_with(|| MacAddress(data[6..12].try_into().expect("6 bytes")));
        if seq >= count {
            bail!("more than the {count} frames expected: frame {seq} is extra");
        }
        let want = packet_send::frame(MacAddress::BROADCAST, from, seq, size);
        if data.as_ref() != want.as_slice() {
            let at = data.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(data.len().min(want.len()));
            bail!(
                "frame {seq} differs from what packet-send sent (length {} vs {size}, first difference at byte {at})",
                data.len()
            );
        }
        seq += 1;
    }
    if seq != count {
        bail!("only {seq} of {count} frames are in {}", pcap.display());
    }
    Ok(format!(
        "{}: all {count} frames of {size} bytes from {} arrived in order, byte for byte",
        pcap.display(),
        src.map(|m| m.to_string()).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    use std::time::Duration;

    const SRC: MacAddress = MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x50]);

    fn capture(frames: &[Vec<u8>]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut w = PcapWriter::new(file.reopen().unwrap()).unwrap();
        for f in frames {
            w.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, f)).unwrap();
        }
        file
    }

    #[test]
    fn a_complete_capture_passes_and_foreign_frames_are_ignored() {
        let mut frames: Vec<Vec<u8>> = (0..5).map(|s| packet_send::frame(MacAddress::BROADCAST, SRC, s, 100)).collect();
        frames.insert(2, vec![0u8; 64]); // somebody else's frame
        let f = capture(&frames);
        assert!(verify_capture(f.path(), 5, 100, Some(SRC)).is_ok());
    }

    #[test]
    fn missing_reordered_extra_or_corrupt_frames_fail() {
        let good: Vec<Vec<u8>> = (0..5).map(|s| packet_send::frame(MacAddress::BROADCAST, SRC, s, 100)).collect();
        let mut missing = good.clone();
        missing.remove(3);
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        let mut corrupt = good.clone();
        corrupt[4][50] ^= 1;
        let mut extra = good.clone();
        extra.push(packet_send::frame(MacAddress::BROADCAST, SRC, 5, 100));
        for (name, frames) in [("missing", missing), ("swapped", swapped), ("corrupt", corrupt), ("extra", extra)] {
            let f = capture(&frames);
            assert!(verify_capture(f.path(), 5, 100, Some(SRC)).is_err(), "{name} passed");
        }
    }
}
