//! System calls measured from outside: `syscount` (examples/syscount.rs, a
//! ptrace counter) runs programs in a QEMU guest with Debian's full kernel.
//! It must count a shell loop's writes exactly and follow zcnic's mapper
//! thread; `zcnic send` must make no system call per datagram (the count
//! hardly grows from a 2 MiB file to an 8 MiB one, and both files are on the
//! wire byte for byte); the kernel's read+write sender must make two per
//! datagram, which a counter that missed calls could not show.
//!
//! One guest run serves the three tests.

mod testbed;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use testbed::{pseudo_random_bytes, Guest, GuestRun, Kernel, KERNEL_PEER_SETUP, MAC0};

const MAX_PAYLOAD: usize = 1472;
/// Two file sizes, odd so that each file ends in a short datagram.
const SMALL: usize = 2 * 1024 * 1024 + 333;
const BIG: usize = 8 * 1024 * 1024 + 333;
/// Iterations of the two shell loops.
const LOOP_SHORT: u64 = 1000;
const LOOP_LONG: u64 = 3000;

fn datagrams(len: usize) -> u64 {
    len.div_ceil(MAX_PAYLOAD) as u64
}

fn shell_loop(n: u64) -> String {
    format!("sh -c 'i=0; while [ $i -lt {n} ]; do echo x; i=$((i+1)); done > /dev/null'")
}

fn boot_and_count() -> GuestRun {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("syscalls");
    fs::create_dir_all(&dir).unwrap();
    for (name, len, seed) in [("small", SMALL, 1), ("big", BIG, 2)] {
        fs::write(dir.join(name), pseudo_random_bytes(len, seed)).unwrap();
    }
    // `counted NAME COMMAND...`: run COMMAND under syscount, its output to a
    // file (a terminal would have zcnic draw a progress bar, calls that grow
    // with time), then print that output, "NAME exit=STATUS" and "NAME
    // syscount total=...". zcnic sends to a MAC
    // no NIC owns, so no receiver has to keep up; the capture of NIC 0 is
    // where its datagrams are checked.
    let (short, long) = (shell_loop(LOOP_SHORT), shell_loop(LOOP_LONG));
    let command = format!(
        "{KERNEL_PEER_SETUP}
arp -s 10.0.0.9 02:00:00:00:00:01
counted() {{
  name=$1; shift
  syscount --kv --out /tmp/count.txt -- \"$@\" > /tmp/out.txt 2>&1; st=$?
  cat /tmp/out.txt; echo \"$name exit=$st\"; echo \"$name $(cat /tmp/count.txt)\"
}}
counted loop-short {short}
counted loop-long {long}
counted killed sh -c 'kill -TERM $$'
for f in small big; do
  counted zcnic-$f zcnic send --pci $NIC0 --file /data/$f --src 10.0.0.1 --dst 10.0.0.9:9000 --dst-mac 02:00:00:00:00:01
done
for f in small big; do
  counted kernel-$f kernel-send --method read-write --file /data/$f --dst 10.0.0.9:9000 --iface $IF
done
echo '=== end'"
    );
    let run = Guest::new("syscalls")
        .kernel(Kernel::Full)
        .unbound()
        .nic("e1000")
        .nic("e1000")
        .file(&dir.join("small"), "/data/small")
        .file(&dir.join("big"), "/data/big")
        .timeout(600)
        .run(&command);
    run.assert_status(0);
    assert!(run.output.contains("=== end"), "the guest command stopped early:\n{}", run.output);
    run
}

/// The one guest run, booted by whichever test comes first.
fn guest() -> &'static GuestRun {
    static RUN: OnceLock<Result<GuestRun, String>> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        std::panic::catch_unwind(boot_and_count).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match run {
        Ok(run) => run,
        Err(e) => panic!("the guest run failed: {e}"),
    }
}

/// The exit status syscount passed through for `name`.
fn exit_status(run: &GuestRun, name: &str) -> i32 {
    let prefix = format!("{name} exit=");
    run.output
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no exit status for {name} in:\n{}", run.output))
}

/// The `syscount --kv` line of `name`, as numbers by key.
fn count(run: &GuestRun, name: &str) -> BTreeMap<String, i64> {
    let prefix = format!("{name} syscount ");
    let line = run
        .output
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no syscount line for {name} in:\n{}", run.output));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or_else(|_| panic!("{name}: {k}={v} is not a number"))))
        .collect()
}

fn get(counts: &BTreeMap<String, i64>, key: &str) -> i64 {
    counts.get(key).copied().unwrap_or(0)
}

/// Extra system calls per extra datagram between the small and the big file.
fn slope(small: &BTreeMap<String, i64>, big: &BTreeMap<String, i64>) -> f64 {
    (get(big, "total") - get(small, "total")) as f64 / (datagrams(BIG) - datagrams(SMALL)) as f64
}

#[test]
fn syscount_counts_a_shell_loops_writes_exactly_and_follows_threads() {
    let run = guest();
    let short = count(run, "loop-short");
    let long = count(run, "loop-long");
    assert_eq!(exit_status(run, "loop-short"), 0);
    // busybox's echo is one write(2) each.
    assert_eq!(get(&short, "sys_write"), LOOP_SHORT as i64, "{short:?}");
    assert_eq!(get(&long, "sys_write"), LOOP_LONG as i64, "{long:?}");
    let per_iteration = (get(&long, "total") - get(&short, "total")) as f64 / (LOOP_LONG - LOOP_SHORT) as f64;
    assert!((1.0..1.005).contains(&per_iteration), "{per_iteration} calls per iteration: {short:?} / {long:?}");
    assert_eq!((get(&short, "threads"), get(&short, "processes")), (1, 1), "{short:?}");

    // A death by signal passes through as 128 + the signal.
    assert_eq!(exit_status(run, "killed"), 128 + 15);
    assert_eq!(get(&count(run, "killed"), "signal"), 15);

    // zcnic send maps the file in a second thread: followed, and counted.
    let zcnic = count(run, "zcnic-small");
    assert!(get(&zcnic, "threads") >= 2, "zcnic's mapper thread was not followed: {zcnic:?}");
    assert_eq!(get(&zcnic, "processes"), 1, "{zcnic:?}");
}

#[test]
fn zcnic_send_makes_no_system_call_per_datagram() {
    let run = guest();
    let small = count(run, "zcnic-small");
    let big = count(run, "zcnic-big");
    for (name, len, counts) in [("zcnic-small", SMALL, &small), ("zcnic-big", BIG, &big)] {
        assert_eq!(exit_status(run, name), 0, "{}", run.output);
        assert!(run.output.contains(&format!("sent {len} of {len} bytes")), "{name}:\n{}", run.output);
        // Bringing the NIC up is VFIO ioctls and mappings: all of them seen.
        assert!(get(counts, "sys_ioctl") >= 5 && get(counts, "total") >= 50, "{name}: too few calls seen: {counts:?}");
    }
    let per_datagram = slope(&small, &big);
    assert!(
        per_datagram.abs() < 0.01,
        "zcnic made {per_datagram:.4} system calls per extra datagram: {small:?} / {big:?}"
    );

    // Both files on the wire, whole and in order: NIC 0's UDP frames, from its MAC.
    let frames: Vec<Vec<u8>> = run
        .frames(0)
        .into_iter()
        .filter(|f| f.len() > 42 && f[6..12] == MAC0 && f[12..14] == [8, 0] && f[23] == 17)
        .collect();
    let (n_small, n_big) = (datagrams(SMALL) as usize, datagrams(BIG) as usize);
    assert_eq!(frames.len(), n_small + n_big, "UDP frames from NIC 0");
    for (frames, len, seed) in [(&frames[..n_small], SMALL, 1), (&frames[n_small..], BIG, 2)] {
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(
                u16::from_be_bytes([f[18], f[19]]),
                i as u16,
                "datagram {i} of the {len}-byte file out of order"
            );
        }
        let payload: Vec<u8> = frames.iter().flat_map(|f| f[42..].iter().copied()).collect();
        assert!(payload == pseudo_random_bytes(len, seed), "the {len}-byte file on the wire differs from the file");
    }
}

#[test]
fn the_kernels_read_write_sender_makes_two_system_calls_per_datagram() {
    let run = guest();
    let small = count(run, "kernel-small");
    let big = count(run, "kernel-big");
    for (name, len) in [("kernel-small", SMALL), ("kernel-big", BIG)] {
        assert_eq!(exit_status(run, name), 0, "{}", run.output);
        // kernel-send's own report: the interface's tx_packets grew by every datagram.
        let frames: u64 = run
            .output
            .lines()
            .filter(|l| l.starts_with("bench-result method=read-write ") && l.contains(&format!(" bytes={len} ")))
            .find_map(|l| l.split_whitespace().find_map(|kv| kv.strip_prefix("frames=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no bench-result line for {name}:\n{}", run.output));
        assert!(frames >= datagrams(len), "{name}: {frames} frames for {} datagrams", datagrams(len));
    }
    let extra = (datagrams(BIG) - datagrams(SMALL)) as i64;
    assert_eq!(get(&big, "sys_write") - get(&small, "sys_write"), extra, "one write per datagram");
    let per_datagram = slope(&small, &big);
    assert!(
        (1.95..2.05).contains(&per_datagram),
        "read+write made {per_datagram:.4} system calls per extra datagram: {small:?} / {big:?}"
    );
}
