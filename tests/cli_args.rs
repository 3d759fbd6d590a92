//! Every argument of the zcnic CLI, malformed or out of range, is refused by
//! the parser with a message naming the problem and exit status 2, before
//! anything touches a device. Runs the static binary on the host: no guest.

mod testbed;

use std::process::Command;

fn rejects(args: &[&str], needle: &str) {
    let out = Command::new(testbed::guest_bin("zcnic")).args(args).output().expect("run zcnic");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?} should be a usage error, got {:?}:\n{stderr}", out.status.code());
    assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in:\n{stderr}");
}

const SEND: [&str; 9] =
    ["send", "--pci", "0000:00:02.0", "--file", "/etc/hostname", "--src", "10.0.0.1", "--dst", "10.0.0.2:9000"];

fn send_with(extra: &[&str], drop_flag: Option<&str>) -> Vec<&'static str> {
    let mut v: Vec<&str> = SEND.to_vec();
    if let Some(flag) = drop_flag {
        let i = v.iter().position(|a| *a == flag).unwrap();
        v.drain(i..i + 2);
    }
    let mut out: Vec<&'static str> = v.into_iter().collect();
    out.extend(extra.iter().map(|s| -> &'static str { Box::leak(s.to_string().into_boxed_str()) }));
    out
}

#[test]
fn send_arguments() {
    rejects(&send_with(&[], Some("--pci")), "--pci");
    rejects(&send_with(&[], Some("--file")), "--file");
    rejects(&send_with(&[], Some("--src")), "--src");
    rejects(&send_with(&[], Some("--dst")), "--dst");
    rejects(&send_with(&["--pci", "0000:00:02"], Some("--pci")), "is not a PCI address");
    rejects(&send_with(&["--pci", "00:20.0"], Some("--pci")), "device must be 00 to 1f");
    rejects(&send_with(&["--pci", "bad/name"], Some("--pci")), "neither a PCI address");
    rejects(&send_with(&["--src", "10.0.0.300"], Some("--src")), "invalid value '10.0.0.300'");
    rejects(&send_with(&["--dst", "10.0.0.2"], Some("--dst")), "invalid value '10.0.0.2'");
    rejects(&send_with(&["--dst", "10.0.0.2:70000"], Some("--dst")), "invalid value '10.0.0.2:70000'");
    rejects(&send_with(&["--dst-mac", "52:54:00:12:34"], None), "is not a MAC address");
    rejects(&send_with(&["--rate", "0"], None), "is not between 0 and 100000");
    rejects(&send_with(&["--rate=-5"], None), "is not between 0 and 100000");
    rejects(&send_with(&["--rate", "fast"], None), "is not a number of Mbit/s");
    rejects(&send_with(&["--src-port", "65536"], None), "65536");
    rejects(&send_with(&["--window", "0"], None), "0 is not in 1..=4096");
    rejects(&send_with(&["--batch", "0"], None), "0 is not in 1..=256");
    rejects(&send_with(&["--link-timeout", "0"], None), "0 is not in 1..=86400");
    rejects(&send_with(&["--bogus"], None), "unexpected argument '--bogus'");
}

#[test]
fn recv_bind_unbind_info_and_verify_arguments() {
    rejects(&["recv"], "--pci");
    rejects(&["recv", "--pci", "0000:00:02.0", "--count", "0"], "0 is not in 1..");
    rejects(&["recv", "--pci", "0000:00:02.0", "--timeout", "0"], "is not between 0 and 86400 seconds");
    rejects(&["recv", "--pci", "0000:00:02.0", "--timeout", "soon"], "is not a number of seconds");
    rejects(&["recv", "--pci", "1:2:3:4.5"], "is not a PCI address");
    rejects(&["recv", "--pci", "0000:00:02.0", "--rx-ring", "12"], "not a multiple of 8 between 8 and 4096");
    rejects(&["recv", "--pci", "0000:00:02.0", "--rx-ring", "8192"], "8192 is not a multiple of 8 between 8 and 4096");
    rejects(&["recv", "--pci", "0000:00:02.0", "--rx-ring", "70000"], "'70000' is not a number of descriptors");
    rejects(&["bind"], "<NIC>");
    rejects(&["bind", "0000:00:02"], "is not a PCI address");
    rejects(&["unbind", "0000:0g:02.0"], "is not a PCI address");
    rejects(&["info", "--pci", "0000:00:02.8"], "function must be 0 to 7");
    rejects(&["verify-capture", "--pcap", "x", "--count", "1", "--size", "59"], "59 is not in 60..=1514");
    rejects(&["completions", "tcsh"], "invalid value 'tcsh'");
    rejects(&["-v", "-q", "list"], "cannot be used with");
    rejects(&[], "Usage");
}
