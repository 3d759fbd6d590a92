//! Faults, injected: the link dropped mid-send (QEMU's monitor), a NIC that
//! stops completing descriptors, a sender killed with SIGKILL or stopped with
//! SIGTERM, a second process on a busy NIC, a file that shrinks while it is
//! sent, and fifty open/send/close cycles that must leak nothing. No run may
//! leave an IOMMU fault in the guest's log (the harness checks every run).

mod testbed;

use std::time::Duration;

use testbed::{pseudo_random_bytes, section, sha256_hex, Guest, Kernel, KERNEL_PEER_SETUP};

/// `sink` starts a UDP sink on the kernel peer; `$SEND` is zcnic send to it.
const HELPERS: &str = r#"
sink() { udp-sink --bind 10.0.0.2:9000 --idle 3 --wait 30 > /tmp/sink.log 2>&1 & sp=$!; j=0; while ! grep -qs listening /tmp/sink.log && [ $j -lt 50 ]; do sleep 0.1; j=$((j+1)); done; }
SEND="zcnic send --pci $NIC0 --src 10.0.0.1 --dst 10.0.0.2:9000 --dst-mac 52:54:00:12:34:51"
"#;

/// The link is pulled (QEMU monitor `set_link`) in the middle of a paced send:
/// the sender waits and resumes, and the receiver gets the file exactly. Then
/// it is pulled for good: the sender gives up after --link-timeout and says
/// how much was sent, which is exactly what arrived.
#[test]
fn a_link_that_drops_mid_send_is_waited_for_and_one_that_stays_down_fails_clearly() {
    link_flap("e1000");
}

#[test]
fn a_link_that_drops_mid_send_is_handled_the_same_on_an_e1000e() {
    link_flap("e1000e");
}

#[test]
fn a_link_that_drops_mid_send_is_handled_the_same_on_an_igb() {
    link_flap("igb");
}

fn link_flap(model: &'static str) {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("faults-link-{model}"));
    std::fs::create_dir_all(&dir).unwrap();
    let data = pseudo_random_bytes(3 * 1024 * 1024 + 99, 7);
    let file = dir.join("flap.bin");
    std::fs::write(&file, &data).unwrap();
    let command = format!(
        "{KERNEL_PEER_SETUP}{HELPERS}\n\
         echo '=== flap'; sink; echo LINK-PHASE-1; $SEND --file /data/flap.bin --rate 4 --link-timeout 20 > /tmp/send.log 2>&1; \
           echo \"exit=$?\"; cat /tmp/send.log; wait $sp; cat /tmp/sink.log\n\
         echo '=== dead'; sink; echo LINK-PHASE-2; $SEND --file /data/flap.bin --rate 2 --link-timeout 2 > /tmp/send.log 2>&1; \
           echo \"exit=$?\"; cat /tmp/send.log; wait $sp; cat /tmp/sink.log\n\
         echo '=== end'"
    );
    let guest = Guest::new(&format!("faults-link-{model}"))
        .kernel(Kernel::Full)
        .unbound()
        .nic(model)
        .nic(model)
        .file(&file, "/data/flap.bin");
    let running = guest.spawn(&command);
    // The sends are paced slowly (6 s and 12 s) so that the link flips land
    // inside them even when the host is busy and the guest's console lags;
    // they start 2.5 s after the marker, once bring-up (on the e1000e an
    // autonegotiation of 500 ms of virtual time) is surely over.
    assert!(running.wait_for_console("LINK-PHASE-1", Duration::from_secs(60)), "phase 1 never started");
    std::thread::sleep(Duration::from_millis(2500));
    let answer = running.monitor("set_link n0 off");
    assert!(!answer.contains("rror"), "the monitor refused: {answer}");
    std::thread::sleep(Duration::from_millis(1500));
    let answer = running.monitor("set_link n0 on");
    assert!(!answer.contains("rror"), "the monitor refused: {answer}");
    assert!(running.wait_for_console("LINK-PHASE-2", Duration::from_secs(60)), "phase 2 never started");
    std::thread::sleep(Duration::from_millis(2500));
    running.monitor("set_link n0 off");
    let run = running.finish();
    run.assert_status(0);
    let out = &run.output;

    let flap = section(out, "flap");
    assert!(flap.contains("exit=0"), "{flap}");
    assert!(flap.contains("the link went down 1 time(s) during the send"), "the outage was not noticed:\n{flap}");
    let want =
        format!("received {} datagrams, {} bytes, sha256 {}", data.len().div_ceil(1472), data.len(), sha256_hex(&data));
    assert!(flap.contains(&want), "the file did not arrive exactly once, intact:\n{flap}");

    let dead = section(out, "dead");
    assert!(dead.contains("exit=1") && dead.contains("did not come back within 2 s"), "{dead}");
    let sent: usize = dead
        .split("within 2 s; ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("how much was sent");
    assert!(sent > 0 && sent < data.len(), "{dead}");
    let got = format!("{} bytes, sha256 {}", sent, sha256_hex(&data[..sent]));
    assert!(dead.contains(&got), "what arrived is not the {sent} bytes the sender reported:\n{dead}");
}

/// A NIC that stops completing descriptors (bus mastering pulled from under
/// it), a sender killed with SIGKILL, a second sender on a busy NIC, SIGTERM,
/// and a file that shrinks: each ends clearly, and the next run on the same
/// NIC brings it up from whatever state it was left in.
#[test]
fn hangs_kills_busy_nics_and_shrinking_files_end_clearly_and_the_next_run_works() {
    hangs_kills_busy_shrinking("e1000");
}

#[test]
fn on_an_igb_hangs_kills_busy_nics_and_shrinking_files_end_clearly_too() {
    hangs_kills_busy_shrinking("igb");
}

fn hangs_kills_busy_shrinking(model: &'static str) {
    let command = format!(
        "{KERNEL_PEER_SETUP}{HELPERS}\n\
         head -c 4000000 /dev/urandom > /tmp/big; head -c 300000 /dev/urandom > /tmp/small; sum=$(sha256sum /tmp/small | cut -d' ' -f1)\n\
         bigsum=$(sha256sum /tmp/big | cut -d' ' -f1)\n\
         echo '=== hang-recover'; sink; (sleep 1; printf '\\003\\000' | dd of=/sys/bus/pci/devices/$NIC0/config bs=1 seek=4 conv=notrunc 2>/dev/null) & \
           $SEND --file /tmp/big --rate 8 --stall-timeout 2 > /tmp/send.log 2>&1; echo \"exit=$?\"; cat /tmp/send.log; wait; cat /tmp/sink.log; echo \"want $bigsum\"\n\
         echo '=== hang'; (sleep 1; printf '\\003\\000' | dd of=/sys/bus/pci/devices/$NIC0/config bs=1 seek=4 conv=notrunc 2>/dev/null) & \
           $SEND --file /tmp/big --rate 8 --stall-timeout 2 --recoveries 0 > /tmp/send.log 2>&1; echo \"exit=$?\"; cat /tmp/send.log; wait\n\
         echo '=== after-hang'; sink; $SEND --file /tmp/small --rate 20 > /tmp/send.log 2>&1; echo \"exit=$?\"; wait $sp; cat /tmp/sink.log; echo \"want $sum\"\n\
         echo '=== kill'; $SEND --file /tmp/big --rate 8 > /dev/null 2>&1 & p=$!; sleep 1; kill -9 $p; wait $p; echo \"exit=$?\"\n\
         echo '=== after-kill'; sink; $SEND --file /tmp/small --rate 20 > /tmp/send.log 2>&1; echo \"exit=$?\"; wait $sp; cat /tmp/sink.log; echo \"want $sum\"\n\
         echo '=== busy'; $SEND --file /tmp/big --rate 8 > /tmp/first.log 2>&1 & p=$!; sleep 1; \
           $SEND --file /tmp/small; echo \"exit=$?\"; kill -TERM $p; wait $p; echo \"first-exit=$?\"; cat /tmp/first.log\n\
         echo '=== shrink'; cp /tmp/big /tmp/shrink; (sleep 1; head -c 100000 /tmp/big > /tmp/shrink) & \
           $SEND --file /tmp/shrink --rate 8 --window 1 2>&1; echo \"exit=$?\"; wait\n\
         echo '=== end'"
    );
    let run =
        Guest::new(&format!("faults-kill-{model}")).kernel(Kernel::Full).unbound().nic(model).nic(model).run(&command);
    run.assert_status(0);
    let out = &run.output;

    let s = section(out, "hang-recover");
    let want = s.lines().find_map(|l| l.strip_prefix("want ")).expect("the file's hash");
    assert!(s.contains("exit=0") && s.contains("stopped completing descriptors 1 time(s); it was reset"), "{s}");
    assert!(
        s.contains(&format!("4000000 bytes, sha256 {want}")),
        "after the reset the file still arrived whole, once:\n{s}"
    );
    let s = section(out, "hang");
    assert!(s.contains("exit=1") && s.contains("did not complete its TX descriptors within 2000 ms"), "{s}");
    assert!(s.contains("still outstanding, head ") && s.contains(", tail "), "the ring state is reported:\n{s}");
    for step in ["after-hang", "after-kill"] {
        let s = section(out, step);
        let want = s.lines().find_map(|l| l.strip_prefix("want ")).expect("the file's hash");
        assert!(s.contains("exit=0") && s.contains(&format!("300000 bytes, sha256 {want}")), "{step}:\n{s}");
    }
    assert!(section(out, "kill").contains("exit=137"), "{}", section(out, "kill"));

    let s = section(out, "busy");
    assert!(s.contains("exit=1") && s.contains("is busy: another process"), "{s}");
    assert!(s.contains("first-exit=130") && s.contains("interrupted: stopped after"), "SIGTERM stops cleanly:\n{s}");

    let s = section(out, "shrink");
    assert!(s.contains("exit=1") && s.contains("/tmp/shrink changed while it was being sent"), "{s}");
    assert!(s.contains("size went from 4000000 to 100000 bytes"), "{s}");
}

/// Fifty open/send/close cycles in one process leave locked and pinned
/// memory, file descriptors and IOMMU mappings where they started.
#[test]
fn fifty_open_send_close_cycles_leak_nothing() {
    open_close_cycles("e1000");
}

#[test]
fn fifty_open_send_close_cycles_leak_nothing_on_an_igb_with_msix() {
    open_close_cycles("igb");
}

fn open_close_cycles(model: &'static str) {
    let run = Guest::new(&format!("faults-cycles-{model}"))
        .nic(model)
        .run("head -c 200000 /dev/urandom > /tmp/f; open-close-cycles --pci $NIC0 --file /tmp/f --cycles 50");
    run.assert_status(0);
    let out = &run.output;
    let field = |line: &str, key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} missing in {line:?}"))
    };
    let before = out.lines().find(|l| l.starts_with("before: ")).expect("baseline");
    let open = out.lines().find(|l| l.starts_with("while open: ")).expect("while open");
    let cycles: Vec<&str> = out.lines().filter(|l| l.starts_with("cycle ")).collect();
    assert_eq!(cycles.len(), 50, "{out}");
    // The measurement can see: holding the NIC open pins memory and maps DMA.
    assert!(field(open, "dma_mappings") >= 2 && field(open, "locked_kb") > field(before, "locked_kb"), "{open}");
    for key in ["locked_kb", "pinned_kb", "fds", "dma_mappings", "dma_bytes"] {
        for c in &cycles {
            assert_eq!(field(c, key), field(before, key), "{key} after a cycle differs from before:\n{c}\n{before}");
            assert!(c.contains("sent 136 datagrams"), "{c}");
        }
    }
}

/// A panic in the middle of a send, caught by the program (a test hook in the
/// driver, `fault-injection` feature): the NIC's DMA is stopped before the
/// file windows it may read are unmapped, the NIC refuses to go on until it is
/// recovered, nothing wrong goes on the wire, and after `recover` the whole
/// file is sent again. The harness fails the run on any IOMMU (DMAR) fault.
#[test]
fn a_panic_mid_send_stops_the_nic_before_its_windows_are_unmapped() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faults-panic");
    std::fs::create_dir_all(&dir).unwrap();
    // Fewer than 65536 datagrams, so that a datagram's IP id is its index.
    let data = pseudo_random_bytes(2 * 1024 * 1024 + 777, 11);
    let file = dir.join("panic.bin");
    std::fs::write(&file, &data).unwrap();
    let command = format!(
        "{KERNEL_PEER_SETUP}{HELPERS}\n\
         sink; panic-mid-send --pci $NIC0 --file /data/panic.bin --dst-mac 52:54:00:12:34:51 --after 300; echo \"exit=$?\"; wait $sp; cat /tmp/sink.log"
    );
    let run = Guest::new("faults-panic")
        .kernel(Kernel::Full)
        .unbound()
        .nic("e1000")
        .nic("e1000")
        .file(&file, "/data/panic.bin")
        .run(&command);
    run.assert_status(0);
    let out = &run.output;
    assert!(out.contains("exit=0"), "{out}");
    let open = out.lines().find(|l| l.starts_with("open: ")).expect("the open line");
    assert!(open.contains("bus_master=true"), "{open}");
    let after = out.lines().find(|l| l.starts_with("after-panic: ")).expect("the after-panic line");
    assert!(after.contains("injected panic after") && after.contains("bus_master=false"), "{after}");
    assert!(after.contains("next_batch=refused") && after.contains("DMA was stopped"), "{after}");
    let maps_open: u64 = open.split("dma_mappings=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let maps_after: u64 = after.split("dma_mappings=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(maps_after, maps_open, "the file windows were unmapped, the NIC's own memory kept:\n{out}");
    let total = data.len().div_ceil(1472);
    assert!(out.contains(&format!("resend: {} bytes in {total} datagrams", data.len())), "{out}");

    // Every UDP datagram zcnic put on the wire, before or after the panic,
    // carries exactly the file's bytes for its index (its IP id).
    let mut seen = vec![0u32; total];
    for f in run.frames(0) {
        if f.len() < 42 || f[12..14] != [0x08, 0x00] || f[23] != 17 || f[6..12] != testbed::MAC0 {
            continue;
        }
        let id = usize::from(u16::from_be_bytes([f[18], f[19]]));
        let start = id * 1472;
        assert!(id < total, "datagram id {id} is past the file");
        let end = (start + 1472).min(data.len());
        assert_eq!(&f[42..], &data[start..end], "datagram {id} carries the wrong bytes");
        seen[id] += 1;
    }
    assert!(seen.iter().all(|&n| n >= 1), "after recovery every datagram went out");
    assert!(seen.iter().take(300).all(|&n| n == 2), "the first 300 went out twice (before the panic and again)");
}
