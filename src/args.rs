//! The `--pci` argument every command that opens a NIC takes.

use zcnic_driver::binding::{check_nic_arg, resolve_nic, StateDir};
use zcnic_driver::pci::sysfs::Sysfs;
use zcnic_driver::PciAddress;

/// The NIC to use.
#[derive(clap::Args, Debug, Clone)]
pub struct NicArg {
    /// The NIC, bound to vfio-pci: its PCI address (e.g. 0000:00:02.0 or 00:02.0), or the interface
    /// name it had before `zcnic bind`
    #[arg(long = "pci", visible_alias = "nic", value_name = "BDF|IFACE", value_parser = check_nic_arg)]
    pub pci: String,
}

impl NicArg {
    /// The PCI address it names (an interface name is looked up in sysfs and
    /// in what `zcnic bind` remembered).
    pub fn resolve(&self) -> Result<PciAddress, zcnic_driver::Error> {
        resolve_nic(&self.pci, &Sysfs::default(), &StateDir::default())
    }
}
