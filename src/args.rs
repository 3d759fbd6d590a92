//! The `--pci` argument every command that opens a NIC takes.

use zcnic_driver::binding::{check_nic_arg, resolve_nic, StateDir};
use zcnic_driver::pci::sysfs::Sysfs;
use zcnic_driver::{IrqChoice, LinkMode, NicConfig, PciAddress};

/// The NIC to use, and how to bring its link up.
#[derive(clap::Args, Debug, Clone)]
pub struct NicArg {
    /// The NIC, bound to vfio-pci: its PCI address (e.g. 0000:00:02.0 or 00:02.0), or the interface
    /// name it had before `zcnic bind`
    #[arg(long = "pci", visible_alias = "nic", value_name = "BDF|IFACE", value_parser = check_nic_arg)]
    pub pci: String,

    /// Link: autonegotiate (auto), or force speed and duplex (10half, 10full, 100half, 100full)
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_link)]
    pub link: LinkMode,

    /// Use the NIC even if its EEPROM checksum is wrong (the MAC address in it may be garbage)
    #[arg(long)]
    pub ignore_eeprom_checksum: bool,

    /// Interrupts: auto (MSI-X on an igb, else MSI, else INTx), or insist on msi or intx (one
    /// queue only) where MSI-X misbehaves
    #[arg(long, value_name = "KIND", default_value = "auto", value_parser = parse_irq)]
    pub irq: IrqChoice,
}

fn parse_irq(s: &str) -> Result<IrqChoice, String> {
    match s {
        "auto" => Ok(IrqChoice::Auto),
        "msi" => Ok(IrqChoice::Msi),
        "intx" => Ok(IrqChoice::Intx),
        _ => Err(format!("'{s}' is not an interrupt kind: auto, msi or intx")),
    }
}

fn parse_link(s: &str) -> Result<LinkMode, String> {
    let forced = |speed_mbit, full_duplex| Ok(LinkMode::Forced { speed_mbit, full_duplex });
    match s {
        "auto" => Ok(LinkMode::Autonegotiate),
        "10half" => forced(10, false),
        "10full" => forced(10, true),
        "100half" => forced(100, false),
        "100full" => forced(100, true),
        _ => Err(format!(
            "'{s}' is not a link mode: auto, 10half, 10full, 100half or 100full (1000 Mb/s needs autonegotiation)"
        )),
    }
}

impl NicArg {
    /// The bring-up settings these options ask for, on top of the defaults.
    pub fn config(&self) -> NicConfig {
        NicConfig {
            link_mode: self.link,
            accept_bad_eeprom_checksum: self.ignore_eeprom_checksum,
            interrupts: self.irq,
            ..NicConfig::default()
        }
    }

    /// The PCI address it names (an interface name is looked up in sysfs and
    /// in what `zcnic bind` remembered).
    pub fn resolve(&self) -> Result<PciAddress, zcnic_driver::Error> {
        resolve_nic(&self.pci, &Sysfs::default(), &StateDir::default())
    }
}
