//! What sysfs says about a PCI device, and the checks made before VFIO is
//! touched, so that each way a device can be unusable gets its own error.
//!
//! All paths hang off a root (normally `/sys`) so the decisions can be tested
//! on a fake tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{PciAddress, PciId};
use crate::error::{Error, GroupMember, NetworkController};

/// A view of sysfs rooted at `root`.
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs { root: PathBuf::from("/sys") }
    }
}

/// A device that passed every check sysfs can make.
#[derive(Debug, Clone)]
pub struct UsableDevice {
    /// Its vendor and device ID (one zcnic drives).
    pub id: PciId,
    /// Its IOMMU group number (`/dev/vfio/N`).
    pub iommu_group: u32,
}

impl Sysfs {
    /// A view of sysfs under another root (for tests).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        Sysfs { root: root.into() }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn device_dir(&self, addr: &PciAddress) -> PathBuf {
        self.root.join("bus/pci/devices").join(addr.to_string())
    }

    fn read_hex(path: &Path) -> io::Result<u32> {
        let text = fs::read_to_string(path)?;
        let t = text.trim();
        let t = t.strip_prefix("0x").unwrap_or(t);
        u32::from_str_radix(t, 16).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    fn link_name(path: &Path) -> Option<String> {
        let target = fs::read_link(path).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// Vendor and device ID of a PCI function.
    pub fn ids(&self, addr: &PciAddress) -> io::Result<(u16, u16)> {
        let dir = self.device_dir(addr);
        let vendor = Self::read_hex(&dir.join("vendor"))?;
        let device = Self::read_hex(&dir.join("device"))?;
        Ok((vendor as u16, device as u16))
    }

    /// The device's PCI class code (0x020000 for an Ethernet controller).
    pub fn class(&self, addr: &PciAddress) -> io::Result<u32> {
        Self::read_hex(&self.device_dir(addr).join("class"))
    }

    /// The kernel network interfaces the device has (only while a kernel NIC driver owns it).
    pub fn interfaces(&self, addr: &PciAddress) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.device_dir(addr).join("net"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .collect();
        names.sort();
        names
    }

    /// Whether interface `name` is administratively up (IFF_UP).
    pub fn interface_up(&self, name: &str) -> bool {
        Self::read_hex(&self.root.join("class/net").join(name).join("flags")).is_ok_and(|f| f & 1 != 0)
    }

    /// The bridge or bond interface `name` is enslaved to, if any.
    pub fn interface_master(&self, name: &str) -> Option<String> {
        Self::link_name(&self.root.join("class/net").join(name).join("master"))
    }

    /// The PCI device behind interface `name`, if it is a PCI device.
    pub fn interface_device(&self, name: &str) -> Option<PciAddress> {
        Self::link_name(&self.root.join("class/net").join(name).join("device"))?.parse().ok()
    }

    /// The kernel driver bound to the device, if any.
    pub fn driver(&self, addr: &PciAddress) -> Option<String> {
        Self::link_name(&self.device_dir(addr).join("driver"))
    }

    /// The device's IOMMU group, if the IOMMU is on.
    pub fn iommu_group(&self, addr: &PciAddress) -> Option<u32> {
        Self::link_name(&self.device_dir(addr).join("iommu_group"))?.parse().ok()
    }

    /// Whether the vfio-pci driver is registered (its module is loaded).
    pub fn vfio_pci_loaded(&self) -> bool {
        self.root.join("bus/pci/drivers/vfio-pci").is_dir()
    }

    /// Every device in IOMMU group `group`, with its driver.
    pub fn group_members(&self, group: u32) -> Vec<GroupMember> {
        let dir = self.root.join("kernel/iommu_groups").join(group.to_string()).join("devices");
        let mut members: Vec<GroupMember> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<PciAddress>().ok())
            .map(|addr| GroupMember { addr, driver: self.driver(&addr) })
            .collect();
        members.sort_by_key(|m| m.addr);
        members
    }

    /// Every PCI network controller (class 0x02xxxx), for "did you mean" messages.
    pub fn network_controllers(&self) -> Vec<NetworkController> {
        let dir = self.root.join("bus/pci/devices");
        let mut nics: Vec<NetworkController> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<PciAddress>().ok())
            .filter(|addr| Self::read_hex(&self.device_dir(addr).join("class")).is_ok_and(|c| c >> 16 == 0x02))
            .filter_map(|addr| {
                let (vendor, device) = self.ids(&addr).ok()?;
                Some(NetworkController { addr, vendor, device, driver: self.driver(&addr) })
            })
            .collect();
        nics.sort_by_key(|n| n.addr);
        nics
    }

    /// Everything that can be checked before opening VFIO, in the order a
    /// user would fix it: the device exists, zcnic supports it, vfio-pci is
    /// loaded and owns it, and it has an IOMMU group. Which devices zcnic
    /// drives is the device layer's knowledge: `is_supported` tells, and
    /// `supported_list` names them for the error message.
    pub(crate) fn check_usable(
        &self,
        addr: &PciAddress,
        is_supported: &dyn Fn(PciId) -> bool,
        supported_list: &dyn Fn() -> String,
    ) -> Result<UsableDevice, Error> {
        if !self.device_dir(addr).exists() {
            return Err(Error::NoSuchDevice { addr: *addr, nics: self.network_controllers() });
        }
        let (vendor, device) = self.ids(addr).map_err(|source| Error::Sysfs {
            what: "read the device's vendor and device IDs",
            path: self.device_dir(addr),
            source,
        })?;
        if let Some(class) = self.class(addr).ok().filter(|c| c >> 16 != 0x02) {
            return Err(Error::NotANetworkDevice { addr: *addr, class });
        }
        let id = PciId { vendor, device };
        if !is_supported(id) {
            return Err(Error::UnsupportedDevice { addr: *addr, vendor, device, supported: supported_list() });
        }
        let driver = self.driver(addr);
        if driver.as_deref() != Some("vfio-pci") {
            if !self.vfio_pci_loaded() {
                return Err(Error::VfioNotLoaded { addr: Some(*addr) });
            }
            return Err(Error::NotBoundToVfio { addr: *addr, driver });
        }
        let iommu_group = self.iommu_group(addr).ok_or(Error::NoIommuGroup { addr: *addr })?;
        Ok(UsableDevice { id, iommu_group })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Builds a fake /sys with the links and files the checks read.
    struct FakeSys {
        dir: tempfile::TempDir,
    }

    impl FakeSys {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            fs::create_dir_all(dir.path().join("bus/pci/devices")).unwrap();
            fs::create_dir_all(dir.path().join("bus/pci/drivers")).unwrap();
            fs::create_dir_all(dir.path().join("kernel/iommu_groups")).unwrap();
            FakeSys { dir }
        }
        fn root(&self) -> &Path {
            self.dir.path()
        }
        fn driver_loaded(&self, name: &str) {
            fs::create_dir_all(self.root().join("bus/pci/drivers").join(name)).unwrap();
        }
        fn device(&self, addr: &str, vendor: u16, device: u16, class: u32, driver: Option<&str>, group: Option<u32>) {
            let d = self.root().join("devices/pci0000:00").join(addr);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("vendor"), format!("0x{vendor:04x}\n")).unwrap();
            fs::write(d.join("device"), format!("0x{device:04x}\n")).unwrap();
            fs::write(d.join("class"), format!("0x{class:06x}\n")).unwrap();
            symlink(&d, self.root().join("bus/pci/devices").join(addr)).unwrap();
            if let Some(drv) = driver {
                self.driver_loaded(drv);
                symlink(self.root().join("bus/pci/drivers").join(drv), d.join("driver")).unwrap();
            }
            if let Some(g) = group {
                let gdir = self.root().join("kernel/iommu_groups").join(g.to_string());
                fs::create_dir_all(gdir.join("devices")).unwrap();
                symlink(&gdir, d.join("iommu_group")).unwrap();
                symlink(&d, gdir.join("devices").join(addr)).unwrap();
            }
        }
        fn sysfs(&self) -> Sysfs {
            Sysfs::with_root(self.root())
        }
    }

    fn addr(s: &str) -> PciAddress {
        s.parse().unwrap()
    }

    /// What the device layer would say: the two e1000-family IDs.
    fn e1000s(id: PciId) -> bool {
        id.vendor == 0x8086 && (id.device == 0x100e || id.device == 0x10d3)
    }

    fn e1000_list() -> String {
        "8086:100e (82540EM, e1000), 8086:10d3 (82574L, e1000e)".into()
    }

    impl Sysfs {
        fn check(&self, a: &PciAddress) -> Result<UsableDevice, Error> {
            self.check_usable(a, &e1000s, &e1000_list)
        }
    }

    #[test]
    fn a_bound_supported_nic_passes() {
        let sys = FakeSys::new();
        sys.device("0000:00:02.0", 0x8086, 0x100e, 0x020000, Some("vfio-pci"), Some(3));
        let ok = sys.sysfs().check(&addr("0000:00:02.0")).unwrap();
        assert_eq!(ok.iommu_group, 3);
        assert_eq!(ok.id, PciId { vendor: 0x8086, device: 0x100e });
    }

    #[test]
    fn a_missing_device_names_the_nics_that_exist() {
        let sys = FakeSys::new();
        sys.device("0000:00:02.0", 0x8086, 0x10d3, 0x020000, None, Some(3));
        sys.device("0000:00:1f.2", 0x8086, 0x2922, 0x010601, Some("ahci"), Some(4));
        let e = sys.sysfs().check(&addr("0000:00:09.0")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::NoSuchDevice { .. }), "{msg}");
        assert!(msg.contains("0000:00:09.0") && msg.contains("0000:00:02.0 8086:10d3"), "{msg}");
        assert!(!msg.contains("1f.2"), "a SATA controller is not a NIC: {msg}");
    }

    #[test]
    fn an_unsupported_device_is_refused_naming_what_is_supported() {
        let sys = FakeSys::new();
        sys.device("0000:00:03.0", 0x8086, 0x1533, 0x020000, Some("vfio-pci"), Some(3));
        let msg = sys.sysfs().check(&addr("0000:00:03.0")).unwrap_err().to_string();
        assert!(msg.contains("8086:1533") && msg.contains("8086:100e") && msg.contains("8086:10d3"), "{msg}");
    }

    #[test]
    fn a_device_that_is_not_a_nic_is_named_as_such() {
        let sys = FakeSys::new();
        sys.device("0000:00:1f.3", 0x8086, 0x2930, 0x0c0500, None, Some(3));
        let msg = sys.sysfs().check(&addr("0000:00:1f.3")).unwrap_err().to_string();
        assert!(msg.contains("not a network controller (PCI class 0c0500)"), "{msg}");
    }

    #[test]
    fn an_unbound_nic_is_named_with_its_driver() {
        let sys = FakeSys::new();
        sys.driver_loaded("vfio-pci");
        sys.device("0000:00:02.0", 0x8086, 0x100e, 0x020000, Some("e1000"), Some(3));
        let e = sys.sysfs().check(&addr("0000:00:02.0")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::NotBoundToVfio { .. }));
        assert!(msg.contains("not bound to vfio-pci (its driver is e1000)"), "{msg}");
    }

    #[test]
    fn without_vfio_pci_loaded_the_error_says_modprobe() {
        let sys = FakeSys::new();
        sys.device("0000:00:02.0", 0x8086, 0x100e, 0x020000, None, Some(3));
        let msg = sys.sysfs().check(&addr("0000:00:02.0")).unwrap_err().to_string();
        assert!(msg.contains("modprobe vfio-pci"), "{msg}");
    }

    #[test]
    fn no_iommu_group_means_the_iommu_is_off() {
        let sys = FakeSys::new();
        sys.device("0000:00:02.0", 0x8086, 0x100e, 0x020000, Some("vfio-pci"), None);
        let msg = sys.sysfs().check(&addr("0000:00:02.0")).unwrap_err().to_string();
        assert!(msg.contains("intel_iommu=on"), "{msg}");
    }

    #[test]
    fn group_members_are_listed_with_their_drivers() {
        let sys = FakeSys::new();
        sys.device("0000:00:02.0", 0x8086, 0x100e, 0x020000, Some("vfio-pci"), Some(5));
        sys.device("0000:00:02.1", 0x8086, 0x1234, 0x0c0330, Some("xhci_hcd"), Some(5));
        let m = sys.sysfs().group_members(5);
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].driver.as_deref(), Some("xhci_hcd"));
    }
}
