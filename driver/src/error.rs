//! One error type for the driver, one variant per thing a user can act on.
//! Each message says what is wrong and what to do about it.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::pci::address::{PciAddress, PciAddressError};

/// A PCI network controller found in sysfs (for "did you mean" messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkController {
    /// Its address.
    pub addr: PciAddress,
    /// PCI vendor ID.
    pub vendor: u16,
    /// PCI device ID.
    pub device: u16,
    /// Bound kernel driver, if any.
    pub driver: Option<String>,
}

/// A device in an IOMMU group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Its address.
    pub addr: PciAddress,
    /// Bound kernel driver, if any.
    pub driver: Option<String>,
}

struct List<'a, T>(&'a [T]);

impl fmt::Display for List<'_, NetworkController> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "this machine has no PCI network controller");
        }
        write!(f, "network controllers on this machine:")?;
        for n in self.0 {
            let drv = n.driver.as_deref().unwrap_or("no driver");
            write!(f, " {} {:04x}:{:04x} ({drv});", n.addr, n.vendor, n.device)?;
        }
        Ok(())
    }
}

impl fmt::Display for List<'_, GroupMember> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{} ({})", m.addr, m.driver.as_deref().unwrap_or("no driver"))?;
        }
        Ok(())
    }
}

fn describe_open_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied (check the file's mode and owner)".into(),
        _ => e.to_string(),
    }
}

fn describe_phy(id: Option<u32>, control: Option<u16>, status: Option<u16>) -> String {
    let (Some(id), Some(control), Some(status)) = (id, control, status) else {
        return "the PHY did not answer on MDIO".into();
    };
    let mut facts = vec![format!("PHY {id:#010x} control {control:#06x} status {status:#06x}")];
    if control & (1 << 11) != 0 {
        facts.push("powered down".into());
    }
    facts.push(if status & (1 << 2) != 0 { "PHY link up" } else { "PHY link down" }.into());
    if control & (1 << 12) != 0 {
        facts.push(
            if status & (1 << 5) != 0 { "autonegotiation complete" } else { "autonegotiation not complete" }.into(),
        );
    } else {
        facts.push("autonegotiation off".into());
    }
    facts.join(", ")
}

/// Everything that can go wrong in the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed PCI address.
    #[error(transparent)]
    BadPciAddress(#[from] PciAddressError),

    /// Nothing at that PCI address.
    #[error("no PCI device at {addr}; {}", List(nics))]
    NoSuchDevice {
        /// The address asked for.
        addr: PciAddress,
        /// The network controllers that do exist.
        nics: Vec<NetworkController>,
    },

    /// A device zcnic does not drive.
    #[error("{addr} is a {vendor:04x}:{device:04x} device, which zcnic does not drive; supported: {supported}")]
    UnsupportedDevice {
        /// The address.
        addr: PciAddress,
        /// Its vendor ID.
        vendor: u16,
        /// Its device ID.
        device: u16,
        /// The devices zcnic drives, named.
        supported: String,
    },

    /// The VFIO modules are not loaded.
    #[error("the vfio-pci kernel module is not loaded{}: run `modprobe vfio-pci` (as root), then bind the NIC to it", .addr.map(|a| format!(" (needed for {a})")).unwrap_or_default())]
    VfioNotLoaded {
        /// The device that was asked for, if known.
        addr: Option<PciAddress>,
    },

    /// The device belongs to another driver (or none).
    #[error("{addr} is not bound to vfio-pci ({})", .driver.as_ref().map(|d| format!("its driver is {d}")).unwrap_or_else(|| "it has no driver".into()))]
    NotBoundToVfio {
        /// The address.
        addr: PciAddress,
        /// Its current driver.
        driver: Option<String>,
    },

    /// Not a network controller.
    #[error("{addr} is not a network controller (PCI class {class:06x}); zcnic only takes network cards")]
    NotANetworkDevice {
        /// The address.
        addr: PciAddress,
        /// Its class code.
        class: u32,
    },

    /// The NIC carries this machine's traffic.
    #[error("refusing to take {addr}: its interface {iface} is up{}{}; taking it could cut this machine off that network: take it down first (`ip link set {iface} down`)", if .addresses.is_empty() { String::new() } else { format!(" with address {}", .addresses.join(", ")) }, if *.has_route { " and routes go through it" } else { "" })]
    InterfaceInUse {
        /// The device.
        addr: PciAddress,
        /// Its interface.
        iface: String,
        /// Its addresses (link-local IPv6 left out).
        addresses: Vec<String>,
        /// Whether a route uses it.
        has_route: bool,
    },

    /// The IOMMU group holds devices still owned by host drivers.
    #[error("refusing to take {addr}: its IOMMU group {group} also holds {}, still bound to host drivers; VFIO can only use a group whose devices all belong to vfio-pci (or to no driver)", List(peers))]
    GroupShared {
        /// The device.
        addr: PciAddress,
        /// The group.
        group: u32,
        /// The other devices with their drivers.
        peers: Vec<GroupMember>,
    },

    /// Binding did not take.
    #[error("could not bind {addr} to vfio-pci: {why}")]
    BindFailed {
        /// The device.
        addr: PciAddress,
        /// Why.
        why: String,
    },

    /// A NIC named by an interface name nobody knows.
    #[error("'{name}' is neither a PCI address (like 0000:03:00.0) nor a network interface, nor the name an interface had before it was bound to vfio-pci")]
    UnknownNic {
        /// What was given.
        name: String,
    },

    /// The device has no IOMMU group.
    #[error("{addr} has no IOMMU group, so the IOMMU is off: enable VT-d (or AMD-Vi) in the firmware and boot with intel_iommu=on (or amd_iommu=on)")]
    NoIommuGroup {
        /// The address.
        addr: PciAddress,
    },

    /// Other devices in the group are still owned by host drivers.
    #[error("IOMMU group {group} is not viable: every device in it must be bound to vfio-pci (or to no driver) before any can be used; the group holds {}", List(members))]
    GroupNotViable {
        /// The group number.
        group: u32,
        /// All devices in the group with their drivers.
        members: Vec<GroupMember>,
    },

    /// No permission to open a VFIO file.
    #[error("no permission to open {}: run as root, or give your user the device (`chown $USER {}`)", .path.display(), .path.display())]
    PermissionDenied {
        /// The file.
        path: PathBuf,
    },

    /// The group is already open in another process.
    #[error("{} is busy: another process (another zcnic?) has this NIC open; stop it first", .path.display())]
    GroupBusy {
        /// The group file.
        path: PathBuf,
    },

    /// The kernel's VFIO speaks another API version or lacks Type1v2.
    #[error("the kernel's VFIO does not offer what zcnic needs: {0}")]
    VfioUnsupported(String),

    /// BAR0 cannot be used.
    #[error("BAR0 of {addr} cannot be used: {why}")]
    BadBar {
        /// The device.
        addr: PciAddress,
        /// Why.
        why: String,
    },

    /// Pinning DMA memory failed on the memlock limit.
    #[error("the memlock limit ({}) is too low to pin {needed} more bytes of DMA memory: raise it with `ulimit -l unlimited` (or LimitMEMLOCK=infinity for a systemd service, or `memlock` in /etc/security/limits.conf), or run as root", .limit.map(|l| format!("{l} bytes")).unwrap_or_else(|| "unknown".into()))]
    MemlockTooLow {
        /// The soft RLIMIT_MEMLOCK, if it could be read.
        limit: Option<u64>,
        /// Bytes that were being pinned.
        needed: u64,
    },

    /// No room left in the IOVA space the IOMMU offers.
    #[error("no room for {len} more bytes of DMA mappings in the IOMMU's address space")]
    IovaExhausted {
        /// The size asked for.
        len: u64,
    },

    /// A part of a file that is not inside it.
    #[error("bytes {start}..{end} are not a part of a {len}-byte file")]
    BadPart {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
        /// The file's length.
        len: u64,
    },

    /// More queues asked for than the NIC has.
    #[error("{asked} queues asked for; this NIC has 1 to {max}")]
    BadQueueCount {
        /// What was asked for.
        asked: u16,
        /// The most the NIC has.
        max: u16,
    },

    /// Several queues, but VFIO cannot give each its own interrupt vector.
    #[error(
        "{queues} queues need MSI-X with {queues} + 1 vectors, but VFIO offers {mode} for this NIC: use one queue"
    )]
    NoVectorPerQueue {
        /// Queues asked for.
        queues: u16,
        /// The interrupt mode VFIO offered instead.
        mode: String,
    },

    /// A device-wide operation on a handle that drives one queue.
    #[error(
        "{what} needs the whole NIC, and this handle drives one of its queues: stop every queue and open the NIC again"
    )]
    WholeNicOnly {
        /// The operation.
        what: &'static str,
    },

    /// A queue did not come on.
    #[error("the NIC did not enable queue {queue} within {ms} ms of being asked (RXDCTL/TXDCTL.ENABLE stayed clear): check that the ring was programmed and the NIC is not wedged")]
    QueueEnableTimeout {
        /// The queue.
        queue: u32,
        /// How long we waited.
        ms: u64,
    },

    /// The NIC did not finish its reset.
    #[error("the NIC did not come out of reset within {ms} ms (CTRL.RST still set): is it in a low-power state or wedged? Try unbinding and rebinding it")]
    ResetTimeout {
        /// How long we waited.
        ms: u64,
    },

    /// No link.
    #[error(
        "the NIC's link did not come up within {secs} s; seen: MAC STATUS {mac_status:#010x} (link down), {}; tried: {tried}; check the cable and the switch port",
        describe_phy(*phy_id, *phy_control, *phy_status)
    )]
    LinkDown {
        /// How long we waited.
        secs: u64,
        /// The MAC's STATUS register.
        mac_status: u32,
        /// The PHY's identifier, if it answered.
        phy_id: Option<u32>,
        /// The PHY's control register.
        phy_control: Option<u16>,
        /// The PHY's status register (read twice: its link bit latches low).
        phy_status: Option<u16>,
        /// What bring-up did to the PHY.
        tried: String,
    },

    /// A PHY register could not be read or written through MDIC.
    #[error("could not {op} PHY register {reg}: {why}")]
    PhyAccess {
        /// "read" or "write".
        op: &'static str,
        /// The PHY register.
        reg: u32,
        /// What went wrong.
        why: &'static str,
    },

    /// The NIC's firmware kept a semaphore it shares with the driver.
    #[error("the NIC's firmware held the {which} semaphore for more than {ms} ms: manageability firmware may be busy or wedged; power-cycle the machine if it persists")]
    SemaphoreTimeout {
        /// Which semaphore (and register).
        which: &'static str,
        /// How long we waited.
        ms: u64,
    },

    /// The NIC kept DMA requests outstanding after master disable.
    #[error("the NIC still had PCIe requests outstanding {ms} ms after master disable (STATUS.GIO_MASTER_ENABLE stayed set); it may be wedged: unbind and rebind it, or power-cycle")]
    MasterDisableTimeout {
        /// How long we waited.
        ms: u64,
    },

    /// The NIC did not finish loading its EEPROM after reset.
    #[error("the NIC did not finish reading its EEPROM within {ms} ms of the reset (EECD.AUTO_RD never set): the EEPROM may be missing or broken")]
    AutoReadTimeout {
        /// How long we waited.
        ms: u64,
    },

    /// An EEPROM word read never completed.
    #[error("EEPROM word {word:#04x} was not read within {ms} ms (EERD never reported done): the EEPROM may be missing or busy")]
    EepromTimeout {
        /// The word.
        word: u32,
        /// How long we waited.
        ms: u64,
    },

    /// The EEPROM's checksum is wrong.
    #[error("the NIC's EEPROM checksum is wrong: words 0x00-0x3f add up to {sum:#06x}, not {expected:#06x}, so the EEPROM is corrupt or blank and its MAC address cannot be trusted")]
    EepromChecksum {
        /// What they add up to.
        sum: u16,
        /// What they must add up to.
        expected: u16,
    },

    /// No usable MAC address in RAL0/RAH0 nor in the EEPROM.
    #[error("the NIC has no valid MAC address (RAL0/RAH0 invalid and EEPROM read gave {0}); its EEPROM may be blank")]
    NoMacAddress(crate::mac::MacAddress),

    /// A frame of a length the driver cannot send.
    #[error("a frame of {len} bytes cannot be sent: frames are {min} to {max} bytes (Ethernet header included, FCS excluded)")]
    BadFrameLength {
        /// The length given.
        len: usize,
        /// Smallest accepted length.
        min: usize,
        /// Largest accepted length.
        max: usize,
    },

    /// No free TX descriptor: reclaim completed ones first.
    #[error("the TX ring is full: wait for the NIC to complete frames before pushing more")]
    TxRingFull,

    /// The link went down and stayed down.
    #[error("the link went down and did not come back within {secs} s; {sent} bytes had been sent and completed (the rest were not): check the cable or the peer, then send again")]
    LinkLost {
        /// How long we waited.
        secs: u64,
        /// Payload bytes completed before.
        sent: u64,
    },

    /// The NIC stopped completing descriptors.
    #[error("the NIC did not complete its TX descriptors within {ms} ms ({in_flight} still outstanding, head {head}, tail {tail}): the link may be down or the NIC hung")]
    TxTimeout {
        /// How long we waited.
        ms: u64,
        /// Descriptors posted and not completed.
        in_flight: u16,
        /// TDH as read from the NIC (or u32::MAX if it was out of range).
        head: u32,
        /// TDT as last written.
        tail: u16,
    },

    /// The file to send cannot be opened.
    #[error("cannot send {}: {}", .path.display(), describe_open_error(.source))]
    FileOpen {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The path is not a regular file.
    #[error("cannot send {}: it is {kind}; zcnic sends regular files only", .path.display())]
    NotARegularFile {
        /// The path.
        path: PathBuf,
        /// What it is instead ("a directory", "a block device"...).
        kind: &'static str,
    },

    /// The file changed while it was being sent.
    #[error("{} changed while it was being sent ({what}) after {sent} bytes had been queued; the copy on the wire is not a consistent snapshot: send it again once it is no longer being written", .path.display())]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// What changed.
        what: String,
        /// Payload bytes queued before the change was seen.
        sent: u64,
    },

    /// Nobody answered ARP.
    #[error("no ARP reply from {ip} after {tries} requests over {secs:.1} s: is the destination up and on this link?")]
    ArpNoReply {
        /// The address asked for.
        ip: std::net::Ipv4Addr,
        /// Requests sent.
        tries: u32,
        /// Total time waited.
        secs: f64,
    },

    /// A TCP connection to a peer failed.
    #[error("TCP connection to {remote} failed: {why}")]
    ConnectionFailed {
        /// The peer.
        remote: std::net::SocketAddrV4,
        /// What happened.
        why: &'static str,
    },

    /// The stop flag was set (SIGINT) while waiting.
    #[error("stopped on request before the wait was over")]
    Stopped,

    /// The NIC's DMA was stopped after a failure while it owned descriptors.
    #[error("the NIC's DMA was stopped after a failure while it still owned descriptors (a panic or an error mid-send); recover it or open it again")]
    Halted,

    /// A ring of an unusable size.
    #[error("{0}")]
    RingSize(#[from] zcnic_ring::RingSizeError),

    /// A sysfs file could not be read.
    #[error("could not {what} ({}): {source}", .path.display())]
    Sysfs {
        /// What we were doing.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A system call failed in a way that has no more specific variant.
    #[error("{what} failed: {source}")]
    Os {
        /// What we were doing.
        what: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn os(what: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Os { what, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> PciAddress {
        s.parse().unwrap()
    }

    #[test]
    fn a_group_that_is_not_viable_names_every_member_and_its_driver() {
        let e = Error::GroupNotViable {
            group: 12,
            members: vec![
                GroupMember { addr: addr("0000:03:00.0"), driver: Some("vfio-pci".into()) },
                GroupMember { addr: addr("0000:03:00.1"), driver: Some("e1000e".into()) },
                GroupMember { addr: addr("0000:03:00.2"), driver: None },
            ],
        };
        let msg = e.to_string();
        assert!(msg.contains("IOMMU group 12 is not viable"), "{msg}");
        assert!(msg.contains("0000:03:00.1 (e1000e)") && msg.contains("0000:03:00.2 (no driver)"), "{msg}");
    }

    #[test]
    fn resource_errors_say_what_to_do() {
        let m = Error::MemlockTooLow { limit: Some(65536), needed: 2 << 20 }.to_string();
        assert!(m.contains("65536 bytes") && m.contains("ulimit -l"), "{m}");
        let b = Error::GroupBusy { path: "/dev/vfio/3".into() }.to_string();
        assert!(b.contains("/dev/vfio/3 is busy"), "{b}");
        let p = Error::PermissionDenied { path: "/dev/vfio/3".into() }.to_string();
        assert!(p.contains("chown $USER /dev/vfio/3"), "{p}");
        let v = Error::VfioNotLoaded { addr: None }.to_string();
        assert!(v.contains("modprobe vfio-pci"), "{v}");
    }
}
