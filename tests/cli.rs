//! The zcnic CLI on a machine where the kernel's own driver owns the NIC, as
//! a new user would meet it: list, bind (and its refusals), send by the
//! interface name the NIC had, unbind, and the interface comes back.

mod testbed;

use testbed::{Guest, Kernel};

/// The output of one `step NAME` of the guest script.
fn step<'a>(out: &'a str, name: &str) -> &'a str {
    let marker = format!("=== {name}\n");
    let start = out.find(&marker).unwrap_or_else(|| panic!("step {name} did not run:\n{out}")) + marker.len();
    let rest = &out[start..];
    &rest[..rest.find("=== ").unwrap_or(rest.len())]
}

#[test]
fn list_bind_send_unbind_on_a_nic_the_kernel_owns() {
    let run = Guest::new("cli-bind")
        .kernel(Kernel::Full)
        .unbound()
        .nic("e1000")
        .run(
            r#"
modprobe e1000; i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
ip addr add 10.0.0.1/24 dev eth0; ip link set eth0 up
echo "=== list"; zcnic list; echo "exit=$?"
echo "=== json"; zcnic list --json; echo "exit=$?"
echo "=== bind-up"; zcnic bind $NIC0; echo "exit=$?"; readlink /sys/bus/pci/devices/$NIC0/driver
echo "=== not-a-nic"; zcnic bind 0000:00:1f.3; echo "exit=$?"
echo "=== unknown"; zcnic send --pci eth7 --file /zcnic/bin/zcnic --src 10.0.0.1 --dst 10.0.0.2:9 --dst-mac 02:00:00:00:00:01; echo "exit=$?"
ip link set eth0 down
echo "=== bind-down"; zcnic bind eth0; echo "exit=$?"; readlink /sys/bus/pci/devices/$NIC0/driver; ls /sys/class/net
echo "=== bind-again"; zcnic bind $NIC0; echo "exit=$?"
echo "=== ready"; zcnic list --json; echo "exit=$?"
head -c 100000 /dev/urandom > /tmp/f
echo "=== send"; zcnic send --pci eth0 --file /tmp/f --src 10.0.0.1 --dst 10.0.0.2:9000 --dst-mac 02:00:00:00:00:01 2>&1; echo "exit=$?"
echo "=== packet-send"; packet-send --pci eth0 --count 5 --size 100; echo "exit=$?"
echo "=== unbind"; zcnic unbind eth0; echo "exit=$?"; readlink /sys/bus/pci/devices/$NIC0/driver; ls /sys/class/net
echo "=== unbind-again"; zcnic unbind $NIC0; echo "exit=$?"
ip addr add 10.0.0.1/24 dev eth0 2>/dev/null; ip link set eth0 up
echo "=== force"; zcnic bind --force eth0; echo "exit=$?"; readlink /sys/bus/pci/devices/$NIC0/driver
echo "=== unbind-forced"; zcnic -v unbind $NIC0; echo "exit=$?"; readlink /sys/bus/pci/devices/$NIC0/driver
echo "=== help"; zcnic --help; zcnic completions bash | grep -c zcnic
echo "=== end"
"#,
        );
    run.assert_status(0);
    let out = &run.output;

    let list = step(out, "list");
    assert!(list.contains("0000:00:02.0  8086:100e  Intel Corporation 82540EM Gigabit Ethernet Controller"), "{list}");
    assert!(list.contains("driver: e1000") && list.contains("interface: eth0 (up, 10.0.0.1"), "{list}");
    assert!(list.contains("zcnic: supported, not ready (not bound to vfio-pci"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(step(out, "json").trim().trim_end_matches("exit=0").trim()).unwrap();
    assert_eq!(json[0]["driver"], "e1000");
    assert_eq!(json[0]["interfaces"][0]["name"], "eth0");
    assert_eq!(json[0]["ready"], false);

    let s = step(out, "bind-up");
    assert!(s.contains("refusing to take 0000:00:02.0: its interface eth0 is up with address 10.0.0.1"), "{s}");
    assert!(s.contains("exit=1") && s.contains("/e1000\n"), "{s}");
    let s = step(out, "not-a-nic");
    assert!(s.contains("not a network controller") && s.contains("exit=1"), "{s}");
    let s = step(out, "unknown");
    assert!(s.contains("'eth7' is neither a PCI address") && s.contains("exit=1"), "{s}");

    let s = step(out, "bind-down");
    assert!(s.contains("0000:00:02.0: bound to vfio-pci (was e1000, interface eth0"), "{s}");
    assert!(s.contains("exit=0") && s.contains("/vfio-pci\n") && !s.contains("eth0\n"), "{s}");
    assert!(step(out, "bind-again").contains("already bound to vfio-pci; nothing to do"));
    let ready: serde_json::Value =
        serde_json::from_str(step(out, "ready").trim().trim_end_matches("exit=0").trim()).unwrap();
    assert_eq!(ready[0]["ready"], true, "{ready}");

    let s = step(out, "send");
    assert!(s.contains("exit=0") && s.contains("sent 100000 of 100000 bytes"), "{s}");
    assert!(step(out, "packet-send").contains("sent 5 frames of 100 bytes"));

    let s = step(out, "unbind");
    assert!(s.contains("0000:00:02.0: given back to e1000, interface eth0") && s.contains("/e1000\n"), "{s}");
    assert!(s.lines().any(|l| l.split_whitespace().any(|w| w == "eth0")), "the interface came back:\n{s}");
    assert!(step(out, "unbind-again").contains("is not bound to vfio-pci; nothing to do"));

    let s = step(out, "force");
    assert!(
        s.contains("warning (--force given, going ahead anyway)")
            && s.contains("bound to vfio-pci")
            && s.contains("/vfio-pci\n"),
        "{s}"
    );
    assert!(step(out, "unbind-forced").contains("/e1000\n"));

    let s = step(out, "help");
    assert!(s.contains("Examples:") && s.contains("zcnic bind 0000:03:00.0"), "{s}");

    // What the send put on the wire: 68 datagrams of the 100000-byte file.
    let udp = run.frames(0).iter().filter(|f| f.len() > 42 && f[12..14] == [8, 0] && f[23] == 17).count();
    assert_eq!(udp, 100000usize.div_ceil(1472));
}

/// An igb the kernel owns: `list` names it (pci-ids) as supported, `bind`
/// takes it from the kernel's igb driver, frames go out, `unbind` gives it back.
#[test]
fn list_bind_send_unbind_an_igb_the_kernel_owns() {
    let run = Guest::new("cli-igb").kernel(Kernel::Full).unbound().nic("igb").run(
        r#"
modprobe igb; i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
echo "=== list"; zcnic list; echo "exit=$?"
echo "=== bind"; zcnic bind eth0; echo "exit=$?"; readlink /sys/bus/pci/devices/$NIC0/driver
echo "=== packet-send"; packet-send --pci $NIC0 --count 5 --size 100; echo "exit=$?"
echo "=== unbind"; zcnic unbind $NIC0; echo "exit=$?"; readlink /sys/bus/pci/devices/$NIC0/driver
echo "=== end"
"#,
    );
    run.assert_status(0);
    let out = &run.output;
    let list = step(out, "list");
    assert!(list.contains("0000:00:02.0  8086:10c9  Intel Corporation 82576 Gigabit Network Connection"), "{list}");
    assert!(list.contains("driver: igb") && list.contains("zcnic: supported, not ready"), "{list}");
    let s = step(out, "bind");
    assert!(s.contains("exit=0") && s.trim_end().ends_with("vfio-pci"), "{s}");
    assert!(step(out, "packet-send").contains("sent 5 frames"), "{}", step(out, "packet-send"));
    let s = step(out, "unbind");
    assert!(s.contains("exit=0") && s.trim_end().ends_with("/igb"), "{s}");
}

/// A NIC zcnic does not drive (QEMU's RTL8139): every command that would
/// open it says what it is and what is supported; bind refuses it unless forced.
#[test]
fn an_unsupported_nic_is_refused_by_name() {
    let run = Guest::new("cli-unsupported").nic("rtl8139").run(
        r#"
echo "=== send"; packet-send --pci $NIC0 --count 1; echo "exit=$?"
echo "=== recv"; zcnic recv --pci $NIC0 --timeout 1; echo "exit=$?"
echo "=== unbind"; zcnic unbind $NIC0; echo "exit=$?"
echo "=== bind"; zcnic bind $NIC0; echo "exit=$?"
echo "=== list"; zcnic list
echo "=== end"
"#,
    );
    run.assert_status(0);
    let out = &run.output;
    for s in ["send", "recv"] {
        let s = step(out, s);
        assert!(s.contains("exit=1") && s.contains("is a 10ec:8139 device, which zcnic does not drive"), "{s}");
        assert!(
            s.contains("supported: 8086:100e (82540EM, e1000), 8086:10d3 (82574L, e1000e), 8086:10c9 (82576, igb)"),
            "{s}"
        );
    }
    assert!(step(out, "unbind").contains("released from vfio-pci") || step(out, "unbind").contains("given back"));
    let s = step(out, "bind");
    assert!(s.contains("exit=1") && s.contains("does not drive") && s.contains("--force"), "{s}");
    assert!(step(out, "list").contains("zcnic: not supported"), "{}", step(out, "list"));
    assert_eq!(run.frames(0).len(), 0);
}
