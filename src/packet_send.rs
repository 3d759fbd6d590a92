//! The frames the packet-send example sends and `zcnic verify-capture`
//! checks, defined once. (The guest tests keep an independent copy of this
//! layout on purpose, in tests/testbed, so that a change here cannot make
//! them agree with it by construction.)
//!
//! Frame `seq` (counting from 0) of `size` bytes:
//!
//! | bytes    | content                                   |
//! |----------|-------------------------------------------|
//! | 0..6     | the destination MAC (broadcast by default) |
//! | 6..12    | the sender's MAC                          |
//! | 12..14   | 0x88 0xb5 (IEEE "local experimental")      |
//! | 14..22   | `seq` as a big-endian u64                 |
//! | 22..size | byte at offset `k` is `(k + seq) mod 256` |

use zcnic_driver::MacAddress;

/// The frames' EtherType.
pub const ETHERTYPE: [u8; 2] = [0x88, 0xb5];

/// Write frame `seq` of `size` bytes into `buf`.
pub fn write_frame(buf: &mut [u8], dst: MacAddress, src: MacAddress, seq: u64, size: usize) {
    let frame = &mut buf[..size];
    frame[0..6].copy_from_slice(&dst.0);
    frame[6..12].copy_from_slice(&src.0);
    frame[12..14].copy_from_slice(&ETHERTYPE);
    frame[14..22].copy_from_slice(&seq.to_be_bytes());
    for (k, byte) in frame.iter_mut().enumerate().skip(22) {
        *byte = (k as u64).wrapping_add(seq) as u8;
    }
}

/// Frame `seq` of `size` bytes as a vector.
pub fn frame(dst: MacAddress, src: MacAddress, seq: u64, size: usize) -> Vec<u8> {
    let mut f = vec![0; size];
    write_frame(&mut f, dst, src, seq, size);
    f
}
