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

/// The flatness lines of the size sweeps in curves.md, and the largest
/// "varies N.NNx" of zcnic's CPU-per-MiB and pinned-memory figures.
fn flatness(curves_md: &str) -> (Vec<String>, Option<f64>, Option<f64>) {
    let lines: Vec<String> =
        curves_md.lines().filter(|l| l.contains("CPU per MiB varies") || l.contains("pinned memory")).map(str::to_string).collect();
    let ratio = |l: &str, what: &str| -> Option<f64> {
        let rest = l.split(what).nth(1)?.trim_start().strip_prefix("varies ")?;
        rest.split('x').next()?.parse().ok()
    };
    let zcnic: Vec<&String> = lines.iter().filter(|l| l.trim_start_matches(['-', ' ', '*']).starts_with("zcnic")).collect();
    let cpu = zcnic.iter().filter_map(|l| ratio(l, "CPU per MiB")).reduce(f64::max);
    let pinned = zcnic.iter().filter_map(|l| ratio(l, "pinned memory")).reduce(f64::max);
    (lines, cpu, pinned)
}

fn targets(
    md: &mut String,
    udp: &[(String, Row)],
    tcp: &[(String, Row)],
    flat: &(Vec<String>, Option<f64>, Option<f64>),
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
    let (_, cpu, pinned) = flat;
    match cpu {
        Some(c) => writeln!(md, "- **Per-byte cost flat from 1 MiB to the largest file** (zcnic, CPU s per MiB, size sweeps of the cost curves; target: within 1.5x): varies {c:.2}x, {}. See the flatness lines below for each method and why.", verdict(*c <= 1.5))?,
        None => writeln!(md, "- **Per-byte cost flat with file size**: not measured in this run (no curves).")?,
    }
    match pinned {
        Some(p) => writeln!(md, "- **Pinned memory flat with file size** (zcnic's peak VmLck, the kernel's own account; target: within 1.5x): varies {p:.2}x, {}.", verdict(*p <= 1.5))?,
        None => writeln!(md, "- **Pinned memory flat with file size**: not measured in this run (no curves).")?,
    }
    writeln!(md)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let dir = &args.dir;
    let udp = rows(dir, "udp-");
    let tcp = rows(dir, "tcp-");
    let curves_md = fs::read_to_string(dir.join("curves/curves.md")).unwrap_or_default();
    let flat = flatness(&curves_md);
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
    targets(&mut md, &udp, &tcp, &flat)?;
    if !curves_md.is_empty() {
        writeln!(md, "## How the cost grows: file size, batch, window\n")?;
        writeln!(md, "![UDP cost against file size](curves/curves-size-udp.png)\n")?;
        writeln!(md, "Flatness over the size sweeps (max/min of each figure between 1 MiB and the largest file):\n")?;
        for l in &flat.0 {
            writeln!(md, "{}", if l.starts_with('-') { l.clone() } else { format!("- {l}") })?;
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
        let base = readme.parent().unwrap_or(Path::new("."));
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
    fn flatness_takes_zcnic_ratios_from_the_curve_lines() {
        let md = "## size udp\n- zcnic: CPU per MiB varies 1.25x from 1 MiB to 2 GiB (x); pinned memory varies 1.00x from 1 MiB to 2 GiB (4 MiB at every size)\n- udp-gso: CPU per MiB varies 3.10x from 1 MiB to 2 GiB; pinned memory 0 MiB at every size\n- zcnic: CPU per MiB varies 1.40x from 1 MiB to 2 GiB; pinned memory varies 1.02x\n";
        let (lines, cpu, pinned) = flatness(md);
        assert_eq!(lines.len(), 3);
        assert_eq!(cpu, Some(1.40), "the worst of zcnic's lines, not the kernel's");
        assert_eq!(pinned, Some(1.02));
        assert_eq!(flatness("nothing here").1, None);
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
