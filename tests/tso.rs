//! TCP segmentation offload on the wire: one frame of file payload (read by
//! the NIC from the file's pinned pages) posted with a TSO context, cut by the
//! NIC into MSS-sized segments. Every segment must carry valid IPv4 and TCP
//! checksums, the right lengths and sequence numbers, and exactly the file's
//! bytes. (QEMU 7.2's e1000e model cut TSO frames into IP fragments instead
//! of TCP segments, fixed in QEMU 8: the test bed runs QEMU 10.)

mod testbed;

use std::path::PathBuf;

use testbed::{Guest, MAC0};

fn sum16(mut sum: u32, data: &[u8]) -> u32 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    sum
}

fn folds_to_ffff(mut sum: u32) -> bool {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

fn check_tso(model: &'static str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tso-{model}"));
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let file = dir.join("payload.bin");
    std::fs::write(&file, &data).unwrap();
    let (offset, len, mss, seq0) = (1000usize, 65_000usize, 1460usize, 1_000_000u32);
    let run = Guest::new(&format!("tso-{model}")).nic(model).file(&file, "/data/payload.bin").run(&format!(
        "tso-send --pci $NIC0 --file /data/payload.bin --offset {offset} --len {len} --mss {mss} \
         --dst-mac 02:00:00:00:00:01 --seq {seq0}"
    ));
    run.assert_status(0);
    let segments: Vec<Vec<u8>> =
        run.frames(0).into_iter().filter(|f| f.len() > 54 && f[12..14] == [8, 0] && f[23] == 6).collect();
    assert_eq!(segments.len(), len.div_ceil(mss), "segments on the wire:\n{}", run.output);
    let mut next = 0usize;
    for (k, f) in segments.iter().enumerate() {
        assert_eq!(f[6..12], MAC0, "segment {k}: source MAC");
        let ip = &f[14..34];
        assert!(folds_to_ffff(sum16(0, ip)), "segment {k}: IPv4 header checksum");
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let payload = &f[54..14 + total];
        assert_eq!(payload.len(), mss.min(len - next), "segment {k}: payload length");
        let tcp = &f[34..14 + total];
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        assert_eq!(seq, seq0 + next as u32, "segment {k}: sequence number");
        let mut pseudo = sum16(0, &ip[12..20]);
        pseudo += 6 + tcp.len() as u32;
        assert!(folds_to_ffff(sum16(pseudo, tcp)), "segment {k}: TCP checksum");
        assert_eq!(payload, &data[offset + next..offset + next + payload.len()], "segment {k}: payload bytes");
        next += payload.len();
    }
    assert_eq!(next, len);
}

#[test]
fn e1000_cuts_one_tso_frame_of_file_payload_into_valid_segments() {
    check_tso("e1000");
}

#[test]
fn e1000e_cuts_one_tso_frame_of_file_payload_into_valid_segments() {
    check_tso("e1000e");
}

#[test]
fn igb_cuts_one_tso_frame_of_file_payload_into_valid_segments() {
    check_tso("igb");
}
