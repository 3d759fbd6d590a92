//! bench-report: turn the `bench-result` lines of a benchmark run
//! (scripts/bench.sh) into a Markdown report and a PNG chart.
//!
//! ```text
//! bench-report --log output.log --out results/2026-11-25 --meta key=value ... [--criterion target/criterion]
//! ```
//!
//! For every method: median, min and max over the timed repetitions
//! (`bench-result` lines) of wall time, MB/s, frames/s, CPU time and context
//! switches; the system calls of the untimed count pass (`count-result` lines:
//! each method run once more under `syscount`, a ptrace counter, on two file
//! sizes); and the payload copies per frame. Then the targets of issue 5, met
//! or missed by how much.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser;
use plotters::prelude::*;

/// Turn benchmark results into a report and a chart.
#[derive(Parser, Debug)]
struct Args {
    /// The guest's output with `bench-result` lines
    #[arg(long)]
    log: PathBuf,
    /// Where report.md and chart.png go
    #[arg(long)]
    out: PathBuf,
    /// Facts about the run, `key=value` (date, machine, qemu, kernel, nic, iommu, file...)
    #[arg(long, num_args = 0..)]
    meta: Vec<String>,
    /// Criterion's output folder, for the driver's own cost per frame
    #[arg(long)]
    criterion: Option<PathBuf>,
    /// Also put the table, the targets and the chart into this README, between
    /// `<!-- bench:begin -->` and `<!-- bench:end -->`
    #[arg(long)]
    readme: Option<PathBuf>,
    /// How the README should refer to the folder of the latest results
    #[arg(long, default_value = "results/latest")]
    readme_link: String,
    /// Also write row.kv: these `key=value` facts (protocol, nic, queues...) and
    /// the run's headline figures, one per line, for the summary of scripts/bench.sh
    #[arg(long, num_args = 0..)]
    row: Option<Vec<String>>,
    /// METHOD=WHY: a kernel method whose frames are known to be wrong on this
    /// NIC's wire; shown, marked, and left out of "the best kernel method"
    #[arg(long, value_name = "METHOD=WHY")]
    wire_invalid: Vec<String>,
    /// Font for the chart's text
    #[arg(long, default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    font: PathBuf,
}

/// Methods in the order they are shown, with a one-line description: the
/// kernel's first ([`KERNEL_METHODS`] of them), then zcnic and the raw sender.
const METHODS: &[(&str, &str)] = &[
    ("read-write", "kernel: read() + write() per datagram"),
    ("mmap-write", "kernel: write() from an mmap of the file"),
    ("sendfile", "kernel: sendfile() per datagram"),
    ("splice", "kernel: splice() file -> pipe -> socket"),
    ("odirect-write", "kernel: O_DIRECT reads + write()"),
    ("sendmmsg", "kernel: sendmmsg() of 64 datagrams from an mmap"),
    ("udp-gso", "kernel: UDP_SEGMENT sends of 44 datagrams from an mmap (cut in software on the e1000 and e1000e; handed to the NIC to cut on the igb)"),
    ("msg-zerocopy", "kernel: send(MSG_ZEROCOPY) per datagram from an mmap, completions reaped"),
    ("io-uring-zc", "kernel: io_uring IORING_OP_SEND_ZC per datagram from an mmap, 64 per enter"),
    ("zcnic", "zcnic send: zero-copy from the page cache"),
    ("raw-frames", "raw VFIO sender of fixed frames (emulator ceiling)"),
];

/// How each column of the table was obtained.
const FIGURE_NOTES: &[&str] = &[
    "**wall s**, **MB/s**, **frames/s**: the timed pass, every repetition; from the first send call until the NIC's counter shows the last frame (kernel methods: the interface's tx_packets, polled; zcnic and raw-frames: descriptors the NIC wrote back as done). MB/s and frames/s are the file's bytes and frames over that time.",
    "**CPU user s**, **CPU sys s**, **ctx sw**: the timed pass; getrusage(RUSAGE_SELF) of the sending process, all its threads, across the send.",
    "**syscalls (ptrace count pass, whole command)**: each method run once more, untimed, under `syscount` (examples/syscount.rs, a ptrace counter that follows every thread and child), sending the whole file: every system call of the command from its execve to its exit, start-up, NIC or socket set-up and the wait for the last frame included.",
    "**syscalls/frame (ptrace count pass, slope over 2 file sizes)**: the same count pass also sends the first quarter of the file; (calls for the whole file - calls for the quarter) / (frames of the whole file - frames of the quarter), so that what a command does once cancels out.",
    "**payload copies/frame**: zcnic, 0 enforced, not measured (the file's pages are PROT_NONE in the sender while the NIC reads them, so a CPU copy would fault), with the bytes the sender read through system calls during the send beside it, measured (the rchar delta of /proc/self/io); kernel methods, implied by the path each takes in Linux 6.1, not measured; raw-frames, 1 by construction (the CPU writes each frame).",
];

/// How many of [`METHODS`] are the kernel's.
const KERNEL_METHODS: usize = 9;

#[derive(Default)]
struct Runs(BTreeMap<String, Vec<f64>>);

impl Runs {
    fn push(&mut self, key: &str, v: f64) {
        self.0.entry(key.to_string()).or_default().push(v);
    }
    fn stats(&self, key: &str) -> Option<(f64, f64, f64)> {
        let mut v = self.0.get(key)?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
        Some((median, v[0], v[v.len() - 1]))
    }
}

fn parse(log: &str) -> BTreeMap<String, Runs> {
    let mut by_method: BTreeMap<String, Runs> = BTreeMap::new();
    for line in log.lines().filter_map(|l| l.trim().strip_prefix("bench-result ")) {
        let kv: BTreeMap<&str, &str> = line.split_whitespace().filter_map(|p| p.split_once('=')).collect();
        let Some(method) = kv.get("method") else { continue };
        let runs = by_method.entry(method.to_string()).or_default();
        let num = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok());
        for (k, v) in &kv {
            if let Ok(x) = v.parse::<f64>() {
                runs.push(k, x);
            }
        }
        if let (Some(wall), Some(frames), Some(bytes)) = (num("wall_s"), num("frames"), num("bytes")) {
            runs.push("fps", frames / wall);
            runs.push("mbps", bytes / wall / 1e6);
        }
        if let (Some(c), Some(frames)) = (num("copies"), num("frames")) {
            runs.push("copies_per_frame", c / frames);
        }
    }
    by_method
}

/// The count pass: per method, (datagrams, system calls of the whole command)
/// for each file it sent, from `count-result method=M datagrams=N syscount total=T ...`.
fn parse_counts(log: &str) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut by_method: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for line in log.lines().filter_map(|l| l.trim().strip_prefix("count-result ")) {
        let kv: BTreeMap<&str, &str> = line.split_whitespace().filter_map(|p| p.split_once('=')).collect();
        let num = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok());
        if let (Some(method), Some(datagrams), Some(total)) = (kv.get("method"), num("datagrams"), num("total")) {
            by_method.entry(method.to_string()).or_default().push((datagrams, total));
        }
    }
    by_method
}

/// From a method's count pass: the system calls of the whole command for the
/// largest file, and the calls per frame as the slope between the largest and
/// the smallest file (what sending more costs; start-up cancels out).
fn count_figures(points: &[(f64, f64)]) -> (Option<f64>, Option<f64>) {
    let largest = points.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0));
    let smallest = points.iter().copied().min_by(|a, b| a.0.total_cmp(&b.0));
    match (largest, smallest) {
        (Some(l), Some(s)) if l.0 > s.0 => (Some(l.1), Some((l.1 - s.1) / (l.0 - s.0))),
        (Some(l), _) => (Some(l.1), None),
        _ => (None, None),
    }
}

fn cell(runs: &Runs, key: &str, digits: usize) -> String {
    match runs.stats(key) {
        Some((m, lo, hi)) if (hi - lo).abs() < f64::EPSILON => format!("{m:.digits$}"),
        Some((m, lo, hi)) => format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})"),
        None => "–".into(),
    }
}

fn criterion_ns_per_frame(dir: &Path, group: &str, batch: u32) -> Option<f64> {
    let path = dir.join(group).join(batch.to_string()).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).ok()?).ok()?;
    Some(json["median"]["point_estimate"].as_f64()? / f64::from(batch))
}

fn chart(
    path: &Path,
    font: &Path,
    rows: &[(&str, (f64, f64, f64))],
    title: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let bytes: &'static [u8] = Box::leak(
        fs::read(font)
            .map_err(|e| format!("font {}: {e} (scripts/setup.sh installs fonts-dejavu-core)", font.display()))?
            .into_boxed_slice(),
    );
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| "bad font file")?;
    let root = BitMapBackend::new(path, (1100, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = rows.iter().map(|r| r.1 .2).fold(0.0, f64::max) * 1.15;
    let mut ch = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d((0..rows.len() - 1).into_segmented(), 0.0..max)?;
    let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
    ch.configure_mesh()
        .disable_x_mesh()
        .x_labels(rows.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i).copied().unwrap_or("").to_string(),
            SegmentValue::Last => String::new(),
        })
        .y_desc("frames per second (median; bars: min-max)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 15))
        .draw()?;
    ch.draw_series(rows.iter().enumerate().map(|(i, r)| {
        let color = if r.0 == "zcnic" {
            RGBColor(200, 60, 40)
        } else if r.0 == "raw-frames" {
            RGBColor(150, 150, 150)
        } else {
            RGBColor(60, 110, 180)
        };
        let mut bar =
            Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), r.1 .0)], color.filled());
        bar.set_margin(0, 0, 18, 18);
        bar
    }))?;
    ch.draw_series(rows.iter().enumerate().map(|(i, r)| {
        PathElement::new(
            vec![(SegmentValue::CenterOf(i), r.1 .1), (SegmentValue::CenterOf(i), r.1 .2)],
            BLACK.stroke_width(2),
        )
    }))?;
    ch.draw_series(rows.iter().enumerate().map(|(i, r)| {
        Text::new(
            format!("{:.0}", r.1 .0),
            (SegmentValue::CenterOf(i), r.1 .2 + max * 0.02),
            ("sans-serif", 15).into_font(),
        )
    }))?;
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let log = fs::read_to_string(&args.log)?;
    let results = parse(&log);
    let counts = parse_counts(&log);
    if !results.contains_key("zcnic") {
        return Err(format!("no zcnic results in {}", args.log.display()).into());
    }
    let meta: BTreeMap<&str, &str> = args.meta.iter().filter_map(|m| m.split_once('=')).collect();
    fs::create_dir_all(&args.out)?;

    let mut md = String::new();
    writeln!(md, "# zcnic vs the kernel's ways of sending a file\n")?;
    for (k, v) in &meta {
        writeln!(md, "- **{k}**: {v}")?;
    }
    let reps = results.values().filter_map(|r| r.0.get("wall_s").map(Vec::len)).max().unwrap_or(0);
    writeln!(md, "- **repetitions**: {reps} per method, all in one boot; median (min–max)\n")?;
    writeln!(md, "| method | wall s | MB/s | frames/s | CPU user s | CPU sys s | ctx sw vol | ctx sw invol | syscalls (ptrace count pass, whole command) | syscalls/frame (ptrace count pass, slope over 2 file sizes) | payload copies/frame |")?;
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    let mut rows = Vec::new();
    for (name, what) in METHODS {
        let Some(r) = results.get(*name) else { continue };
        let (calls, per_frame) = counts.get(*name).map_or((None, None), |p| count_figures(p));
        let copies = match *name {
            // Not a measurement: the file's pages are PROT_NONE in the sender
            // while the NIC reads them, so a CPU copy would crash the send.
            "zcnic" => format!("0 (enforced: PROT_NONE); {} bytes read via syscalls (measured)", cell(r, "rchar", 0)),
            "raw-frames" => "1 (CPU builds each frame)".into(),
            // The kernel's completions say how many sends it copied after all.
            "msg-zerocopy" => format!(
                "0 (implied) where pinned; {} of {} sends copied by the kernel instead (measured: its completions)",
                cell(r, "zerocopy_copied_sends", 0),
                cell(r, "frames", 0)
            ),
            _ => format!("{} (implied)", cell(r, "copies_per_frame", 0)),
        };
        writeln!(
            md,
            "| **{name}**<br>{what} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {copies} |",
            cell(r, "wall_s", 3),
            cell(r, "mbps", 1),
            cell(r, "fps", 0),
            cell(r, "user_s", 3),
            cell(r, "sys_s", 3),
            cell(r, "vcsw", 0),
            cell(r, "ivcsw", 0),
            calls.map_or("–".into(), |c| format!("{c:.0}")),
            per_frame.map_or("–".into(), |s| format!("{s:.4}")),
        )?;
        if let Some(s) = r.stats("fps") {
            rows.push((*name, s));
        }
    }

    let invalid: BTreeMap<&str, &str> = args.wire_invalid.iter().filter_map(|w| w.split_once('=')).collect();
    for (m, why) in &invalid {
        writeln!(md, "\n**{m}** is shown but not counted as a kernel method here: {why}")?;
    }
    writeln!(md, "\nHow each figure was obtained:\n")?;
    for note in FIGURE_NOTES {
        writeln!(md, "- {note}")?;
    }

    // Targets.
    let fps = |m: &str| results.get(m).and_then(|r| r.stats("fps")).map(|s| s.0);
    let best_kernel = METHODS[..KERNEL_METHODS]
        .iter()
        .filter(|(m, _)| !invalid.contains_key(m))
        .filter_map(|(m, _)| fps(m).map(|f| (*m, f)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    writeln!(md, "\n## Targets\n")?;
    if let (Some(z), Some((bk, k))) = (fps("zcnic"), best_kernel) {
        let ratio = z / k;
        let verdict =
            if ratio >= 10.0 { "met".to_string() } else { format!("missed by {:.0}%", (1.0 - ratio / 10.0) * 100.0) };
        writeln!(md, "- zcnic vs the best kernel method ({bk}): **{ratio:.1}x** the frames/s; target 10x: {verdict}.")?;
        if ratio < 10.0 {
            let driver_ns = args.criterion.as_deref().and_then(|d| criterion_ns_per_frame(d, "zero_copy_tx_path", 32));
            let per_frame_us = 1e6 / z;
            let mut why = format!("  Why: in the guest zcnic spends {per_frame_us:.2} µs per frame");
            if let Some(ns) = driver_ns {
                write!(
                    why,
                    ", of which the driver's own work is {ns:.0} ns ({:.1}%, criterion)",
                    ns / 10.0 / per_frame_us
                )?;
            }
            write!(why, "; the rest is QEMU emulating the NIC: each TDT write traps to the emulator, which walks the descriptors, DMAs every buffer through the emulated IOMMU and hands the frame to its network backend before the write returns.")?;
            if let Some(raw) = fps("raw-frames") {
                write!(why, " A raw sender that does even less per frame reaches {raw:.0} frames/s in the same boot, so the emulator's ceiling is about {:.1}x the best kernel method; 10x would need {:.0} frames/s, {:.0}% above that ceiling. On real hardware the NIC does this work in parallel with the CPU.", raw.max(z) / k, 10.0 * k, (10.0 * k / raw.max(z) - 1.0) * 100.0)?;
            }
            writeln!(md, "{why}")?;
        }
    }
    if let (Some(z), Some(raw)) = (fps("zcnic"), fps("raw-frames")) {
        let gap = (1.0 - z / raw) * 100.0;
        let verdict = if z >= 0.8 * raw { "met" } else { "missed" };
        writeln!(md, "- zcnic vs a raw batched sender of fixed frames in the same boot: {:.0}% of its frames/s ({}); target within 20%: {verdict}.", z / raw * 100.0, if gap > 0.0 { format!("{gap:.0}% slower") } else { format!("{:.0}% faster", -gap) })?;
    }
    if let Some(r) = results.get("zcnic") {
        let (calls, spf) = counts.get("zcnic").map_or((None, None), |p| count_figures(p));
        let rchar = r.stats("rchar").map_or(f64::NAN, |s| s.0);
        let measured = match (calls, spf) {
            (Some(c), Some(s)) => format!("{s:.5} (ptrace count pass, slope between the two file sizes; {c:.0} calls for the whole command, NIC bring-up included)"),
            _ => "not measured (no count pass in this log)".to_string(),
        };
        let met = rchar == 0.0 && spf.is_some_and(|s| s.abs() < 0.01);
        writeln!(md, "- zcnic syscalls per frame: {measured}; payload copies per frame: 0, enforced (the file's pages are PROT_NONE in the sender while the NIC reads them), and {rchar:.0} bytes read through system calls during the send (measured: /proc/self/io). Target 0 and 0: {}.", if met { "met" } else { "missed" })?;
    }
    if let Some(dir) = &args.criterion {
        if let Some(ns) = criterion_ns_per_frame(dir, "zero_copy_tx_path", 32) {
            writeln!(md, "- the driver's own cost per frame at batch 32 (criterion, TX ring + header builder, no emulator): **{ns:.1} ns** ({:.1} M frames/s per core); target under 50 ns: {}.", 1e3 / ns, if ns < 50.0 { "met" } else { "missed" })?;
        }
        let mut line = String::from("- per frame at batch 1 / 8 / 32 / 128:");
        for (group, label) in [("zero_copy_tx_path", "TX path"), ("tx_ring", "TX ring"), ("rx_ring", "RX ring")] {
            let v: Vec<String> = [1, 8, 32, 128]
                .iter()
                .map(|&b| criterion_ns_per_frame(dir, group, b).map_or("–".into(), |n| format!("{n:.1}")))
                .collect();
            write!(line, " {label} {} ns;", v.join(" / "))?;
        }
        writeln!(md, "{line}")?;
    }
    writeln!(md, "\n![frames per second by method](chart.png)")?;
    let title = format!("UDP file send, 1472-byte datagrams, {}", meta.get("nic").copied().unwrap_or("e1000"));
    chart(&args.out.join("chart.png"), &args.font, &rows, &title)?;
    fs::write(args.out.join("report.md"), &md)?;
    if let Some(readme) = &args.readme {
        let text = fs::read_to_string(readme)?;
        let (begin, end) = ("<!-- bench:begin -->", "<!-- bench:end -->");
        let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
            return Err(format!("{} has no {begin} ... {end} section", readme.display()).into());
        };
        // The report without its title, with the chart linked from the README's folder.
        let body = md
            .split_once('\n')
            .map_or(md.as_str(), |(_, rest)| rest)
            .replace("](chart.png)", &format!("]({}/chart.png)", args.readme_link))
            // Headings one level down, under the README's own "Benchmark" heading.
            .replace("\n## ", "\n### ");
        let updated = format!("{}{begin}\n{body}{}", &text[..b], &text[e..]);
        fs::write(readme, updated)?;
    }
    if let Some(facts) = &args.row {
        let mut kv = facts.join("\n");
        let mut put = |k: &str, v: Option<f64>| {
            if let Some(v) = v {
                let _ = write!(kv, "\n{k}={v:.6}");
            }
        };
        put("zcnic_fps", fps("zcnic"));
        put("raw_fps", fps("raw-frames"));
        put("best_kernel_fps", best_kernel.map(|b| b.1));
        put("zcnic_syscalls_per_frame", counts.get("zcnic").and_then(|p| count_figures(p).1));
        put("best_kernel_syscalls_per_frame", best_kernel.and_then(|b| counts.get(b.0)).and_then(|p| count_figures(p).1));
        if let Some((m, _)) = best_kernel {
            let _ = write!(kv, "\nbest_kernel={m}");
        }
        fs::write(args.out.join("row.kv"), kv + "\n")?;
    }
    fs::copy(&args.log, args.out.join("raw-results.txt"))?;
    print!("{md}");
    Ok(())
}
