//! `zcnic list`, `zcnic bind`, `zcnic unbind`: find a NIC, hand it to
//! vfio-pci, give it back. The decisions live in the driver crate
//! (`zcnic_driver::binding`); this is what the user sees of them.

use std::ffi::CString;

use anyhow::Context;
use serde_json::json;
use zcnic_driver::binding::{self, BindDecision, DeviceFacts, StateDir, SystemAddresses, UnbindOutcome};
use zcnic_driver::pci::sysfs::Sysfs;

fn names(vendor: u16, device: u16) -> (String, String) {
    match pci_ids::Device::from_vid_pid(vendor, device) {
        Some(d) => (d.vendor().name().to_string(), d.name().to_string()),
        None => {
            let v = pci_ids::Vendors::iter().find(|v| v.id() == vendor).map_or("unknown vendor", |v| v.name());
            (v.to_string(), "unknown device".to_string())
        }
    }
}

fn dev_vfio_accessible(group: u32) -> bool {
    let path = CString::new(format!("/dev/vfio/{group}")).expect("no NUL in the path");
    // SAFETY: access(2) reads a NUL-terminated path.
    unsafe { libc::access(path.as_ptr(), libc::R_OK | libc::W_OK) == 0 }
}

/// Why a NIC is not ready for zcnic, or None if it is.
fn not_ready(f: &DeviceFacts) -> Option<String> {
    if !f.supported() {
        return Some("not supported".into());
    }
    if f.driver.as_deref() != Some("vfio-pci") {
        return Some(format!("not bound to vfio-pci: run `zcnic bind {}`", f.addr));
    }
    let group = f.iommu_group?;
    let busy = f.peers_on_host_drivers();
    if !busy.is_empty() {
        let list: Vec<String> = busy.iter().map(|m| m.addr.to_string()).collect();
        return Some(format!("IOMMU group {group} not viable ({} on host drivers)", list.join(", ")));
    }
    if !dev_vfio_accessible(group) {
        return Some(format!("no read/write access to /dev/vfio/{group}"));
    }
    None
}

/// `zcnic list`.
pub fn list(as_json: bool) -> anyhow::Result<()> {
    let sysfs = Sysfs::default();
    let mut rows = Vec::new();
    for nic in sysfs.network_controllers() {
        let f = binding::gather(&sysfs, &SystemAddresses, &nic.addr)?;
        rows.push(f);
    }
    if as_json {
        let out: Vec<_> = rows
            .iter()
            .map(|f| {
                let (vendor_name, device_name) = names(f.vendor, f.device);
                json!({
                    "pci": f.addr.to_string(),
                    "vendor_id": format!("{:04x}", f.vendor),
                    "device_id": format!("{:04x}", f.device),
                    "vendor": vendor_name,
                    "device": device_name,
                    "driver": f.driver,
                    "interfaces": f.interfaces.iter().map(|i| json!({
                        "name": i.name,
                        "up": i.up,
                        "addresses": i.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        "has_route": i.has_route,
                    })).collect::<Vec<_>>(),
                    "iommu_group": f.iommu_group,
                    "supported": f.supported(),
                    "ready": not_ready(f).is_none(),
                    "not_ready_because": not_ready(f),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no PCI network controllers found");
        return Ok(());
    }
    for f in &rows {
        let (vendor_name, device_name) = names(f.vendor, f.device);
        let iface = if f.interfaces.is_empty() {
            "-".to_string()
        } else {
            f.interfaces
                .iter()
                .map(|i| {
                    let addrs: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
                    format!(
                        "{} ({}{})",
                        i.name,
                        if i.up { "up" } else { "down" },
                        if addrs.is_empty() { String::new() } else { format!(", {}", addrs.join(" ")) }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("{}  {:04x}:{:04x}  {vendor_name} {device_name}", f.addr, f.vendor, f.device);
        println!(
            "    driver: {}   interface: {iface}   IOMMU group: {}",
            f.driver.as_deref().unwrap_or("none"),
            f.iommu_group.map_or("none".into(), |g| g.to_string())
        );
        let status = match (f.supported(), not_ready(f)) {
            (false, _) => "not supported".to_string(),
            (true, None) => "supported, ready".to_string(),
            (true, Some(why)) => format!("supported, not ready ({why})"),
        };
        println!("    zcnic: {status}");
    }
    Ok(())
}

/// `zcnic bind`.
pub fn bind(nic: &str, force: bool) -> anyhow::Result<()> {
    let sysfs = Sysfs::default();
    let state = StateDir::default();
    let addr = binding::resolve_nic(nic, &sysfs, &state)?;
    let facts = binding::gather(&sysfs, &SystemAddresses, &addr)?;
    let decision = binding::check_bind(&facts, force)?;
    match decision {
        BindDecision::AlreadyBound => {
            println!("{addr} is already bound to vfio-pci; nothing to do");
            Ok(())
        }
        BindDecision::Proceed { warnings } => {
            for w in warnings {
                eprintln!("zcnic: warning (--force given, going ahead anyway): {w}");
            }
            binding::bind(&sysfs, &state, &facts).with_context(|| format!("binding {addr}"))?;
            let was = facts.driver.as_deref().unwrap_or("no driver");
            let iface = facts.interfaces.first().map(|i| format!(", interface {}", i.name)).unwrap_or_default();
            let group = facts.iommu_group.map(|g| format!("; use /dev/vfio/{g}")).unwrap_or_default();
            println!("{addr}: bound to vfio-pci (was {was}{iface}, remembered for `zcnic unbind`){group}");
            Ok(())
        }
    }
}

/// `zcnic unbind`.
pub fn unbind(nic: &str) -> anyhow::Result<()> {
    let sysfs = Sysfs::default();
    let state = StateDir::default();
    let addr = binding::resolve_nic(nic, &sysfs, &state)?;
    match binding::unbind(&sysfs, &state, &addr)? {
        UnbindOutcome::NotBound => println!("{addr} is not bound to vfio-pci; nothing to do"),
        UnbindOutcome::Restored(Some(d)) => {
            let ifaces = sysfs.interfaces(&addr);
            let iface = if ifaces.is_empty() { String::new() } else { format!(", interface {}", ifaces.join(", ")) };
            println!("{addr}: given back to {d}{iface}");
        }
        UnbindOutcome::Restored(None) => println!("{addr}: released from vfio-pci; no kernel driver took it"),
    }
    Ok(())
}
