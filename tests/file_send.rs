//! `zcnic send` in a QEMU guest running Debian's full kernel: zcnic drives
//! NIC 0; NIC 1, on the same hub, belongs to the kernel's own e1000/e1000e/igb
//! driver with address 10.0.0.2, where an ordinary UDP socket (udp-sink)
//! receives. What the socket receives must hash to what the file holds; the
//! kernel drops datagrams with bad checksums, so arriving proves the NIC's
//! checksum offload right.

mod testbed;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use testbed::{make_ext4_image, sha256_hex, Guest, Kernel, KERNEL_PEER_SETUP};

const MAX_PAYLOAD: usize = 1472;
/// MAC the test bed gives NIC 1 (the kernel's).
const MAC1: &str = "52:54:00:12:34:51";

/// The kernel peer, and `case_ NAME FILE WAIT [options]`: sink, send, report.
const CASE_HELPER: &str = r#"
# case NAME FILE WAIT [extra zcnic send options...]: sink, send, report
case_() {
  name=$1; file=$2; wait=$3; shift 3
  echo "=== case $name"
  udp-sink --bind 10.0.0.2:9000 --idle 2 --wait $wait > /tmp/sink.log 2>&1 & sp=$!
  j=0; while ! grep -qs listening /tmp/sink.log && [ $j -lt 50 ]; do sleep 0.1; j=$((j+1)); done
  zcnic send --pci $NIC0 --file "$file" --src 10.0.0.1 --dst 10.0.0.2:9000 "$@" > /tmp/send.log 2>&1
  echo "send-exit=$?"
  cat /tmp/send.log
  wait $sp; cat /tmp/sink.log
}
"#;

fn random_file(dir: &Path, name: &str, len: usize) -> (PathBuf, String) {
    let mut data = vec![0u8; len];
    fs::File::open("/dev/urandom").unwrap().read_exact(&mut data).unwrap();
    let path = dir.join(name);
    fs::write(&path, &data).unwrap();
    (path, sha256_hex(&data))
}

fn test_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("files").join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// The output of one `case_` in the guest.
fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out.find(&format!("=== case {name}\n")).unwrap_or_else(|| panic!("case {name} did not run:\n{out}"));
    let rest = &out[start..];
    let end = rest[1..].find("=== case ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// The Udp counters of /proc/net/snmp printed at the end of a run.
fn udp_counters(out: &str) -> Vec<(String, u64)> {
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("Udp: ")).collect();
    assert!(lines.len() >= 2, "no /proc/net/snmp Udp lines in:\n{out}");
    let names = lines[0].split_whitespace().skip(1);
    let values = lines[1].split_whitespace().skip(1).map(|v| v.parse().unwrap());
    names.map(String::from).zip(values).collect()
}

fn check_delivered(case: &str, len: usize, sha: &str) {
    assert!(case.contains("send-exit=0"), "{case}");
    assert!(
        case.contains(&format!("received {} datagrams, {len} bytes, sha256 {sha}", len.div_ceil(MAX_PAYLOAD))),
        "the receiver did not get the file intact:\n{case}"
    );
    assert!(case.contains(&format!("sent {len} of {len} bytes")), "{case}");
    // Enforced (the windows are PROT_NONE), and measured by the kernel: the
    // process read no file bytes through system calls while it sent.
    assert!(case.contains("payload bytes copied by the CPU: 0;") && case.contains("0 is enforced"), "{case}");
    assert!(case.contains("during the send: 0 bytes read through system calls"), "{case}");
    let headers = 42 * len.div_ceil(MAX_PAYLOAD);
    assert!(case.contains(&format!("header bytes written: {headers};")), "{case}");
}

fn sends_files_intact(model: &'static str) {
    let dir = test_dir(&format!("send-{model}"));
    let sizes = [("one", 1usize), ("exact", 1472), ("one-over", 1473), ("odd-mib", 3 * 1024 * 1024 + 17)];
    let files: Vec<(&str, usize, PathBuf, String)> = sizes
        .iter()
        .map(|&(name, len)| {
            let (p, sha) = random_file(&dir, name, len);
            (name, len, p, sha)
        })
        .collect();
    let (empty, _) = random_file(&dir, "empty", 0);
    let mut guest = Guest::new(&format!("file-send-{model}")).kernel(Kernel::Full).unbound().nic(model).nic(model);
    guest = guest.file(&empty, "/data/empty");
    for (name, _, path, _) in &files {
        guest = guest.file(path, &format!("/data/{name}"));
    }
    let command = format!(
        "{KERNEL_PEER_SETUP}{CASE_HELPER}\n\
         case_ empty /data/empty 3 --rate 20\n\
         case_ one /data/one 15 --rate 20\n\
         case_ exact /data/exact 15 --rate 20\n\
         case_ one-over /data/one-over 15 --rate 20 --dst-mac {MAC1}\n\
         case_ odd-mib /data/odd-mib 15 --rate 20\n\
         echo '=== case snmp'; cat /proc/net/snmp"
    );
    let run = guest.run(&command);
    run.assert_status(0);
    let out = &run.output;

    let empty_case = section(out, "empty");
    assert!(empty_case.contains("send-exit=0") && empty_case.contains("is empty: nothing to send"), "{empty_case}");
    assert!(empty_case.contains("received 0 datagrams, 0 bytes"), "{empty_case}");
    for (name, len, _, sha) in &files {
        check_delivered(section(out, name), *len, sha);
    }
    // The --dst-mac case sent no ARP request; the others did.
    assert!(!section(out, "one-over").contains("ARP"), "{}", section(out, "one-over"));

    let udp = udp_counters(section(out, "snmp"));
    let get = |k: &str| udp.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap();
    assert_eq!(get("InCsumErrors"), 0, "the kernel saw bad UDP checksums: {udp:?}");
    assert_eq!(get("InErrors"), 0, "{udp:?}");
    let datagrams: usize = files.iter().map(|f| f.1.div_ceil(MAX_PAYLOAD)).sum();
    assert_eq!(get("InDatagrams"), datagrams as u64, "{udp:?}");

    // On the wire (QEMU's capture of NIC 0): every UDP frame is addressed to
    // the peer's MAC, from ours, and carries a valid IPv4 header checksum.
    let udp_frames: Vec<Vec<u8>> =
        run.frames(0).into_iter().filter(|f| f.len() > 42 && f[12..14] == [8, 0] && f[23] == 17).collect();
    assert_eq!(udp_frames.len(), datagrams, "UDP frames on the wire");
    for f in &udp_frames {
        let sum = f[14..34].chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum::<u32>();
        let folded = (sum & 0xffff) + (sum >> 16);
        assert_eq!(folded, 0xffff, "bad IPv4 header checksum on the wire");
        assert_eq!(f[0..6], [0x52, 0x54, 0, 0x12, 0x34, 0x51]);
    }
}

#[test]
fn e1000_sends_files_of_every_edge_size_intact_to_a_kernel_socket() {
    sends_files_intact("e1000");
}

#[test]
fn e1000e_sends_files_of_every_edge_size_intact_to_a_kernel_socket() {
    sends_files_intact("e1000e");
}

#[test]
fn igb_sends_files_of_every_edge_size_intact_to_a_kernel_socket() {
    sends_files_intact("igb");
}

/// Bad inputs fail before anything is sent; a silent destination, a file that
/// changes under the sender, and SIGINT each end the send with a clear report.
#[test]
fn bad_files_silent_peers_changing_files_and_sigint_are_handled() {
    let dir = test_dir("send-errors");
    let (big, _) = random_file(&dir, "big", 2 * 1024 * 1024 + 3);
    let big_data = fs::read(&big).unwrap();
    let (small, small_sha) = random_file(&dir, "small", 1473);
    let command = format!(
        "{KERNEL_PEER_SETUP}{CASE_HELPER}\n\
         cp /data/big /data/grow\n\
         echo '=== case missing'; zcnic send --pci $NIC0 --file /data/nope --src 10.0.0.1 --dst 10.0.0.2:9000; echo \"exit=$?\"\n\
         echo '=== case directory'; zcnic send --pci $NIC0 --file /data --src 10.0.0.1 --dst 10.0.0.2:9000; echo \"exit=$?\"\n\
         echo '=== case device'; zcnic send --pci $NIC0 --file /dev/null --src 10.0.0.1 --dst 10.0.0.2:9000; echo \"exit=$?\"\n\
         echo '=== case unreadable'; mkdir -p /etc; echo 'zc:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd; \
           chmod 600 /data/small; su zc -c \"/zcnic/bin/zcnic send --pci $NIC0 --file /data/small --src 10.0.0.1 --dst 10.0.0.2:9000\"; echo \"exit=$?\"\n\
         echo '=== case noarp'; zcnic send --pci $NIC0 --file /data/small --src 10.0.0.1 --dst 10.0.0.99:9000; echo \"exit=$?\"\n\
         echo '=== case sigint-arp'; zcnic send --pci $NIC0 --file /data/small --src 10.0.0.1 --dst 10.0.0.99:9000 & p=$!; \
           sleep 1.5; kill -INT $p; s=$(cut -d' ' -f1 /proc/uptime); wait $p; e=$?; t=$(cut -d' ' -f1 /proc/uptime); echo \"exit=$e waited $s $t\"\n\
         echo '=== case changed'; (sleep 1; echo appended >> /data/grow) & \
           zcnic send --pci $NIC0 --file /data/grow --src 10.0.0.1 --dst 10.0.0.2:9000 --rate 6 --dst-mac {MAC1} 2>&1; echo \"exit=$?\"; wait\n\
         echo '=== case sigint'; udp-sink --bind 10.0.0.2:9000 --idle 2 --wait 15 > /tmp/sink.log 2>&1 & sp=$!; sleep 0.5; \
           zcnic send --pci $NIC0 --file /data/big --src 10.0.0.1 --dst 10.0.0.2:9000 --rate 6 > /tmp/send.log 2>&1 & p=$!; \
           sleep 1.5; kill -INT $p; wait $p; echo \"exit=$?\"; cat /tmp/send.log; wait $sp; cat /tmp/sink.log\n\
         case_ after-sigint /data/small 15 --rate 20"
    );
    let run = Guest::new("file-send-errors")
        .kernel(Kernel::Full)
        .unbound()
        .nic("e1000")
        .nic("e1000")
        .file(&big, "/data/big")
        .file(&small, "/data/small")
        .run(&command);
    run.assert_status(0);
    let out = &run.output;
    for (case, needle) in [
        ("missing", "cannot send /data/nope: no such file"),
        ("directory", "cannot send /data: it is a directory"),
        ("device", "cannot send /dev/null: it is a character device"),
        ("unreadable", "cannot send /data/small: permission denied"),
        ("noarp", "no ARP reply from 10.0.0.99 after 3 requests"),
        ("changed", "/data/grow changed while it was being sent"),
    ] {
        let s = section(out, case);
        assert!(s.contains("exit=1") && s.contains(needle), "case {case}: expected {needle:?} and exit 1 in:\n{s}");
    }

    // SIGINT while ARP waits for a reply that never comes (three 1 s tries):
    // the wait ends within 200 ms (plus the guest's scheduling), exit 130.
    let s = section(out, "sigint-arp");
    assert!(s.contains("exit=130"), "{s}");
    let w: Vec<f64> = s.split("waited ").nth(1).unwrap().split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(w[1] - w[0] < 0.6, "SIGINT took {:.2} s to end the ARP wait:\n{s}", w[1] - w[0]);

    let s = section(out, "sigint");
    assert!(s.contains("exit=130") && s.contains("interrupted: stopped after"), "{s}");
    // What arrived is an exact prefix of the file, and shorter than it.
    let received = s.lines().find_map(|l| l.strip_prefix("received ")).expect("the sink's report");
    let bytes: usize = received.split(", ").nth(1).unwrap().trim_end_matches(" bytes").parse().unwrap();
    let sha = received.rsplit(' ').next().unwrap();
    assert!(bytes > 0 && bytes < big_data.len(), "SIGINT should stop part way: {received}");
    assert_eq!(sha, sha256_hex(&big_data[..bytes]), "what arrived is not a prefix of the file");
    assert!(
        s.contains(&format!("sent {bytes} of {} bytes", big_data.len())),
        "the summary disagrees with the receiver:\n{s}"
    );

    // The NIC comes back for the next run.
    check_delivered(section(out, "after-sigint"), 1473, &small_sha);

    // Failed runs put no UDP frame on the wire before failing: the only
    // datagrams to the silent 10.0.0.99 would be there otherwise.
    let to_silent =
        run.frames(0).iter().filter(|f| f.len() > 42 && f[12..14] == [8, 0] && f[30..34] == [10, 0, 0, 99]).count();
    assert_eq!(to_silent, 0);
}

/// Deterministic bytes for a big file: xorshift64*, so the test can check
/// every payload without keeping the file in memory.
struct Pattern(u64);

impl Pattern {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A file larger than the guest's RAM, on ext4 on a virtio disk, goes out
/// whole: every datagram on the wire, in order, with the right bytes; the
/// file is pinned a window at a time, never all at once.
#[test]
fn a_file_larger_than_guest_ram_is_sent_whole_with_bounded_pinning() {
    const LEN: usize = 300 * 1024 * 1024 + 1234;
    const GUEST_MB: u32 = 256;
    let dir = test_dir("send-big");
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    {
        let mut f = std::io::BufWriter::new(fs::File::create(src.join("big.bin")).unwrap());
        let mut pat = Pattern(0x9e37_79b9_7f4a_7c15);
        let mut buf = vec![0u8; 1 << 20];
        let mut left = LEN;
        while left > 0 {
            let n = left.min(buf.len());
            pat.fill(&mut buf[..n]);
            std::io::Write::write_all(&mut f, &buf[..n]).unwrap();
            left -= n;
        }
    }
    let image = dir.join("disk.ext4");
    make_ext4_image(&src, &image);
    fs::remove_dir_all(&src).unwrap();

    let run = Guest::new("file-send-big").nic("e1000").mem(GUEST_MB).disk(&image).timeout(600).run(
        "free -m; zcnic send --pci $NIC0 --file /disk/big.bin --src 10.0.0.1 --dst 10.0.0.2:9000 \
             --dst-mac 02:00:00:00:00:01 > /tmp/send.log 2>&1; echo \"exit=$?\"; cat /tmp/send.log",
    );
    run.assert_status(0);
    let out = &run.output;
    assert!(out.contains("exit=0"), "{out}");
    let total = LEN.div_ceil(MAX_PAYLOAD);
    assert!(
        out.contains(&format!("sent {LEN} of {LEN} bytes")) && out.contains(&format!("in {total} datagrams")),
        "{out}"
    );
    assert!(out.contains("payload bytes copied by the CPU: 0;") && out.contains("0 is enforced"), "{out}");
    assert!(out.contains("during the send: 0 bytes read through system calls"), "{out}");
    let pinned: u64 = out
        .split("at most ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the pinned-bytes report");
    // Two 32 MiB windows at most (zcnic_driver::PINNED_WINDOWS), each rounded out to
    // whole pages; the peak is taken every time a window is pinned. A third window
    // pinned at once left this 256 MiB guest to the OOM killer.
    assert!(pinned <= 2 * (32 << 20) + (1 << 20), "pinned {pinned} bytes at once: more than two windows");
    assert!(pinned < u64::from(GUEST_MB) << 20, "pinned more than the guest's RAM");
    // The kernel's own account agrees: its peak VmLck (read after each map)
    // holds at least a window and never more than the driver's bound plus the
    // rings and buffers (one 2 MiB hugepage). The two peaks are sampled at
    // different instants (the driver's as it pins, the kernel's after each
    // map, while the oldest window may already be unmapped), so the kernel's
    // may be the lower.
    let locked = peak_locked(out);
    assert!(locked >= 32 << 20, "the kernel saw {locked} bytes locked: not even one window");
    assert!(locked <= pinned + (4 << 20), "the kernel saw {locked} bytes locked: more than the windows and rings");

    // Every datagram on the wire, in order, byte for byte.
    let pcap = run.dir.join("nic0.pcap");
    let file = fs::File::open(&pcap).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file)).unwrap();
    let mut pat = Pattern(0x9e37_79b9_7f4a_7c15);
    let mut want = vec![0u8; MAX_PAYLOAD];
    let mut n = 0usize;
    while let Some(pkt) = reader.next_packet() {
        let f = pkt.unwrap().data;
        if f.len() < 42 || f[12..14] != [8, 0] || f[23] != 17 {
            continue;
        }
        let len = MAX_PAYLOAD.min(LEN - n * MAX_PAYLOAD);
        pat.fill(&mut want[..len]);
        assert_eq!(f.len(), 42 + len, "datagram {n} length");
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), n as u16, "datagram {n} out of order");
        assert!(f[42..] == want[..len], "datagram {n} payload differs from the file");
        n += 1;
    }
    assert_eq!(n, total, "datagrams on the wire");
    let _ = fs::remove_file(&pcap);
    let _ = fs::remove_file(&image);
}

/// A 2-vCPU guest sends one file over two igb TX queues at once, a thread
/// per queue pinned to a CPU each: two contiguous parts, each its own UDP
/// flow to its own kernel socket; the two parts put together are the file.
#[test]
fn igb_sends_a_file_over_two_queues_from_two_cpus_and_both_parts_arrive() {
    let dir = test_dir("send-igb-2q");
    let len = 2 * 1024 * 1024 + 1001;
    let (file, sha) = random_file(&dir, "two", len);
    let command = format!(
        "{KERNEL_PEER_SETUP}\n\
         for p in 0 1; do udp-sink --bind 10.0.0.2:900$p --out /tmp/part$p --idle 3 --wait 30 > /tmp/sink$p.log 2>&1 & done\n\
         sleep 0.5\n\
         echo '=== send'; zcnic send --pci $NIC0 --queues 2 --file /data/two --src 10.0.0.1 --dst 10.0.0.2:9000 --rate 20; echo \"send-exit=$?\"\n\
         wait; cat /tmp/sink0.log /tmp/sink1.log; cat /tmp/part0 /tmp/part1 | sha256sum\n\
         echo '=== end'"
    );
    let run = Guest::new("file-send-igb-2q")
        .kernel(Kernel::Full)
        .unbound()
        .smp(2)
        .nic("igb")
        .nic("igb")
        .file(&file, "/data/two")
        .run(&command);
    run.assert_status(0);
    let s = testbed::section(&run.output, "send");
    assert!(s.contains("send-exit=0"), "{s}");
    for q in 0..2 {
        assert!(s.contains(&format!("on queue {q} (thread on CPU {q})")), "queue {q}'s thread on CPU {q}:\n{s}");
    }
    assert!(s.contains(&format!("sent {len} of {len} bytes")), "{s}");
    assert!(s.contains(&format!("{sha}  -")), "the two parts together are the file:\n{s}");
}

/// The peak locked memory the kernel charged the sender, from its
/// "memory measured by the kernel: peak locked N bytes" line.
fn peak_locked(out: &str) -> u64 {
    out.split("peak locked ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no kernel-measured locked memory in:\n{out}"))
}
