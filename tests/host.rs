//! zcnic owning an IPv4 address: the guest kernel on a second NIC finds it
//! with ARP and pings it; frames that lie (truncated, bad checksums, lengths
//! past the end, fragments) from a raw socket are counted and survived.

mod testbed;

use testbed::{Guest, Kernel, KERNEL_PEER_SETUP};

#[test]
fn the_kernel_peer_resolves_and_pings_an_address_zcnic_owns() {
    let command = format!(
        "{KERNEL_PEER_SETUP}\n\
         answer-ping --pci $NIC0 --ip 10.0.0.1 --idle 6 > /tmp/answer.log 2>&1 & ap=$!; sleep 1\n\
         echo '=== ping'; ping -c 3 -W 2 10.0.0.1; echo \"exit=$?\"\n\
         echo '=== arp'; cat /proc/net/arp\n\
         echo '=== hostile'; malformed-frames --iface $IF --dst-mac 52:54:00:12:34:50 --dst-ip 10.0.0.1 --src-ip 10.0.0.2\n\
         echo '=== ping-after'; ping -c 2 -W 2 10.0.0.1; echo \"exit=$?\"\n\
         wait $ap; echo '=== answer'; cat /tmp/answer.log"
    );
    let run = Guest::new("host-ping").kernel(Kernel::Full).unbound().nic("e1000").nic("e1000").run(&command);
    run.assert_status(0);
    let out = &run.output;
    assert!(out.contains("3 packets transmitted, 3 packets received"), "{out}");
    assert!(out.contains("10.0.0.1") && out.contains("52:54:00:12:34:50"), "the peer learned our MAC by ARP:\n{out}");
    let hostile = out.split("=== hostile").nth(1).unwrap();
    assert!(hostile.contains("sent 9 malformed frames"), "{hostile}");
    let after = out.split("=== ping-after").nth(1).unwrap();
    assert!(
        after.contains("2 packets transmitted, 2 packets received"),
        "still answering after the hostile frames:\n{after}"
    );
    let answer = out.split("=== answer").nth(1).unwrap();
    assert!(answer.contains("and 5 pings"), "{answer}");
    // Every lying frame was refused by a check, none crashed the responder.
    let malformed: u64 = answer.split("malformed ").nth(1).unwrap().trim().parse().unwrap();
    assert!(malformed >= 6, "the parsers refused the lying frames: {answer}");
}
