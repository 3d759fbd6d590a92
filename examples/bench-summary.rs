//! bench-summary: the one report of `scripts/bench.sh`: a row per NIC model
//! and protocol, the targets with their outcome and why, the cost curves and
//! the emulator's share as measured from the host. It reads what each part
//! left in the results folder:
//!
//! - `udp-*/row.kv` and `tcp-*/row.kv`: each run's headline figures
//!   (bench-report and bench-tcp.sh write them);
//! - `curves/curves.md`: the cost curves' tables and their flatness lines;
//! - `profile/row.kv` and `profile/report.md`: the host-side profile.
//!
//! ```text
//! bench-summary --dir results/2026-11-26 [--readme README.md] [--minutes N] [--command "..."]
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;

/// Summarise a benchmark results folder.
#[derive(Parser, Debug)]
struct Args {
    /// The results folder of one `scripts/bench.sh` run
    #[arg(long)]
    dir: PathBuf,
    /// Also put the summary into this README, between `<!-- bench:begin -->` and `<!-- bench:end -->`
    #[arg(long)]
    readme: Option<PathBuf>,
    /// How long the run took, minutes
    #[arg(long)]
    minutes: Option<u64>,
    /// The command that made the folder
    #[arg(long, default_value = "scripts/bench.sh")]
    command: String,
}

/// One part's `key=value` lines.
type Row = BTreeMap<String, String>;

fn read_row(path: &Path) -> Option<Row> {
    let text = fs::read_to_string(path).ok()?;
    Some(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim().into(), v.trim().into())).collect())
}

fn num(row: &Row, key: &str) -> Option<f64> {
    row.get(key)?.parse().ok().filter(|v: &f64| v.is_finite())
}

fn text<'a>(row: &'a Row, key: &str) -> &'a str {
    row.get(key).map_or("?", String::as_str)
}

/// Sub-folders of `dir` whose name starts with `prefix`, with their row, in name order.
fn rows(dir: &Path, prefix: &str) -> Vec<(String, Row)> {
    let mut out: Vec<(String, Row)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let row = read_row(&e.path().join("row.kv"))?;
            name.starts_with(prefix).then_some((name, row))
        })
        .collect();
    // e1000 before e1000e before igb, one queue before two.
    out.sort_by_key(|(name, _)| (name.contains("igb"), name.contains("e1000e"), name.len(), name.clone()));
    out
}

fn fmt_k(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| if v >= 10_000.0 { format!("{:.0}k", v / 1000.0) } else { format!("{v:.0}") })
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn udp_section(md: &mut String, udp: &[(String, Row)]) -> std::fmt::Result {
    writeln!(md, "## UDP: a file as 1472-byte datagrams, frames/s\n")?;
    writeln!(md, "| NIC model | zcnic queues / vCPUs | zcnic | raw sender (emulator ceiling) | best kernel method | zcnic / best kernel | zcnic / raw | syscalls per frame: zcnic / best kernel (ptrace) | report |")?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|")?;
    for (name, r) in udp {
        let (z, raw, k) = (num(r, "zcnic_fps"), num(r, "raw_fps"), num(r, "best_kernel_fps"));
        writeln!(
            md,
            "| {} | {} / {} | {} | {} | {} ({}) | {} | {} | {} / {} | [{name}]({name}/report.md) |",
            text(r, "nic"),
            text(r, "queues"),
            text(r, "vcpus"),
            fmt_k(z),
            fmt_k(raw),
            fmt_k(k),
            text(r, "best_kernel"),
            z.zip(k).map_or("–".into(), |(z, k)| format!("**{:.1}x**", z / k)),
            z.zip(raw).map_or("–".into(), |(z, raw)| format!("{:.0}%", z / raw * 100.0)),
            fmt(num(r, "zcnic_syscalls_per_frame"), 4),
            fmt(num(r, "best_kernel_syscalls_per_frame"), 4),
        )?;
    }
    writeln!(md, "\nMedians of the timed repetitions in one boot per row; the kernel's methods are read+write, mmap+write, sendfile, splice, O_DIRECT, sendmmsg (64 per call), UDP GSO (44 per send), MSG_ZEROCOPY and io_uring zero-copy send; each row's report has them all.\n")
}

fn tcp_section(md: &mut String, tcp: &[(String, Row)]) -> std::fmt::Result {
    writeln!(md, "## TCP: HTTP fetches of a 64 MiB file by busybox wget\n")?;
    writeln!(md, "| NIC model | zcnic queues | zcnic MB/s | kernel sendfile+TSO MB/s | CPU 0 s per MiB: zcnic / kernel sendfile | ratio | of which the emulator's NIC work inside zcnic's doorbells | least-CPU kernel server | syscalls per MiB: zcnic / that server | report |")?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|")?;
    for (name, r) in tcp {
        let (zc, kc) = (num(r, "zcnic_cpu_per_mib"), num(r, "kernel_sendfile_cpu_per_mib"));
        writeln!(
            md,
            "| {} | {} | {} | {} | {} / {} | {} | {} s/MiB | {} | {} / {} | [{name}]({name}/report.md) |",
            text(r, "nic"),
            text(r, "queues"),
            fmt(num(r, "zcnic_mbps"), 1),
            fmt(num(r, "kernel_sendfile_mbps"), 1),
            fmt(zc, 5),
            fmt(kc, 5),
            zc.zip(kc).map_or("–".into(), |(z, k)| format!("**{:.2}x**", z / k)),
            fmt(num(r, "zcnic_doorbell_per_mib"), 5),
            text(r, "best_kernel"),
            fmt(num(r, "zcnic_syscalls_per_mib"), 1),
            fmt(num(r, "best_kernel_syscalls_per_mib"), 1),
        )?;
    }
    writeln!(md, "\nCPU = busy time of the server's vCPU (wall time less the idle time /proc/stat measures), with the server and its NIC's interrupt alone on it; the emulator's NIC model runs inside the guest's register writes and is charged to that vCPU for both servers.\n")
}

/// zcnic's size sweep for one protocol, from the curves' raw `curve-result`
/// lines: per file size, the median CPU s per MiB and peak pinned bytes.
#[derive(Default, Debug)]
struct SizeSweep {
    /// file size -> (CPU s per MiB of each repetition, pinned bytes of each)
    points: BTreeMap<u64, (Vec<f64>, Vec<f64>)>,
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

impl SizeSweep {
    fn parse(raw: &str, proto: &str, method: &str) -> SizeSweep {
        let mut sweep = SizeSweep::default();
        for line in raw.lines().filter_map(|l| l.split_once("curve-result ").map(|(_, r)| r)) {
            let kv: BTreeMap<&str, &str> = line.split_whitespace().filter_map(|f| f.split_once('=')).collect();
            if kv.get("sweep") != Some(&"size") || kv.get("proto") != Some(&proto) || kv.get("method") != Some(&method) {
                continue;
            }
            let get = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok());
            let (Some(x), Some(bytes)) = (get("x"), get("bytes")) else { continue };
            let entry = sweep.points.entry(x as u64).or_default();
            if let Some(busy) = get("busy_s") {
                entry.0.push(busy / (bytes / 1048576.0));
            }
            if let Some(p) = get("pinned_peak") {
                entry.1.push(p);
            }
        }
        sweep
    }

    /// max/min of the median CPU per MiB over the sizes in `range`.
    fn cpu_spread(&self, range: impl std::ops::RangeBounds<u64>) -> Option<f64> {
        spread(&self.cpu(range))
    }

    /// The median CPU per MiB of each size in `range`.
    fn cpu(&self, range: impl std::ops::RangeBounds<u64>) -> Vec<f64> {
        self.points.range(range).filter_map(|(_, (c, _))| median(c)).collect()
    }

    /// CPU per MiB from a file larger than the page cache can hold, and from
    /// a cached one: the mean of the cold sizes and of the cached sizes from
    /// 64 MiB up.
    fn cold_and_cached(&self) -> Option<(f64, f64)> {
        let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        Some((mean(self.cpu(COLD_ABOVE + 1..))?, mean(self.cpu(64 << 20..=COLD_ABOVE))?))
    }

    /// max/min of the median pinned bytes over the sizes of at least `from` bytes, and the largest.
    fn pinned(&self, from: u64) -> (Option<f64>, Option<f64>) {
        let v: Vec<f64> = self.points.range(from..).filter_map(|(_, (_, p))| median(p)).collect();
        (spread(&v), v.iter().copied().reduce(f64::max))
    }

    /// The CPU a send costs whatever its size: the smallest file's CPU less
    /// what its bytes cost at the cached rate per MiB (see
    /// [`cold_and_cached`](Self::cold_and_cached)), in seconds.
    fn fixed_cost(&self) -> Option<f64> {
        let (small, (c0, _)) = self.points.iter().next()?;
        let cached = self.cpu(64 << 20..=COLD_ABOVE);
        let rate = cached.iter().sum::<f64>() / cached.len() as f64;
        let mib = *small as f64 / 1048576.0;
        if cached.is_empty() {
            return None;
        }
        Some((median(c0)? - rate) * mib)
    }

    fn largest(&self) -> Option<u64> {
        self.points.keys().next_back().copied()
    }
}

/// One protocol's size sweeps: its name, zcnic's, and the kernel methods' by name.
type ProtoSweeps = (&'static str, SizeSweep, Vec<(String, SizeSweep)>);

/// Files above this size are sent from a cold page cache in the cost curves
/// (scripts/bench-curves.sh drops the cache before them: they cannot fit in
/// the guest's RAM); smaller ones are read once before each send.
const COLD_ABOVE: u64 = 300_000_000;

fn spread(v: &[f64]) -> Option<f64> {
    let (lo, hi) = (v.iter().copied().reduce(f64::min)?, v.iter().copied().reduce(f64::max)?);
    (v.len() >= 2 && lo > 0.0).then_some(hi / lo)
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 30 { format!("{} GiB", bytes >> 30) } else { format!("{} MiB", bytes >> 20) }
}

fn targets(
    md: &mut String,
    udp: &[(String, Row)],
    tcp: &[(String, Row)],
    sweeps: &[ProtoSweeps],
) -> std::fmt::Result {
    writeln!(md, "## Targets\n")?;
    let verdict = |ok: bool| if ok { "met" } else { "missed" };
    for (name, r) in udp {
        let (Some(z), Some(k), raw) = (num(r, "zcnic_fps"), num(r, "best_kernel_fps"), num(r, "raw_fps")) else { continue };
        let mut line = format!("- **UDP, {name}**: zcnic {:.1}x the best kernel method ({}); target 10x: {}.", z / k, text(r, "best_kernel"), verdict(z >= 10.0 * k));
        if let Some(raw) = raw {
            write!(line, " Within 20% of the raw sender: {} ({:.0}% of it).", verdict(z >= 0.8 * raw), z / raw * 100.0)?;
            if z < 10.0 * k {
                write!(line, " Why: the raw sender, which does less per frame than any driver can, reaches {:.1}x the best kernel method in the same boot: the emulator's NIC model, run inside each doorbell write, is the ceiling, and 10x lies {}.", raw / k, if raw >= 10.0 * k { "below it, so zcnic's own overhead is what misses it".to_string() } else { format!("{:.0}% above it", (10.0 * k / raw - 1.0) * 100.0) })?;
            }
        }
        writeln!(md, "{line}")?;
    }
    for (name, r) in tcp {
        let (Some(zm), Some(km), Some(zc), Some(kc)) =
            (num(r, "zcnic_mbps"), num(r, "kernel_sendfile_mbps"), num(r, "zcnic_cpu_per_mib"), num(r, "kernel_sendfile_cpu_per_mib"))
        else {
            continue;
        };
        let mut line = format!("- **TCP, {name}**: throughput {:.2}x the kernel's sendfile+TSO ({}); CPU per byte {:.2}x of the kernel's, target 0.2x: {}.", zm / km, verdict(zm >= km), zc / kc, verdict(zc * 5.0 <= kc));
        if let Some(bell) = num(r, "zcnic_doorbell_per_mib") {
            if zc * 5.0 > kc {
                write!(line, " Why: the emulator's NIC work inside zcnic's doorbell writes alone is {:.2}x of the kernel's whole CPU per MiB{}; with that share taken out of both, zcnic is {:.2}x of the kernel.", bell / kc, if bell * 5.0 > kc { ", more than the fifth the target allows, so no driver can meet it in this test bed" } else { "" }, (zc - bell) / (kc - bell))?;
            }
        }
        writeln!(md, "{line}")?;
    }
    const MIB64: u64 = 64 << 20;
    const MIB256: u64 = 256 << 20;
    for (proto, sw, kernel) in sweeps {
        let Some(largest) = sw.largest() else {
            writeln!(md, "- **{proto}: per-byte cost and pinned memory flat with file size**: not measured in this run (no cost curves).")?;
            continue;
        };
        let all = sw.cpu_spread(..);
        let line = match all {
            Some(a) if a <= 1.5 => format!("varies {a:.2}x from 1 MiB to {}: met", human(largest)),
            Some(a) => {
                let mut why = format!("varies {a:.2}x from 1 MiB to {}: missed. Cached files from 64 MiB to 256 MiB: within {}", human(largest), sw.cpu_spread(MIB64..=COLD_ABOVE).map_or("–".into(), |b| format!("{b:.2}x")));
                if let Some(f) = sw.fixed_cost().filter(|f| *f > 0.0) {
                    let per = if *proto == "TCP" { "the connection, the request and the first window pinned and mapped" } else { "the send's set-up and the first window pinned and mapped" };
                    why += &format!(". At the small end each send has a fixed cost, {:.1} ms here (the 1 MiB send's CPU less 1 MiB at the cached rate; it includes {per}, not broken down further), which a 1 MiB file cannot spread", f * 1e3);
                }
                if let Some((cold, cached)) = sw.cold_and_cached() {
                    why += &format!(". Files larger than the guest's RAM cost {:.2}x the cached rate per byte ({:.1} instead of {:.1} ms per MiB): their pages are read from the emulated disk during the send (page faults while each window is pinned), the emulator's virtio-blk at work on the same vCPUs", cold / cached, cold * 1e3, cached * 1e3);
                    let others: Vec<String> = kernel
                        .iter()
                        .filter_map(|(m, k)| k.cold_and_cached().map(|(c, w)| format!("{m} {:.1} instead of {:.1}", c * 1e3, w * 1e3)))
                        .collect();
                    if !others.is_empty() {
                        why += &format!("; the kernel's methods pay a like amount per MiB for the same reads ({} ms), which is a smaller part of their larger cost", others.join(", "));
                    }
                }
                why
            }
            None => "not measured".into(),
        };
        writeln!(md, "- **{proto}: zcnic's CPU per byte flat from 1 MiB to the largest file** (target: within 1.5x; cost curves, size sweep): {line}.")?;
        let (pin_spread, pin_max) = sw.pinned(MIB256);
        let line = match (pin_spread, pin_max) {
            (Some(s), Some(m)) => format!(
                "from 256 MiB to {} the peak varies {s:.2}x, at most {:.0} MiB: {} (below 256 MiB it grows with the file until the file fills the windows the budget allows)",
                human(largest),
                m / 1048576.0,
                verdict(s <= 1.1)
            ),
            _ => "not measured at 256 MiB and above".into(),
        };
        writeln!(md, "- **{proto}: zcnic's pinned memory flat with file size** (peak VmLck, the kernel's own account; target: flat once the file is larger than the pinning budget, within 1.1x): {line}.")?;
    }
    writeln!(md)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = &args.dir;
    let udp = rows(dir, "udp-");
    let tcp = rows(dir, "tcp-");
    let curves_md = fs::read_to_string(dir.join("curves/curves.md")).unwrap_or_default();
    // The curves' own run, and an earlier run it was charted with (bench-curves.sh --log).
    let curves_raw = ["curves/raw.txt", "curves/raw-earlier.txt"]
        .iter()
        .map(|f| fs::read_to_string(dir.join(f)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let kernel = |proto: &str, methods: &[&str]| -> Vec<(String, SizeSweep)> {
        methods.iter().map(|m| (m.to_string(), SizeSweep::parse(&curves_raw, proto, m))).collect()
    };
    let sweeps = [
        ("UDP", SizeSweep::parse(&curves_raw, "udp", "zcnic"), kernel("udp", &["udp-gso", "sendmmsg"])),
        ("TCP", SizeSweep::parse(&curves_raw, "tcp", "zcnic"), kernel("tcp", &["kernel-sendfile", "kernel-msg-zerocopy"])),
    ];
    // The flatness lines of curves.md, each with the protocol of the section it is in.
    let mut section = "";
    let mut flat_lines = Vec::new();
    for l in curves_md.lines() {
        if let Some(h) = l.strip_prefix("## ") {
            section = h.rsplit(", ").next().unwrap_or(h);
        } else if l.contains("CPU per MiB varies") {
            flat_lines.push(format!("- {section}, {}", l.trim_start_matches(['-', ' '])));
        }
    }
    let profile = fs::read_to_string(dir.join("profile/report.md")).ok();
    if udp.is_empty() && tcp.is_empty() && curves_md.is_empty() && profile.is_none() {
        return Err(format!("{} holds no benchmark parts (udp-*, tcp-*, curves, profile)", dir.display()).into());
    }

    let mut md = String::new();
    writeln!(md, "# zcnic against the kernel: the benchmark\n")?;
    write!(md, "Made by `{}`", args.command)?;
    if let Some(m) = args.minutes {
        write!(md, " in {m} minutes")?;
    }
    writeln!(md, ", every figure in one QEMU guest per part (TCG, no KVM, emulated Intel IOMMU): the absolute numbers are the emulator's, the ratios are the point. Each part's folder keeps its raw console log and its own report, which says how each figure was obtained.\n")?;
    if !udp.is_empty() {
        udp_section(&mut md, &udp)?;
    }
    if !tcp.is_empty() {
        tcp_section(&mut md, &tcp)?;
    }
    targets(&mut md, &udp, &tcp, &sweeps)?;
    if !curves_md.is_empty() {
        writeln!(md, "## How the cost grows: file size, batch, window\n")?;
        writeln!(md, "![UDP cost against file size](curves/curves-size-udp.png)\n")?;
        writeln!(md, "Flatness over the size sweeps (max/min of each figure between 1 MiB and the largest file):\n")?;
        for l in &flat_lines {
            writeln!(md, "{l}")?;
        }
        writeln!(md, "\nAll the tables and the charts for TCP, batch and window: [curves/curves.md](curves/curves.md).\n")?;
    }
    if let Some(p) = &profile {
        writeln!(md, "## The emulator's share, measured on the host\n")?;
        // The part's own report without its title.
        let body = p.split_once('\n').map_or(p.as_str(), |(_, rest)| rest).replace("\n# ", "\n### ").replace("\n## ", "\n### ");
        let body = body.replace("](", "](profile/");
        writeln!(md, "{}\n", body.trim())?;
    }
    fs::write(dir.join("report.md"), &md)?;

    if let Some(readme) = &args.readme {
        let text = fs::read_to_string(readme)?;
        let (begin, end) = ("<!-- bench:begin -->", "<!-- bench:end -->");
        let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
            return Err(format!("{} has no {begin} ... {end} section", readme.display()).into());
        };
        let base = readme.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let link = pathdiff(dir, base);
        // Links relative to the README, headings one level down under its own.
        let body = md
            .split_once('\n')
            .map_or(md.as_str(), |(_, rest)| rest)
            .replace("](", &format!("]({link}/"))
            .replace(&format!("]({link}/http"), "](http")
            .replace("\n## ", "\n### ");
        fs::write(readme, format!("{}{begin}\n{body}{}", &text[..b], &text[e..]))?;
    }
    print!("{md}");
    Ok(())
}

/// `dir` relative to `base` when it lies under it, else `dir` as given.
fn pathdiff(dir: &Path, base: &Path) -> String {
    let (d, b) = (dir.canonicalize().unwrap_or(dir.into()), base.canonicalize().unwrap_or(base.into()));
    d.strip_prefix(&b).map_or_else(|_| dir.display().to_string(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_sweeps_give_zcnic_spreads() {
        let raw = "x curve-result sweep=size proto=udp method=zcnic x=1048576 bytes=1048576 busy_s=0.02 pinned_peak=5242880\n\
curve-result sweep=size proto=udp method=zcnic x=67108864 bytes=67108864 busy_s=0.64 pinned_peak=71303168\n\
curve-result sweep=size proto=udp method=zcnic x=268435456 bytes=268435456 busy_s=2.56 pinned_peak=71303168\n\
curve-result sweep=size proto=udp method=zcnic x=2147483648 bytes=2147483648 busy_s=25.6 pinned_peak=71303168\n\
curve-result sweep=size proto=udp method=udp-gso x=2147483648 bytes=2147483648 busy_s=99 pinned_peak=0\n\
curve-result sweep=batch proto=udp method=zcnic x=1 bytes=1 busy_s=9 pinned_peak=1\n";
        let sw = SizeSweep::parse(raw, "udp", "zcnic");
        assert_eq!(sw.points.len(), 4, "zcnic's size points only");
        assert_eq!(sw.largest(), Some(2 << 30));
        let all = sw.cpu_spread(..).unwrap();
        assert!((all - 2.0).abs() < 1e-9, "0.02 s/MiB at 1 MiB vs 0.01 elsewhere: {all}");
        let big = sw.cpu_spread(64 << 20..).unwrap();
        assert!((big - 1.25).abs() < 1e-9, "0.0125 at 2 GiB vs 0.01: {big}");
        assert_eq!(sw.pinned(256 << 20), (Some(1.0), Some(71303168.0)));
        assert!(SizeSweep::parse(raw, "tcp", "zcnic").largest().is_none());
        let (cold, cached) = sw.cold_and_cached().unwrap();
        assert!((cold - 0.0125).abs() < 1e-9 && (cached - 0.01).abs() < 1e-9, "2 GiB vs 64 and 256 MiB: {cold} {cached}");
        assert_eq!(SizeSweep::parse(raw, "udp", "udp-gso").points.len(), 1);
        let fixed = sw.fixed_cost().unwrap();
        assert!((fixed - 0.01).abs() < 1e-9, "0.02 s for 1 MiB less 1 MiB at the cached 0.01 s/MiB: {fixed}");
    }

    #[test]
    fn rows_read_key_values_and_numbers() {
        let dir = std::env::temp_dir().join(format!("bench-summary-test-{}", std::process::id()));
        fs::create_dir_all(dir.join("udp-igb-2q")).unwrap();
        fs::create_dir_all(dir.join("udp-e1000")).unwrap();
        fs::write(dir.join("udp-igb-2q/row.kv"), "nic=igb\nzcnic_fps=116000\n").unwrap();
        fs::write(dir.join("udp-e1000/row.kv"), "nic=e1000\nzcnic_fps=258000.5\nbest_kernel=udp-gso\n").unwrap();
        let r = rows(&dir, "udp-");
        assert_eq!(r.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["udp-e1000", "udp-igb-2q"]);
        assert_eq!(num(&r[0].1, "zcnic_fps"), Some(258000.5));
        assert_eq!(text(&r[0].1, "best_kernel"), "udp-gso");
        assert_eq!(num(&r[1].1, "raw_fps"), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
