//! The packet-send example on an emulated e1000, e1000e and igb, in a QEMU guest:
//! every frame asked for reaches the wire byte for byte and in order, and the
//! error paths say what is wrong and put nothing on the wire.

mod testbed;

use std::process::Command;

use testbed::Guest;

fn check_send(model: &'static str, count: u64, size: usize, batch: u32, hugepages: u32) -> String {
    let name = format!("packet-send-{model}-{count}x{size}-b{batch}-hp{hugepages}");
    let run = Guest::new(&name)
        .nic(model)
        .hugepages(hugepages)
        .run(&format!("packet-send --pci $NIC0 --count {count} --size {size} --batch {batch}"));
    run.assert_status(0);
    assert!(run.output.contains(&format!("sent {count} frames of {size} bytes")), "summary missing:\n{}", run.output);
    assert!(
        run.output.contains(&format!("good packets transmitted: {count}")),
        "the NIC's own TX counter disagrees:\n{}",
        run.output
    );
    let frames = run.frames(0);
    assert_eq!(frames.len() as u64, count, "frames on the wire (results in {})", run.dir.display());
    for (seq, frame) in frames.iter().enumerate() {
        let want = testbed::packet_send_frame(seq as u64, size);
        assert!(
            *frame == want,
            "frame {seq} differs from what was asked for (len {} vs {size}); first difference at byte {:?}",
            frame.len(),
            frame.iter().zip(&want).position(|(a, b)| a != b)
        );
    }
    run.output
}

#[test]
fn e1000_sends_minimum_size_frames_byte_exact() {
    check_send("e1000", 1000, 60, 32, 16);
}

#[test]
fn e1000_sends_full_size_frames_around_the_ring_several_times() {
    // 1300 frames through a 512-descriptor ring: it wraps twice.
    check_send("e1000", 1300, 1514, 64, 16);
}

#[test]
fn e1000e_sends_minimum_size_frames_byte_exact() {
    check_send("e1000e", 1000, 60, 32, 16);
}

#[test]
fn e1000e_sends_odd_size_frames_in_odd_batches() {
    check_send("e1000e", 777, 343, 7, 16);
}

#[test]
fn igb_sends_minimum_size_frames_byte_exact() {
    check_send("igb", 1000, 60, 32, 16);
}

#[test]
fn igb_sends_odd_size_frames_around_the_ring_in_odd_batches() {
    // 1100 frames through a 512-descriptor ring of advanced descriptors.
    check_send("igb", 1100, 1001, 7, 16);
}

#[test]
fn without_hugepages_it_falls_back_to_small_pages_and_says_how_to_reserve() {
    let out = check_send("e1000", 200, 1000, 32, 0);
    assert!(out.contains("nr_hugepages"), "no fallback warning:\n{out}");
}

/// Both provokable error paths in one boot: a PCI address with no device,
/// and a NIC that is not bound to vfio-pci.
fn check_error_paths(model: &'static str) {
    let run = Guest::new(&format!("packet-send-errors-{model}")).nic(model).run(
        "packet-send --pci 0000:00:1e.0 --count 10; echo \"missing-device-exit=$?\"; \
         echo $NIC0 > /sys/bus/pci/drivers/vfio-pci/unbind; \
         packet-send --pci $NIC0 --count 10; echo \"unbound-exit=$?\"",
    );
    run.assert_status(0);
    let out = &run.output;
    assert!(out.contains("missing-device-exit=1"), "{out}");
    assert!(out.contains("no PCI device at 0000:00:1e.0"), "{out}");
    assert!(out.contains("network controllers on this machine:"), "should list the NICs that exist:\n{out}");
    assert!(out.contains("unbound-exit=1"), "{out}");
    assert!(out.contains("is not bound to vfio-pci (it has no driver)"), "{out}");
    assert!(out.contains("driver_override"), "should print how to bind:\n{out}");
    assert_eq!(run.frames(0).len(), 0, "an error run put frames on the wire");
}

#[test]
fn e1000_error_paths_explain_and_send_nothing() {
    check_error_paths("e1000");
}

#[test]
fn e1000e_error_paths_explain_and_send_nothing() {
    check_error_paths("e1000e");
}

#[test]
fn a_nic_never_bound_to_vfio_is_refused() {
    let run = Guest::new("packet-send-never-bound").nic("e1000").unbound().run("packet-send --pci $NIC0 --count 3");
    run.assert_status(1);
    assert!(run.output.contains("is not bound to vfio-pci (it has no driver)"), "{}", run.output);
    assert_eq!(run.frames(0).len(), 0);
}

#[test]
fn bad_arguments_are_rejected_by_the_parser() {
    let bin = testbed::guest_bin("packet-send");
    for (args, needle) in [
        (vec!["--pci", "0000:00:02.0", "--size", "59"], "59 is not in 60..=1514"),
        (vec!["--pci", "0000:00:02.0", "--size", "1515"], "1515 is not in 60..=1514"),
        (vec!["--pci", "0000:00:02.0", "--count", "0"], "--count"),
        (vec!["--pci", "00:02"], "is not a PCI address"),
        (vec!["--pci", "0000:00:20.0"], "device must be 00 to 1f"),
        (vec!["--pci", "0000:00:02"], "is not a PCI address"),
        (vec!["--pci", "eth 0"], "neither a PCI address"),
        (vec!["--count", "5"], "--pci"),
    ] {
        let out = Command::new(&bin).args(&args).output().expect("run packet-send");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} should be a usage error:\n{stderr}");
        assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in:\n{stderr}");
    }
}

/// As an ordinary user: no permission on /dev/vfio/N, then a memlock limit too
/// low to pin the rings, then (with the group given to the user and the
/// default limit) a send that works.
#[test]
fn an_unprivileged_user_gets_permission_and_memlock_errors_then_succeeds() {
    let run = Guest::new("packet-send-unprivileged").nic("e1000").run(
        "mkdir -p /etc; printf 'root:x:0:0::/root:/bin/sh\\nzc:x:1000:1000::/tmp:/bin/sh\\n' > /etc/passwd; \
         printf 'root:x:0:\\nzc:x:1000:\\n' > /etc/group; \
         G=$(basename $(readlink /sys/bus/pci/devices/$NIC0/iommu_group)); echo \"group=$G\"; \
         su zc -c \"/zcnic/bin/packet-send --pci $NIC0 --count 5\"; echo \"noperm-exit=$?\"; \
         chown zc /dev/vfio/$G; \
         su zc -c \"ulimit -l 64; /zcnic/bin/packet-send --pci $NIC0 --count 5\"; echo \"memlock-exit=$?\"; \
         su zc -c \"/zcnic/bin/packet-send --pci $NIC0 --count 5 --size 200\"; echo \"user-exit=$?\"",
    );
    run.assert_status(0);
    let out = &run.output;
    assert!(out.contains("noperm-exit=1"), "{out}");
    assert!(out.contains("no permission to open /dev/vfio/"), "{out}");
    assert!(out.contains("memlock-exit=1"), "{out}");
    assert!(out.contains("the memlock limit (65536 bytes) is too low"), "{out}");
    assert!(out.contains("ulimit -l"), "should say how to raise it:\n{out}");
    assert!(out.contains("user-exit=0"), "{out}");
    let frames = run.frames(0);
    assert_eq!(frames.len(), 5, "only the successful run may put frames on the wire");
    assert!(frames.iter().all(|f| f.len() == 200));
}
