//! Hooks for the QEMU guest tests (the `fault-injection` feature, which the
//! test bed's build turns on): entry points no program should use, that
//! exercise one mechanism alone so that a test can check it on the wire.

use std::net::SocketAddrV4;
use std::time::Duration;

use crate::device::frame::Segmentation;
use crate::device::{ChecksumOffload, L4Protocol, Nic, TxFrame};
use crate::error::Error;
use crate::file_tx::{FileSource, PinnedFile};
use crate::mac::MacAddress;
use crate::net::{checksum, ethernet, ETHERTYPE_IPV4, ETH_HEADER_LEN};

/// Ethernet + IPv4 + TCP headers without options.
const HEADERS: usize = ETH_HEADER_LEN + 20 + 20;

/// Send bytes `offset..offset + len` of `file` as the payload of ONE TCP
/// frame that the NIC cuts into `mss`-byte segments (TSO), from `src` to
/// `dst` with sequence number `seq`, flags ACK|PSH, and wait until the NIC has
/// completed it. The payload is read by the NIC from the file's pinned pages.
#[allow(clippy::too_many_arguments)]
pub fn send_tso_frame(
    nic: &mut Nic,
    file: &FileSource,
    offset: u64,
    len: u32,
    mss: u16,
    dst_mac: MacAddress,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
) -> Result<(), Error> {
    let container = std::sync::Arc::clone(nic.container());
    let mut pinned = PinnedFile::new(file.try_clone()?, container, 1 << 20);
    let frame_number = nic.counters().tx.frames;
    let mut spans = Vec::new();
    pinned.spans(offset, u64::from(len), frame_number, &mut spans)?;
    let src_mac = nic.mac();
    let buf = nic.tx_header_buffer().ok_or(Error::TxRingFull)?;
    ethernet::write_header(buf, dst_mac, src_mac, ETHERTYPE_IPV4);
    let ip = &mut buf[ETH_HEADER_LEN..ETH_HEADER_LEN + 20];
    // For TSO the NIC writes each segment's total length, identification
    // (incremented) and header checksum; the template carries zeros there.
    ip.copy_from_slice(&[0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    ip[12..16].copy_from_slice(&src.ip().octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let tcp = &mut buf[ETH_HEADER_LEN + 20..HEADERS];
    tcp.fill(0);
    tcp[0..2].copy_from_slice(&src.port().to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = 5 << 4; // data offset: 5 words
    tcp[13] = 0x18; // ACK | PSH
    tcp[14..16].copy_from_slice(&0xffffu16.to_be_bytes());
    // The checksum seed for TSO: the pseudo-header sum *without* the TCP
    // length, which the NIC adds per segment (8254x manual, TCP segmentation).
    let mut seed = checksum::add(0, &src.ip().octets());
    seed = checksum::add(seed, &dst.ip().octets());
    seed = checksum::add(seed, &[0, 6]);
    tcp[16..18].copy_from_slice(&checksum::fold(seed).to_be_bytes());
    let offload = ChecksumOffload {
        ip_start: ETH_HEADER_LEN as u8,
        ip_checksum: ETH_HEADER_LEN as u8 + 10,
        ip_end: ETH_HEADER_LEN as u16 + 19,
        l4_start: ETH_HEADER_LEN as u8 + 20,
        l4_checksum: ETH_HEADER_LEN as u8 + 36,
        l4: L4Protocol::Tcp,
    };
    let frame = TxFrame {
        header_len: HEADERS,
        payload: &spans,
        offload: Some(offload),
        segmentation: Some(Segmentation { mss, header_len: HEADERS as u8 }),
    };
    if !nic.family_fits(&frame) {
        return Err(Error::TxRingFull);
    }
    nic.tx_post(&frame)?;
    nic.tx_doorbell()?;
    nic.wait_tx_done(Duration::from_secs(5))?;
    pinned.release(offset + u64::from(len), nic.counters().tx.completed);
    Ok(())
}
