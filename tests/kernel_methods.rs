//! The kernel's send paths the benchmark compares zcnic with
//! (examples/kernel-send.rs), in a QEMU guest with the kernel's own e1000
//! driver: every method puts every datagram of the file on the wire, and
//! MSG_ZEROCOPY's completions all come back. (The frame count is the
//! interface's tx_packets delta, so nothing else may send: no IPv6, a static
//! ARP entry for the destination.)

mod testbed;

use testbed::{Guest, Kernel};

#[test]
fn every_kernel_method_puts_every_datagram_on_the_wire() {
    let len = 1_000_001usize;
    let datagrams = len.div_ceil(1472);
    let methods =
        ["read-write", "mmap-write", "sendfile", "splice", "sendmmsg", "udp-gso", "msg-zerocopy", "io-uring-zc"];
    let command = format!(
        "modprobe e1000; i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n\
         echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6\n\
         ip addr add 10.0.0.1/24 dev eth0; ip link set eth0 up; arp -s 10.0.0.9 02:00:00:00:00:01\n\
         i=0; while [ \"$(cat /sys/class/net/eth0/carrier 2>/dev/null)\" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n\
         head -c {len} /dev/urandom > /tmp/f\n\
         for m in {}; do kernel-send --method $m --file /tmp/f --dst 10.0.0.9:9000 --iface eth0 2>&1 || echo \"$m failed\"; done",
        methods.join(" ")
    );
    let run = Guest::new("kernel-methods").kernel(Kernel::Full).unbound().nic("e1000").run(&command);
    run.assert_status(0);
    let out = &run.output;
    assert!(!out.contains("failed"), "{out}");
    for m in methods {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("bench-result method={m} ")))
            .unwrap_or_else(|| panic!("no result for {m}:\n{out}"));
        assert!(line.contains(&format!(" frames={datagrams} ")), "{m} did not send every datagram: {line}");
    }
    let zc = out.lines().find(|l| l.starts_with("msg-zerocopy: ")).expect("the completions line");
    let sends: u64 = zc.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap();
    assert_eq!(sends, datagrams as u64, "{zc}");
    assert!(zc.contains(&format!("{datagrams} completions")), "every MSG_ZEROCOPY send completed: {zc}");
}
