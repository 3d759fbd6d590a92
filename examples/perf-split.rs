//! perf-split: where a QEMU (TCG) process spent its CPU while a guest sent
//! frames, from host-side perf samples: the benchmark's measured split of
//! the cost per frame into guest code, TCG's own runtime, device emulation
//! entered by the guest's register accesses (the NIC model), the host kernel
//! and QEMU's other threads (scripts/bench-profile.sh).
//!
//! ```text
//! perf record -e cpu-clock -F 499 --call-graph dwarf -p $QEMU_PID -o zcnic.data
//! perf script -i zcnic.data -F comm,tid,ip,sym,dso > zcnic.txt
//! perf-split --hz 499 --phase zcnic=zcnic.txt:183000 --phase start=start.txt:0 --baseline zcnic=start
//! ```
//!
//! Each sample is one 1/HZ s slice of a QEMU thread on a host CPU. It is put
//! in the first class that fits:
//!
//! 1. not the vCPU thread (QEMU names it `CPU <n>/TCG`): **other QEMU threads**
//!    (main loop, I/O, RCU);
//! 2. `memory_region_dispatch_read`/`_write` on the call chain with frames
//!    below it: **device emulation**, the callback of an emulated register
//!    (here the NIC's: its model, its DMA through the emulated IOMMU, the hub
//!    and the receiving NIC, all done before the guest's store completes);
//! 3. the leaf in translated code (perf's `[JIT]` or QEMU's `-perfmap` map):
//!    **guest code**, split into guest user space and guest kernel by the
//!    guest address the map names (`guest-0x...`);
//! 4. the leaf in the host kernel: **host kernel** (the vCPU thread's
//!    syscalls, timers, scheduling);
//! 5. anything else in the vCPU thread: **TCG runtime** (translation, block
//!    lookup, softmmu slow paths for memory accesses, the way into the
//!    device's dispatch, libraries).
//!
//! Only QEMU's exported function names are used (Debian's QEMU is stripped;
//! its debug symbols are not reachable here), so the split does not depend on
//! a symbol file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;

/// Split perf samples of a QEMU process into cost classes per frame.
#[derive(Parser, Debug)]
struct Args {
    /// Sampling frequency perf used (samples per second per running thread)
    #[arg(long, default_value_t = 499)]
    hz: u32,
    /// NAME=FILE:FRAMES: `perf script -F comm,tid,ip,sym,dso` output of one phase and the
    /// frames the guest sent in it (0 for a baseline)
    #[arg(long, value_parser = parse_phase)]
    phase: Vec<Phase>,
    /// NAME=BASE: subtract phase BASE's samples from phase NAME's (e.g. a sender's start-up)
    #[arg(long, value_parser = parse_pair)]
    baseline: Vec<(String, String)>,
    /// Also write the figures as key=value lines here
    #[arg(long)]
    kv: Option<PathBuf>,
}

#[derive(Clone, Debug)]
struct Phase {
    name: String,
    file: PathBuf,
    frames: u64,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    let (a, b) = s.split_once('=').ok_or_else(|| format!("'{s}' is not NAME=VALUE"))?;
    Ok((a.to_string(), b.to_string()))
}

fn parse_phase(s: &str) -> Result<Phase, String> {
    let (name, rest) = parse_pair(s)?;
    let (file, frames) = rest.rsplit_once(':').ok_or_else(|| format!("'{s}' is not NAME=FILE:FRAMES"))?;
    let frames = frames.parse().map_err(|_| format!("'{frames}' is not a frame count"))?;
    Ok(Phase { name, file: file.into(), frames })
}

/// Where a sample's CPU time went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    GuestUser,
    GuestKernel,
    TcgRuntime,
    DeviceEmulation,
    HostKernel,
    OtherThreads,
}

const CLASSES: [(Class, &str); 6] = [
    (Class::GuestUser, "guest code, user space (the sending program: zcnic's driver, or the kernel method's loop)"),
    (Class::GuestKernel, "guest code, guest kernel (syscalls, the network stack and the kernel's NIC driver)"),
    (Class::TcgRuntime, "TCG runtime (translation, block lookup, softmmu slow paths, the way into a device register)"),
    (Class::DeviceEmulation, "device emulation behind register accesses (the NIC model, its DMA through the emulated IOMMU, the hub, the receiving NIC)"),
    (Class::HostKernel, "host kernel, for the vCPU thread"),
    (Class::OtherThreads, "QEMU's other threads (main loop, I/O, RCU)"),
];

impl Class {
    fn key(self) -> &'static str {
        match self {
            Class::GuestUser => "guest_user",
            Class::GuestKernel => "guest_kernel",
            Class::TcgRuntime => "tcg_runtime",
            Class::DeviceEmulation => "device_emulation",
            Class::HostKernel => "host_kernel",
            Class::OtherThreads => "other_threads",
        }
    }
}

/// One stack frame: its symbol (may be `[unknown]` or empty) and its DSO.
struct Frame<'a> {
    sym: &'a str,
    dso: &'a str,
}

/// `    7f6fa3275bd3 guest-0xffffffff8114272d (/tmp/perf-24435.map)`
fn parse_frame(line: &str) -> Option<Frame<'_>> {
    let line = line.trim();
    let (_addr, rest) = line.split_once(char::is_whitespace)?;
    let open = rest.rfind(" (").or_else(|| rest.starts_with('(').then_some(0))?;
    let dso = rest[open..].trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(Frame { sym: rest[..open].trim(), dso })
}

fn is_jit(f: &Frame) -> bool {
    f.dso.starts_with("[JIT]") || (f.dso.starts_with("/tmp/perf-") && f.dso.ends_with(".map")) || f.dso.starts_with("//anon")
}

fn is_host_kernel(f: &Frame) -> bool {
    f.dso.starts_with("[kernel") || f.dso.contains(".ko")
}

/// A guest address from QEMU's perf map names a kernel or a user-space block.
fn guest_is_kernel(sym: &str) -> Option<bool> {
    let hex = sym.strip_prefix("guest-0x")?;
    let addr = u64::from_str_radix(hex.split(['+', ' ']).next()?, 16).ok()?;
    Some(addr >= 0xffff_8000_0000_0000)
}

fn classify(comm: &str, frames: &[Frame]) -> Option<Class> {
    let leaf = frames.first()?;
    if !comm.contains("/TCG") {
        return Some(Class::OtherThreads);
    }
    let dispatch = frames.iter().position(|f| f.sym.starts_with("memory_region_dispatch_"));
    if dispatch.is_some_and(|d| d > 0) {
        return Some(Class::DeviceEmulation);
    }
    if is_jit(leaf) {
        // Without -perfmap the guest address is unknown: count it as kernel
        // only when the map says so.
        return Some(if guest_is_kernel(leaf.sym) == Some(false) { Class::GuestUser } else { Class::GuestKernel });
    }
    if is_host_kernel(leaf) {
        return Some(Class::HostKernel);
    }
    Some(Class::TcgRuntime)
}

/// Samples per class in one `perf script` text.
fn count(text: &str) -> BTreeMap<Class, u64> {
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
        let Some(head) = lines.next() else { continue };
        // "CPU 0/TCG 24439 ": the thread's name, then its id.
        let comm = head.trim_end().rsplit_once(' ').map_or(head, |(c, _)| c);
        let frames: Vec<Frame> = lines.filter_map(parse_frame).collect();
        if let Some(c) = classify(comm, &frames) {
            *out.entry(c).or_insert(0) += 1;
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut counts: BTreeMap<String, BTreeMap<Class, u64>> = BTreeMap::new();
    for p in &args.phase {
        let text = std::fs::read_to_string(&p.file).map_err(|e| format!("{}: {e}", p.file.display()))?;
        counts.insert(p.name.clone(), count(&text));
    }
    let secs = |n: f64| n / f64::from(args.hz);
    let mut md = String::new();
    let mut kv = String::new();
    writeln!(md, "| phase | frames | samples | {} | total |", CLASSES.map(|(c, _)| c.key().replace('_', " ")).join(" | "))?;
    writeln!(md, "|---|---|---|{}---|", "---|".repeat(CLASSES.len()))?;
    for p in &args.phase {
        let c = &counts[&p.name];
        let total: u64 = c.values().sum();
        let cells: Vec<String> =
            CLASSES.iter().map(|(k, _)| format!("{:.2} s", secs(*c.get(k).unwrap_or(&0) as f64))).collect();
        writeln!(md, "| {} | {} | {total} | {} | {:.2} s |", p.name, p.frames, cells.join(" | "), secs(total as f64))?;
    }
    let mut three = String::new();
    writeln!(three, "\nThe same, in the issue's three parts (µs per frame): guest driver time = guest user + guest kernel; entering the emulator = TCG runtime (under TCG a register access is a call into the softmmu slow path, and translation and block lookup are part of running any guest code); the emulator's NIC model = device emulation; the rest = host kernel + other threads.\n")?;
    writeln!(three, "| phase | guest driver time | entering the emulator (TCG runtime) | the emulator's NIC model | the rest | total | NIC model's share |")?;
    writeln!(three, "|---|---|---|---|---|---|---|")?;
    writeln!(md, "\nPer frame, each phase less its baseline (µs of host CPU per frame sent):\n")?;
    writeln!(md, "| phase | {} | total |", CLASSES.map(|(c, _)| c.key().replace('_', " ")).join(" | "))?;
    writeln!(md, "|---|{}---|", "---|".repeat(CLASSES.len()))?;
    for p in args.phase.iter().filter(|p| p.frames > 0) {
        let base = args.baseline.iter().find(|(n, _)| *n == p.name).and_then(|(_, b)| counts.get(b));
        let mut cells = Vec::new();
        let mut total = 0.0;
        for (class, _) in CLASSES {
            let n = *counts[&p.name].get(&class).unwrap_or(&0) as f64
                - base.map_or(0.0, |b| *b.get(&class).unwrap_or(&0) as f64);
            let us = secs(n.max(0.0)) * 1e6 / p.frames as f64;
            total += us;
            cells.push(format!("{us:.2}"));
            writeln!(kv, "{}_{}_us_per_frame={us:.4}", p.name, class.key())?;
        }
        writeln!(kv, "{}_total_us_per_frame={total:.4}", p.name)?;
        writeln!(md, "| {} | {} | {total:.2} |", p.name, cells.join(" | "))?;
        let us: Vec<f64> = cells.iter().map(|c| c.parse().unwrap_or(0.0)).collect();
        let (guest, tcg, nic, rest) = (us[0] + us[1], us[2], us[3], us[4] + us[5]);
        writeln!(
            three,
            "| {} | {guest:.2} | {tcg:.2} | {nic:.2} | {rest:.2} | {total:.2} | {:.0}% |",
            p.name,
            if total > 0.0 { nic / total * 100.0 } else { 0.0 }
        )?;
    }
    md.push_str(&three);
    writeln!(md, "\nClasses:\n")?;
    for (c, what) in CLASSES {
        writeln!(md, "- **{}**: {what}", c.key().replace('_', " "))?;
    }
    print!("{md}");
    if let Some(path) = &args.kv {
        std::fs::write(path, kv)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "CPU 0/TCG 24439 \n\t    7f6fa3275bd3 guest-0xffffffff8114272d (/tmp/perf-24435.map)\n\n\
CPU 0/TCG 24439 \n\t    7f6fa3275bd3 guest-0x401a2c (/tmp/perf-24435.map)\n\n\
CPU 0/TCG 24439 \n\t          5e8656 [unknown] (/usr/bin/qemu-system-x86_64)\n\t          8bf16b memory_region_dispatch_write (/usr/bin/qemu-system-x86_64)\n\t    7f6fa3121402 [unknown] (/tmp/perf-24435.map)\n\n\
CPU 0/TCG 24439 \n\t          8bf16b memory_region_dispatch_write (/usr/bin/qemu-system-x86_64)\n\t    7f6fa3121402 [unknown] (/tmp/perf-24435.map)\n\n\
CPU 0/TCG 24439 \n\t          8de3c7 cpu_exec (/usr/bin/qemu-system-x86_64)\n\n\
CPU 0/TCG 24439 \n\tffffffffa1a2b3c4 finish_task_switch.isra.0 ([kernel.kallsyms])\n\t          8de3c7 cpu_exec (/usr/bin/qemu-system-x86_64)\n\n\
qemu-system-x86 24435 \n\t          8de3c7 main_loop_wait (/usr/bin/qemu-system-x86_64)\n\n\
CPU 0/TCG 24439 \n\t    7f00 [unknown] ([JIT] tid 24439)\n";

    #[test]
    fn samples_fall_in_the_first_class_that_fits() {
        let c = count(SAMPLE);
        assert_eq!(c.get(&Class::GuestKernel), Some(&2), "a kernel address, and JIT without a map");
        assert_eq!(c.get(&Class::GuestUser), Some(&1));
        assert_eq!(c.get(&Class::DeviceEmulation), Some(&1), "frames below the dispatch");
        assert_eq!(c.get(&Class::TcgRuntime), Some(&2), "the dispatch itself as leaf, and cpu_exec");
        assert_eq!(c.get(&Class::HostKernel), Some(&1));
        assert_eq!(c.get(&Class::OtherThreads), Some(&1));
    }

    #[test]
    fn phases_and_frames_parse() {
        let p = parse_phase("zcnic=/tmp/a:b.txt:1234").unwrap();
        assert_eq!((p.name.as_str(), p.file.to_str().unwrap(), p.frames), ("zcnic", "/tmp/a:b.txt", 1234));
        assert!(parse_phase("zcnic=/tmp/a.txt").is_err());
        assert_eq!(guest_is_kernel("guest-0xffffffff8114272d"), Some(true));
        assert_eq!(guest_is_kernel("guest-0x401a2c"), Some(false));
        assert_eq!(guest_is_kernel("[unknown]"), None);
    }
}
