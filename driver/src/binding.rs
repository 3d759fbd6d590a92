//! Handing a NIC to vfio-pci and giving it back, through sysfs, safely: never
//! take a NIC that carries this machine's traffic, and remember what it was so
//! it can be restored.
//!
//! The decisions ([`check_bind`]) are pure functions of [`DeviceFacts`], which
//! [`gather`] reads from sysfs; both are unit-tested on fake trees. The writes
//! ([`bind`], [`unbind`]) follow the kernel's driver_override protocol.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::device::{find_model, supported_list};
use crate::error::{Error, GroupMember};
use crate::pci::sysfs::Sysfs;
use crate::pci::PciAddress;

/// Where `bind` remembers a NIC's previous driver and interface name
/// (`<BDF>.driver`, `<BDF>.ifname`), shared with scripts/bind-vfio.sh.
pub const DEFAULT_STATE_DIR: &str = "/run/zcnic";

/// A kernel network interface of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Its name (eth0, enp3s0...).
    pub name: String,
    /// Administratively up.
    pub up: bool,
    /// Its IP addresses.
    pub addresses: Vec<IpAddr>,
    /// Whether a route goes through it.
    pub has_route: bool,
    /// The bridge or bond it is enslaved to, if any (it then carries traffic).
    pub master: Option<String>,
}

/// Everything the bind decision needs to know about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts {
    /// The device.
    pub addr: PciAddress,
    /// PCI class code.
    pub class: u32,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Bound driver.
    pub driver: Option<String>,
    /// IOMMU group.
    pub iommu_group: Option<u32>,
    /// The other devices in its IOMMU group.
    pub group_peers: Vec<GroupMember>,
    /// Its kernel network interfaces.
    pub interfaces: Vec<InterfaceInfo>,
}

impl DeviceFacts {
    /// Whether zcnic drives it.
    pub fn supported(&self) -> bool {
        find_model(self.vendor, self.device).is_some()
    }

    /// Whether it is a network controller (class 0x02xxxx).
    pub fn is_network(&self) -> bool {
        self.class >> 16 == 0x02
    }

    /// Group peers still bound to a host driver (not vfio-pci, not none).
    pub fn peers_on_host_drivers(&self) -> Vec<GroupMember> {
        self.group_peers
            .iter()
            .filter(|m| m.driver.as_deref().is_some_and(|d| d != "vfio-pci" && d != "pcieport"))
            .cloned()
            .collect()
    }
}

/// Where a network interface's addresses and routes come from (the running
/// system, or a table in tests).
pub trait AddressSource {
    /// IP addresses of interface `name`.
    fn addresses(&self, name: &str) -> Vec<IpAddr>;
    /// Whether any route goes through interface `name`.
    fn has_route(&self, name: &str) -> bool;
}

/// The running system: getifaddrs(3) and /proc/net/route, /proc/net/ipv6_route.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemAddresses;

impl AddressSource for SystemAddresses {
    fn addresses(&self, name: &str) -> Vec<IpAddr> {
        crate::sys::host::interface_addresses().into_iter().filter(|(n, _)| n == name).map(|(_, a)| a).collect()
    }

    fn has_route(&self, name: &str) -> bool {
        let in_table = |path: &str, column: usize| {
            fs::read_to_string(path)
                .is_ok_and(|t| t.lines().any(|l| l.split_whitespace().nth(column).is_some_and(|c| c == name)))
        };
        in_table("/proc/net/route", 0) || in_table("/proc/net/ipv6_route", 9) && name != "lo"
    }
}

/// Whether an address shows the interface carries traffic: IPv6 link-local
/// addresses are configured automatically on every interface that is up and do
/// not count.
fn significant(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 != 0xfe80,
    }
}

/// Read the facts about `addr` from sysfs.
pub fn gather(sysfs: &Sysfs, addrs: &dyn AddressSource, addr: &PciAddress) -> Result<DeviceFacts, Error> {
    if !sysfs.device_dir(addr).exists() {
        return Err(Error::NoSuchDevice { addr: *addr, nics: sysfs.network_controllers() });
    }
    let read_err = |source| Error::Sysfs { what: "read the device's IDs", path: sysfs.device_dir(addr), source };
    let (vendor, device) = sysfs.ids(addr).map_err(read_err)?;
    let class = sysfs.class(addr).map_err(read_err)?;
    let iommu_group = sysfs.iommu_group(addr);
    let group_peers = iommu_group
        .map(|g| sysfs.group_members(g).into_iter().filter(|m| m.addr != *addr).collect())
        .unwrap_or_default();
    let interfaces = sysfs
        .interfaces(addr)
        .into_iter()
        .map(|name| InterfaceInfo {
            up: sysfs.interface_up(&name),
            addresses: addrs.addresses(&name),
            has_route: addrs.has_route(&name),
            master: sysfs.interface_master(&name),
            name,
        })
        .collect();
    Ok(DeviceFacts {
        addr: *addr,
        class,
        vendor,
        device,
        driver: sysfs.driver(addr),
        iommu_group,
        group_peers,
        interfaces,
    })
}

/// What binding will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindDecision {
    /// Already bound to vfio-pci: nothing to do.
    AlreadyBound,
    /// Go ahead; `warnings` are the checks that `--force` overrode.
    Proceed {
        /// What was overridden.
        warnings: Vec<String>,
    },
}

/// Decide whether `facts` may be bound to vfio-pci. Refused unless `force`:
/// a device that is not a network controller or not supported by zcnic; one
/// whose interface is up with an address or a route (it carries traffic:
/// taking it could cut this machine off); one whose IOMMU group holds devices
/// still bound to host drivers (VFIO could not use it anyway).
pub fn check_bind(facts: &DeviceFacts, force: bool) -> Result<BindDecision, Error> {
    if facts.driver.as_deref() == Some("vfio-pci") {
        return Ok(BindDecision::AlreadyBound);
    }
    if facts.iommu_group.is_none() {
        return Err(Error::NoIommuGroup { addr: facts.addr });
    }
    let mut refusals: Vec<Error> = Vec::new();
    if !facts.is_network() {
        refusals.push(Error::NotANetworkDevice { addr: facts.addr, class: facts.class });
    } else if !facts.supported() {
        refusals.push(Error::UnsupportedDevice {
            addr: facts.addr,
            vendor: facts.vendor,
            device: facts.device,
            supported: supported_list(),
        });
    }
    for i in &facts.interfaces {
        let addresses: Vec<String> = i.addresses.iter().filter(|a| significant(a)).map(|a| a.to_string()).collect();
        if i.up && (!addresses.is_empty() || i.has_route) {
            refusals.push(Error::InterfaceInUse {
                addr: facts.addr,
                iface: i.name.clone(),
                addresses,
                has_route: i.has_route,
            });
        }
    }
    for i in facts.interfaces.iter().filter(|i| i.up) {
        if let Some(master) = &i.master {
            refusals.push(Error::InterfaceInUse {
                addr: facts.addr,
                iface: format!("{} (a port of {master})", i.name),
                addresses: Vec::new(),
                has_route: false,
            });
        }
    }
    let busy = facts.peers_on_host_drivers();
    if !busy.is_empty() {
        refusals.push(Error::GroupShared { addr: facts.addr, group: facts.iommu_group.unwrap_or(0), peers: busy });
    }
    match (refusals.is_empty(), force) {
        (true, _) => Ok(BindDecision::Proceed { warnings: Vec::new() }),
        (false, true) => Ok(BindDecision::Proceed { warnings: refusals.iter().map(|e| e.to_string()).collect() }),
        (false, false) => Err(refusals.remove(0)),
    }
}

/// What a NIC was before `bind`, kept in the state directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remembered {
    /// Its previous kernel driver.
    pub driver: Option<String>,
    /// Its previous interface name.
    pub ifname: Option<String>,
}

/// The state directory (normally /run/zcnic).
#[derive(Debug, Clone)]
pub struct StateDir(pub PathBuf);

impl Default for StateDir {
    fn default() -> Self {
        StateDir(PathBuf::from(DEFAULT_STATE_DIR))
    }
}

impl StateDir {
    fn file(&self, addr: &PciAddress, what: &str) -> PathBuf {
        self.0.join(format!("{addr}.{what}"))
    }

    /// Remember `r` for `addr`.
    pub fn save(&self, addr: &PciAddress, r: &Remembered) -> io::Result<()> {
        fs::create_dir_all(&self.0)?;
        for (what, value) in [("driver", &r.driver), ("ifname", &r.ifname)] {
            match value {
                Some(v) => fs::write(self.file(addr, what), format!("{v}\n"))?,
                None => drop(fs::remove_file(self.file(addr, what))),
            }
        }
        Ok(())
    }

    /// What was remembered for `addr`.
    pub fn load(&self, addr: &PciAddress) -> Remembered {
        let read = |what| {
            fs::read_to_string(self.file(addr, what)).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
        };
        Remembered { driver: read("driver"), ifname: read("ifname") }
    }

    /// Forget `addr`.
    pub fn forget(&self, addr: &PciAddress) {
        let _ = fs::remove_file(self.file(addr, "driver"));
        let _ = fs::remove_file(self.file(addr, "ifname"));
    }

    /// The NIC that had interface `name` before it was bound, if any.
    pub fn find_ifname(&self, name: &str) -> Option<PciAddress> {
        fs::read_dir(&self.0).ok()?.flatten().find_map(|e| {
            let file = e.file_name();
            let bdf = file.to_str()?.strip_suffix(".ifname")?;
            let content = fs::read_to_string(e.path()).ok()?;
            (content.trim() == name).then(|| bdf.parse().ok()).flatten()
        })
    }
}

/// Turn a NIC argument into a PCI address: a PCI address as is (interface
/// names cannot contain ':'), else an interface name that `bind` remembered,
/// else a live interface's device.
pub fn resolve_nic(arg: &str, sysfs: &Sysfs, state: &StateDir) -> Result<PciAddress, Error> {
    if arg.contains(':') {
        return Ok(arg.parse()?);
    }
    state
        .find_ifname(arg)
        .or_else(|| sysfs.interface_device(arg))
        .ok_or_else(|| Error::UnknownNic { name: arg.to_string() })
}

/// Check a NIC argument's form (for command-line parsers): with a ':' it must
/// be a well-formed PCI address; without, a possible interface name.
pub fn check_nic_arg(s: &str) -> Result<String, String> {
    if s.contains(':') {
        return s.parse::<PciAddress>().map(|a| a.to_string()).map_err(|e| e.to_string());
    }
    let valid_ifname =
        !s.is_empty() && s.len() < 16 && s != "." && s != ".." && !s.contains(|c: char| c == '/' || c.is_whitespace());
    if valid_ifname {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is neither a PCI address (like 0000:03:00.0) nor an interface name"))
    }
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    fs::write(path, value).map_err(|source| Error::Sysfs { what: "write to sysfs", path: path.to_path_buf(), source })
}

fn wait_for_driver(sysfs: &Sysfs, addr: &PciAddress, want: Option<&str>) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if sysfs.driver(addr).as_deref() == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Load vfio-pci if it is not there yet.
pub fn ensure_vfio_pci(sysfs: &Sysfs) -> Result<(), Error> {
    if sysfs.vfio_pci_loaded() {
        return Ok(());
    }
    let ok = std::process::Command::new("modprobe").arg("vfio-pci").status().is_ok_and(|s| s.success());
    if ok && sysfs.vfio_pci_loaded() {
        log::info!("loaded vfio-pci");
        Ok(())
    } else {
        Err(Error::VfioNotLoaded { addr: None })
    }
}

/// Bind the device of `facts` to vfio-pci, after [`check_bind`] said to
/// proceed: remember its driver and interface, set driver_override, unbind
/// it, reprobe. Undone if vfio-pci does not take it.
pub fn bind(sysfs: &Sysfs, state: &StateDir, facts: &DeviceFacts) -> Result<(), Error> {
    let addr = facts.addr;
    ensure_vfio_pci(sysfs)?;
    let remembered =
        Remembered { driver: facts.driver.clone(), ifname: facts.interfaces.first().map(|i| i.name.clone()) };
    state.save(&addr, &remembered).map_err(|source| Error::Sysfs {
        what: "remember the NIC's driver",
        path: state.0.clone(),
        source,
    })?;
    let dir = sysfs.device_dir(&addr);
    write(&dir.join("driver_override"), "vfio-pci")?;
    if facts.driver.is_some() {
        write(&dir.join("driver/unbind"), &addr.to_string())?;
    }
    write(&sysfs.root().join("bus/pci/drivers_probe"), &addr.to_string())?;
    if !wait_for_driver(sysfs, &addr, Some("vfio-pci")) {
        // Put it back as it was.
        let _ = write(&dir.join("driver_override"), "\n");
        let _ = write(&sysfs.root().join("bus/pci/drivers_probe"), &addr.to_string());
        state.forget(&addr);
        return Err(Error::BindFailed { addr, why: "vfio-pci did not take the device (see dmesg)".into() });
    }
    Ok(())
}

/// What `unbind` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnbindOutcome {
    /// It was not bound to vfio-pci.
    NotBound,
    /// Given back; the driver that took it, if any.
    Restored(Option<String>),
}

/// Give a NIC bound to vfio-pci back to the driver it had before `bind` (or to
/// whichever driver the kernel picks).
pub fn unbind(sysfs: &Sysfs, state: &StateDir, addr: &PciAddress) -> Result<UnbindOutcome, Error> {
    if !sysfs.device_dir(addr).exists() {
        return Err(Error::NoSuchDevice { addr: *addr, nics: sysfs.network_controllers() });
    }
    if sysfs.driver(addr).as_deref() != Some("vfio-pci") {
        return Ok(UnbindOutcome::NotBound);
    }
    let remembered = state.load(addr);
    let dir = sysfs.device_dir(addr);
    write(&dir.join("driver_override"), "\n")?;
    write(&dir.join("driver/unbind"), &addr.to_string())?;
    match &remembered.driver {
        Some(d) if sysfs.root().join("bus/pci/drivers").join(d).is_dir() => {
            write(&sysfs.root().join("bus/pci/drivers").join(d).join("bind"), &addr.to_string())?;
        }
        Some(d) => {
            // Its module may have been unloaded meanwhile.
            let _ = std::process::Command::new("modprobe").arg(d).status();
            write(&sysfs.root().join("bus/pci/drivers_probe"), &addr.to_string())?;
        }
        None => write(&sysfs.root().join("bus/pci/drivers_probe"), &addr.to_string())?,
    }
    let _ = wait_for_driver(sysfs, addr, remembered.driver.as_deref());
    state.forget(addr);
    Ok(UnbindOutcome::Restored(sysfs.driver(addr)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::symlink;

    fn addr(s: &str) -> PciAddress {
        s.parse().unwrap()
    }

    fn facts() -> DeviceFacts {
        DeviceFacts {
            addr: addr("0000:03:00.0"),
            class: 0x020000,
            vendor: 0x8086,
            device: 0x10d3,
            driver: Some("e1000e".into()),
            iommu_group: Some(7),
            group_peers: vec![],
            interfaces: vec![InterfaceInfo {
                name: "eth1".into(),
                up: false,
                addresses: vec![],
                has_route: false,
                master: None,
            }],
        }
    }

    #[test]
    fn a_quiet_supported_nic_may_be_bound() {
        assert_eq!(check_bind(&facts(), false).unwrap(), BindDecision::Proceed { warnings: vec![] });
    }

    #[test]
    fn binding_is_idempotent() {
        let mut f = facts();
        f.driver = Some("vfio-pci".into());
        assert_eq!(check_bind(&f, false).unwrap(), BindDecision::AlreadyBound);
    }

    #[test]
    fn an_interface_up_with_an_address_is_refused_by_name_unless_forced() {
        let mut f = facts();
        f.interfaces[0].up = true;
        f.interfaces[0].addresses = vec!["192.0.2.7".parse().unwrap()];
        let e = check_bind(&f, false).unwrap_err().to_string();
        assert!(e.contains("eth1") && e.contains("192.0.2.7") && e.contains("ip link set eth1 down"), "{e}");
        match check_bind(&f, true).unwrap() {
            BindDecision::Proceed { warnings } => assert_eq!(warnings.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_up_interface_with_only_link_local_ipv6_is_not_in_use_but_one_with_a_route_is() {
        let mut f = facts();
        f.interfaces[0].up = true;
        f.interfaces[0].addresses = vec!["fe80::1".parse().unwrap()];
        assert!(check_bind(&f, false).is_ok());
        f.interfaces[0].has_route = true;
        assert!(check_bind(&f, false).unwrap_err().to_string().contains("route"));
        f.interfaces[0].up = false;
        assert!(check_bind(&f, false).is_ok(), "a down interface carries nothing");
        f.interfaces[0] = InterfaceInfo { up: true, master: Some("br0".into()), ..f.interfaces[0].clone() };
        f.interfaces[0].has_route = false;
        assert!(check_bind(&f, false).unwrap_err().to_string().contains("a port of br0"));
    }

    #[test]
    fn group_peers_on_host_drivers_are_named() {
        let mut f = facts();
        f.group_peers = vec![
            GroupMember { addr: addr("0000:03:00.1"), driver: Some("e1000e".into()) },
            GroupMember { addr: addr("0000:00:1c.0"), driver: Some("pcieport".into()) },
            GroupMember { addr: addr("0000:03:00.2"), driver: None },
        ];
        let e = check_bind(&f, false).unwrap_err().to_string();
        assert!(e.contains("0000:03:00.1 (e1000e)") && !e.contains("1c.0") && !e.contains("03:00.2"), "{e}");
    }

    #[test]
    fn unsupported_and_non_network_devices_need_force() {
        let mut f = facts();
        f.device = 0x1533;
        assert!(check_bind(&f, false).unwrap_err().to_string().contains("does not drive"));
        assert!(check_bind(&f, true).is_ok());
        f.class = 0x010601;
        assert!(check_bind(&f, false).unwrap_err().to_string().contains("not a network controller"));
    }

    struct Table(HashMap<String, Vec<IpAddr>>);
    impl AddressSource for Table {
        fn addresses(&self, name: &str) -> Vec<IpAddr> {
            self.0.get(name).cloned().unwrap_or_default()
        }
        fn has_route(&self, _: &str) -> bool {
            false
        }
    }

    #[test]
    fn facts_are_gathered_from_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let dev = root.join("devices/pci0000:00/0000:00:03.0");
        fs::create_dir_all(dev.join("net/eth0")).unwrap();
        fs::write(dev.join("vendor"), "0x8086\n").unwrap();
        fs::write(dev.join("device"), "0x100e\n").unwrap();
        fs::write(dev.join("class"), "0x020000\n").unwrap();
        fs::create_dir_all(root.join("bus/pci/devices")).unwrap();
        fs::create_dir_all(root.join("bus/pci/drivers/e1000")).unwrap();
        symlink(&dev, root.join("bus/pci/devices/0000:00:03.0")).unwrap();
        symlink(root.join("bus/pci/drivers/e1000"), dev.join("driver")).unwrap();
        let g = root.join("kernel/iommu_groups/4");
        fs::create_dir_all(g.join("devices")).unwrap();
        symlink(&g, dev.join("iommu_group")).unwrap();
        symlink(&dev, g.join("devices/0000:00:03.0")).unwrap();
        fs::create_dir_all(root.join("class/net/eth0")).unwrap();
        fs::write(root.join("class/net/eth0/flags"), "0x1003\n").unwrap();
        symlink(&dev, root.join("class/net/eth0/device")).unwrap();

        let table = Table(HashMap::from([("eth0".to_string(), vec!["10.1.2.3".parse().unwrap()])]));
        let sysfs = Sysfs::with_root(root);
        let f = gather(&sysfs, &table, &addr("0000:00:03.0")).unwrap();
        assert_eq!(f.driver.as_deref(), Some("e1000"));
        assert_eq!(f.iommu_group, Some(4));
        assert!(f.group_peers.is_empty());
        assert_eq!(
            f.interfaces,
            vec![InterfaceInfo {
                name: "eth0".into(),
                up: true,
                addresses: vec!["10.1.2.3".parse().unwrap()],
                has_route: false,
                master: None
            }]
        );
        assert!(check_bind(&f, false).unwrap_err().to_string().contains("eth0"));
        // A live interface name resolves to its device.
        let state = StateDir(root.join("state"));
        assert_eq!(resolve_nic("eth0", &sysfs, &state).unwrap(), addr("0000:00:03.0"));
    }

    #[test]
    fn remembered_names_resolve_and_malformed_addresses_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir(dir.path().join("run"));
        let a = addr("0000:00:03.0");
        state.save(&a, &Remembered { driver: Some("e1000".into()), ifname: Some("eth1".into()) }).unwrap();
        assert_eq!(state.load(&a).driver.as_deref(), Some("e1000"));
        let sysfs = Sysfs::with_root(dir.path());
        assert_eq!(resolve_nic("eth1", &sysfs, &state).unwrap(), a);
        assert_eq!(resolve_nic("0000:00:03.0", &sysfs, &state).unwrap(), a);
        assert!(resolve_nic("00:03", &sysfs, &state).unwrap_err().to_string().contains("not a PCI address"));
        assert!(resolve_nic("eth9", &sysfs, &state).unwrap_err().to_string().contains("eth9"));
        state.forget(&a);
        assert!(resolve_nic("eth1", &sysfs, &state).is_err());
    }
}
