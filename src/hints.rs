//! What to do about a driver error: the driver's messages state facts; the
//! command line adds the advice that names its own commands and flags.

use zcnic_driver::Error;

/// The advice for `e`, if the command line has any.
pub fn hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::NotBoundToVfio { addr, .. } => format!(
            "bind it with `zcnic bind {addr}`, or by hand: `modprobe vfio-pci; \
             echo vfio-pci > /sys/bus/pci/devices/{addr}/driver_override; \
             echo {addr} > /sys/bus/pci/devices/{addr}/driver/unbind; echo {addr} > /sys/bus/pci/drivers_probe`"
        ),
        Error::UnsupportedDevice { .. } | Error::NotANetworkDevice { .. } => {
            "`zcnic bind --force` binds it anyway (zcnic itself will still refuse to drive it)".into()
        }
        Error::InterfaceInUse { .. } | Error::GroupShared { .. } => {
            "`zcnic bind --force` goes ahead anyway, if you are sure".into()
        }
        Error::UnknownNic { .. } | Error::NoSuchDevice { .. } => "`zcnic list` shows the NICs".into(),
        Error::LinkLost { .. } => "--link-timeout waits longer for the link".into(),
        Error::ArpNoReply { .. } => "give the destination's MAC with --dst-mac to skip ARP".into(),
        Error::TxTimeout { .. } => {
            "--stall-timeout waits longer; --recoveries sets how often a hung NIC is reset".into()
        }
        Error::GroupBusy { .. } => "stop the other zcnic (or whatever holds the group) first".into(),
        _ => return None,
    })
}

/// The whole report for an error, on one line: its chain of causes, then
/// the hint, if any.
pub fn explain(e: &anyhow::Error) -> String {
    let hint = e.chain().find_map(|c| c.downcast_ref::<Error>()).and_then(hint);
    match hint {
        Some(h) => format!("{e:#}; {h}"),
        None => format!("{e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_cli_and_the_messages_do_not() {
        let addr = "0000:00:02.0".parse().unwrap();
        let e = Error::NotBoundToVfio { addr, driver: Some("e1000".into()) };
        assert!(!e.to_string().contains("zcnic"), "{e}");
        let report = explain(&anyhow::Error::new(e).context("cannot bring up the NIC"));
        assert!(report.contains("its driver is e1000") && report.contains("zcnic bind 0000:00:02.0"), "{report}");
        assert!(report.contains("driver_override") && !report.contains('\n'), "{report}");
        let arp = Error::ArpNoReply { ip: "10.0.0.2".parse().unwrap(), tries: 3, secs: 3.0 };
        assert!(!arp.to_string().contains("--dst-mac"));
        assert!(hint(&arp).unwrap().contains("--dst-mac"));
        assert_eq!(hint(&Error::Stopped), None);
    }
}
