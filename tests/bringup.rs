//! Bring-up as the silicon needs it, in a QEMU guest with an emulated e1000
//! (82540EM) and e1000e (82574L): the PHY is found through MDIC with the
//! model's identifier, the MAC comes from the EEPROM with its checksum
//! verified and frames leave with it, `zcnic info` works with the link held
//! down (QEMU's monitor), and a send that finds no link says what it saw.
//! What QEMU does not model (a PHY left powered down, resets, auto-reads and
//! MDIO accesses that never finish, bad checksums) is tested against the
//! register-level fake in driver/src/device/e1000/bringup.rs.

mod testbed;

use std::time::Duration;

use testbed::{section, Guest, MAC0};

#[test]
fn phy_eeprom_and_link_facts_on_both_models_and_with_the_link_held_down() {
    let command = "\
        echo '=== info-e1000'; zcnic -v info --pci $NIC0 2>&1; echo \"exit=$?\"\n\
        echo '=== info-e1000e'; zcnic -v info --pci $NIC1 2>&1; echo \"exit=$?\"\n\
        echo '=== send-e1000e'; packet-send --pci $NIC1 --count 20 --size 100 2>&1; echo \"exit=$?\"\n\
        echo LINK-OFF-NOW; sleep 3\n\
        echo '=== info-down'; zcnic info --pci $NIC0 2>&1; echo \"exit=$?\"\n\
        echo '=== send-down'; head -c 5000 /dev/urandom > /tmp/f; \
          zcnic send --pci $NIC0 --file /tmp/f --src 10.0.0.1 --dst 10.0.0.2:9000 --dst-mac 02:00:00:00:00:01 --link-timeout 2 2>&1; echo \"exit=$?\"\n\
        echo '=== end'";
    let running = Guest::new("bringup").nic("e1000").nic("e1000e").spawn(command);
    assert!(running.wait_for_console("LINK-OFF-NOW", Duration::from_secs(120)), "the first steps never finished");
    let answer = running.monitor("set_link n0 off");
    assert!(!answer.contains("rror"), "the monitor refused: {answer}");
    let run = running.finish();
    run.assert_status(0);
    let out = &run.output;

    // The PHY answers on MDIO with each model's identifier; the EEPROM's
    // checksum holds; the MAC is the one QEMU was given (not its default
    // 52:54:00:12:34:56), read from the EEPROM.
    for (step, phy, mac) in
        [("info-e1000", "0x01410c20", "52:54:00:12:34:50"), ("info-e1000e", "0x01410cb1", "52:54:00:12:34:51")]
    {
        let s = section(out, step);
        assert!(s.contains("exit=0"), "{step}:\n{s}");
        assert!(s.contains(&format!("phy:    {phy}")), "{step}: PHY ID:\n{s}");
        assert!(s.contains(&format!("mac:    {mac} (from the EEPROM)")), "{step}:\n{s}");
        assert!(s.contains(&format!("MAC {mac} from the EEPROM (checksum verified)")), "{step}: the log says so:\n{s}");
        assert!(
            s.contains("link:   up") && s.contains("speed:  1000 Mb/s") && s.contains("duplex: full"),
            "{step}:\n{s}"
        );
        assert!(s.contains("flow control: "), "{step}:\n{s}");
    }
    // The 82574L's reset disables mastering and waits for the auto-read (the
    // log shows the PHY read after it); the 82540EM's goes through its I/O BAR
    // if VFIO offers one (QEMU's is a stub, so this only shows the path).
    let s = section(out, "info-e1000e");
    for line in [
        "reset: master disabled and drained, CTRL.RST under the MDIO semaphore",
        "reset done, EEPROM auto-read done (EECD.AUTO_RD)",
        "82574L init bits and errata",
        "GCR2 bit 0 (TX-timeout errata)",
        "PHY 0x01410cb1: control",
    ] {
        assert!(s.contains(line), "the e1000e's bring-up log lacks {line:?}:\n{s}");
    }
    assert!(s.contains("ASPM"), "the ASPM errata step is logged:\n{s}");
    let s = section(out, "info-e1000");
    assert!(s.contains("82540EM: reset: CTRL.RST through the I/O BAR"), "{s}");

    // Frames leave the e1000e with the EEPROM's MAC.
    let s = section(out, "send-e1000e");
    assert!(s.contains("exit=0") && s.contains("sent 20 frames"), "{s}");
    let frames = run.frames(1);
    let ours: Vec<_> = frames.iter().filter(|f| f.len() >= 14 && f[12..14] == [0x88, 0xb5]).collect();
    assert_eq!(ours.len(), 20, "frames on NIC 1's wire");
    let mac1 = [0x52, 0x54, 0x00, 0x12, 0x34, 0x51];
    assert!(ours.iter().all(|f| f[6..12] == mac1), "every frame carries the EEPROM's MAC");
    assert_ne!(mac1, MAC0);

    // With the link held down, info still works and says so.
    let s = section(out, "info-down");
    assert!(s.contains("exit=0"), "{s}");
    assert!(s.contains("link:   down") && s.contains("speed:  -") && s.contains("phy:    0x01410c20"), "{s}");

    // A send with no link fails saying what it saw and what it tried.
    let s = section(out, "send-down");
    assert!(s.contains("exit=1") && s.contains("did not come up within 2 s"), "{s}");
    assert!(s.contains("PHY 0x01410c20 control") && s.contains("PHY link down") && s.contains("tried: "), "{s}");
}

/// The igb (82576): its PHY's identifier over MDIC, the MAC from the NVM
/// with the checksum verified (under the SW/FW semaphore), the reset's
/// aftermath logged, MSI-X with two vectors, and a link held down seen as
/// such by `info` and by a send.
#[test]
fn igb_phy_nvm_msix_and_link_facts_and_with_the_link_held_down() {
    let command = "\
        echo '=== info'; zcnic -v info --pci $NIC0 2>&1; echo \"exit=$?\"\n\
        echo LINK-OFF-NOW; sleep 3\n\
        echo '=== info-down'; zcnic info --pci $NIC0 2>&1; echo \"exit=$?\"\n\
        echo '=== send-down'; head -c 5000 /dev/urandom > /tmp/f; \
          zcnic send --pci $NIC0 --file /tmp/f --src 10.0.0.1 --dst 10.0.0.2:9000 --dst-mac 02:00:00:00:00:01 --link-timeout 2 2>&1; echo \"exit=$?\"\n\
        echo '=== end'";
    let running = Guest::new("bringup-igb").nic("igb").spawn(command);
    assert!(running.wait_for_console("LINK-OFF-NOW", Duration::from_secs(120)), "the first steps never finished");
    let answer = running.monitor("set_link n0 off");
    assert!(!answer.contains("rror"), "the monitor refused: {answer}");
    let run = running.finish();
    run.assert_status(0);
    let out = &run.output;
    let s = section(out, "info");
    for line in [
        "82576 (igb)",
        "phy:    0x02a80391",
        "MAC 52:54:00:12:34:50 from the NVM (checksum verified)",
        "82576: reset done",
        "advertised 10/100 half and full, 1000 full and pause, restarted autonegotiation",
        "interrupt routing: MsiX { queues: 1 }",
        "interrupts via MsiX(2)",
        "link:   up",
        "speed:  1000 Mb/s",
    ] {
        assert!(s.contains(line), "the igb's bring-up lacks {line:?}:\n{s}");
    }
    assert!(s.contains("exit=0"), "{s}");
    let s = section(out, "info-down");
    assert!(s.contains("exit=0") && s.contains("link:   down") && s.contains("phy:    0x02a80391"), "{s}");
    let s = section(out, "send-down");
    assert!(s.contains("exit=1") && s.contains("did not come up within 2 s") && s.contains("tried: "), "{s}");
}
