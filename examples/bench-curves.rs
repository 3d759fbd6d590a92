//! bench-curves: turn the `curve-result` lines of a benchmark guest log into
//! cost-curve tables (Markdown) and charts (PNG).
//!
//! ```text
//! bench-curves --log output.log [--log more.log ...] --out results/curves [--font DejaVuSans.ttf]
//! ```
//!
//! A `curve-result` line is one send of one method at one point of a sweep:
//!
//! ```text
//! curve-result sweep=size proto=udp method=zcnic x=1048576 bytes=1048576 frames=713 wall_s=0.0123 busy_s=0.0120 syscalls=57 pinned_peak=4194304 rss_peak=5242880
//! ```
//!
//! Fields are `key=value` in any order; `-` (or an empty value, or a missing
//! field) means not measured. `sweep` is `size` (x = file bytes), `batch` (x = datagrams per
//! call or doorbell) or `window` (x = bytes of the file mapped at a time).
//! Each point (sweep, proto, method, x) may be repeated: every figure is the
//! median over the repetitions of that figure computed per repetition.
//!
//! Writes `curves.md` (also printed) and one `curves-<sweep>-<proto>.png` per
//! (sweep, proto): throughput, CPU seconds per MiB, system calls per MiB and
//! peak pinned memory against x on a log2 axis.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::Parser;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Turn `curve-result` lines into cost-curve tables and charts.
#[derive(Parser, Debug)]
struct Args {
    /// The guest's console log with `curve-result` lines (repeatable; lines of all logs are pooled)
    #[arg(long, required = true, num_args = 1..)]
    log: Vec<PathBuf>,
    /// Where curves.md and the curves-<sweep>-<proto>.png charts go
    #[arg(long)]
    out: PathBuf,
    /// Font for the charts' text
    #[arg(long, default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    font: PathBuf,
}

const MIB: f64 = 1048576.0;

/// One `curve-result` line: one send of one method at one point of a sweep.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    sweep: String,
    proto: String,
    method: String,
    x: u64,
    bytes: Option<f64>,
    frames: Option<f64>,
    wall_s: Option<f64>,
    busy_s: Option<f64>,
    syscalls: Option<f64>,
    pinned_peak: Option<f64>,
    rss_peak: Option<f64>,
}

/// `None` if the line is not a `curve-result` line, else the record or why
/// the line could not be read.
fn parse_line(line: &str) -> Option<Result<Record, String>> {
    let mut tokens = line.split_whitespace();
    // The console may prefix the line (timestamps, a prompt): start at the marker.
    tokens.position(|t| t == "curve-result")?;
    let mut fields = BTreeMap::new();
    for token in tokens {
        let Some((k, v)) = token.split_once('=') else {
            return Some(Err(format!("token {token:?} is not key=value")));
        };
        if fields.insert(k, v).is_some() {
            return Some(Err(format!("{k} given twice")));
        }
    }
    Some(record(&fields))
}

fn record(fields: &BTreeMap<&str, &str>) -> Result<Record, String> {
    let text = |k: &str| match fields.get(k) {
        None | Some(&"-") | Some(&"") => Err(format!("no {k}")),
        Some(v) => Ok(v.to_string()),
    };
    let num = |k: &str| -> Result<Option<f64>, String> {
        match fields.get(k) {
            None | Some(&"-") | Some(&"") => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
                _ => Err(format!("{k}={v} is not a non-negative number")),
            },
        }
    };
    if let Some(n) = fields.get("failed").filter(|n| **n != "0") {
        return Err(format!("{n} of its sends or fetches failed (failed={n}), so its figures are not a measurement"));
    }
    let x = text("x")?;
    let x = x.parse::<u64>().ok().filter(|&x| x > 0).ok_or(format!("x={x} is not a positive integer"))?;
    Ok(Record {
        sweep: text("sweep")?,
        proto: text("proto")?,
        method: text("method")?,
        x,
        bytes: num("bytes")?,
        frames: num("frames")?,
        wall_s: num("wall_s")?,
        busy_s: num("busy_s")?,
        syscalls: num("syscalls")?,
        pinned_peak: num("pinned_peak")?,
        rss_peak: num("rss_peak")?,
    })
}

/// The figures derived from one repetition (or, as medians, from a point).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Figures {
    fps: Option<f64>,
    mbps: Option<f64>,
    cpu_per_mib: Option<f64>,
    syscalls_per_mib: Option<f64>,
    pinned_mib: Option<f64>,
    rss_mib: Option<f64>,
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn figures(r: &Record) -> Figures {
    let mib = r.bytes.map(|b| b / MIB);
    Figures {
        fps: ratio(r.frames, r.wall_s),
        mbps: ratio(r.bytes, r.wall_s).map(|b| b / 1e6),
        cpu_per_mib: ratio(r.busy_s, mib),
        syscalls_per_mib: ratio(r.syscalls, mib),
        pinned_mib: r.pinned_peak.map(|p| p / MIB),
        rss_mib: r.rss_peak.map(|p| p / MIB),
    }
}

/// Median of the values that were measured; `None` if none was.
fn median(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().flatten().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// One point of a curve: the medians over its repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    reps: usize,
    fig: Figures,
}

fn point(reps: &[Figures]) -> Point {
    let m = |f: fn(&Figures) -> Option<f64>| median(reps.iter().map(f));
    Point {
        reps: reps.len(),
        fig: Figures {
            fps: m(|f| f.fps),
            mbps: m(|f| f.mbps),
            cpu_per_mib: m(|f| f.cpu_per_mib),
            syscalls_per_mib: m(|f| f.syscalls_per_mib),
            pinned_mib: m(|f| f.pinned_mib),
            rss_mib: m(|f| f.rss_mib),
        },
    }
}

/// All points of one (sweep, proto).
#[derive(Debug)]
struct Group {
    sweep: String,
    proto: String,
    /// In order of first appearance in the logs.
    methods: Vec<String>,
    /// Sorted.
    xs: Vec<u64>,
    points: BTreeMap<(String, u64), Point>,
    /// Frames per second for every series, or MB/s for every series (TCP,
    /// or a UDP chart where some method's frames were not measured).
    frames: bool,
}

impl Group {
    fn get(&self, method: &str, x: u64) -> Option<&Point> {
        self.points.get(&(method.to_string(), x))
    }
}

/// Sweeps in the order they are shown; others follow alphabetically.
const SWEEP_ORDER: &[&str] = &["size", "batch", "window"];

fn sweep_rank(s: &str) -> usize {
    SWEEP_ORDER.iter().position(|&k| k == s).unwrap_or(SWEEP_ORDER.len())
}

fn group(records: &[Record]) -> Vec<Group> {
    // (sweep, proto) -> (method, x) -> the figures of each repetition
    type Reps<'a> = BTreeMap<(&'a str, u64), Vec<Figures>>;
    let mut reps: BTreeMap<(&str, &str), Reps> = BTreeMap::new();
    let mut order: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for r in records {
        let key = (r.sweep.as_str(), r.proto.as_str());
        reps.entry(key).or_default().entry((&r.method, r.x)).or_default().push(figures(r));
        let methods = order.entry(key).or_default();
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let mut groups: Vec<Group> = reps
        .into_iter()
        .map(|((sweep, proto), pts)| {
            let points: BTreeMap<(String, u64), Point> =
                pts.into_iter().map(|((m, x), f)| ((m.to_string(), x), point(&f))).collect();
            let mut xs: Vec<u64> = points.keys().map(|k| k.1).collect();
            xs.sort_unstable();
            xs.dedup();
            let frames = proto != "tcp" && points.values().all(|p| p.fig.fps.is_some());
            Group {
                sweep: sweep.to_string(),
                proto: proto.to_string(),
                methods: order[&(sweep, proto)].iter().map(|m| m.to_string()).collect(),
                xs,
                points,
                frames,
            }
        })
        .collect();
    groups.sort_by(|a, b| (sweep_rank(&a.sweep), &a.sweep, &a.proto).cmp(&(sweep_rank(&b.sweep), &b.sweep, &b.proto)));
    groups
}

/// The figures shown, each a table in the Markdown; the first four are also
/// the chart's panels.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Figure {
    Throughput,
    Cpu,
    Syscalls,
    Pinned,
    Rss,
}

const TABLES: [Figure; 5] = [Figure::Throughput, Figure::Cpu, Figure::Syscalls, Figure::Pinned, Figure::Rss];
const PANELS: [Figure; 4] = [Figure::Throughput, Figure::Cpu, Figure::Syscalls, Figure::Pinned];

impl Figure {
    fn value(self, g: &Group, p: &Point) -> Option<f64> {
        match self {
            Figure::Throughput if g.frames => p.fig.fps,
            Figure::Throughput => p.fig.mbps,
            Figure::Cpu => p.fig.cpu_per_mib,
            Figure::Syscalls => p.fig.syscalls_per_mib,
            Figure::Pinned => p.fig.pinned_mib,
            Figure::Rss => p.fig.rss_mib,
        }
    }

    /// Heading of the table and caption of the panel.
    fn title(self, g: &Group) -> &'static str {
        match self {
            Figure::Throughput if g.frames => "Ethernet frames per second",
            Figure::Throughput => "MB/s of file data",
            Figure::Cpu => "CPU time per MiB sent",
            Figure::Syscalls => "system calls per MiB sent (whole command)",
            Figure::Pinned => "peak pinned memory (VmLck)",
            Figure::Rss => "peak resident set (VmHWM)",
        }
    }

    /// The unit, for the y axis and the table's header.
    fn unit(self, g: &Group) -> &'static str {
        match self {
            Figure::Throughput if g.frames => "frames/s",
            Figure::Throughput => "MB/s",
            Figure::Cpu => "CPU s per MiB",
            Figure::Syscalls => "syscalls per MiB",
            Figure::Pinned | Figure::Rss => "MiB",
        }
    }

    fn how(self, g: &Group) -> &'static str {
        match self {
            Figure::Throughput if g.frames => "frames / wall_s",
            Figure::Throughput => "bytes / wall_s / 10^6",
            Figure::Cpu => {
                if g.frames {
                    "the sender's CPU time (getrusage user + system) / (bytes / 2^20)"
                } else {
                    "busy time of the server's CPU (/proc/stat) / (bytes / 2^20)"
                }
            }
            Figure::Syscalls => "syscalls (ptrace count of the whole command) / (bytes / 2^20)",
            Figure::Pinned => "pinned_peak / 2^20",
            Figure::Rss => "rss_peak / 2^20",
        }
    }
}

/// What x is, for the table's first column and the chart's x axis.
fn x_desc(sweep: &str) -> &str {
    match sweep {
        "size" => "file size",
        "batch" => "datagrams per call or doorbell",
        "window" => "bytes of the file mapped per window",
        _ => "x",
    }
}

fn x_is_bytes(sweep: &str) -> bool {
    matches!(sweep, "size" | "window")
}

fn fmt_x(sweep: &str, x: f64) -> String {
    if x_is_bytes(sweep) {
        human_bytes(x)
    } else {
        fmt_num(x)
    }
}

/// 1048576 -> "1 MiB", 1572864 -> "1.5 MiB", 2147483648 -> "2 GiB".
fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let s = if v.fract() == 0.0 { format!("{v:.0}") } else { fmt_num(v) };
    format!("{s} {}", UNITS[u])
}

/// About three significant digits, no exponent for everyday magnitudes.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1e-4 {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.2e}")
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or("–".into(), fmt_num)
}

/// The flatness line of one method in a size sweep: how much its CPU time
/// per MiB and its pinned memory vary across the file sizes.
fn flatness(g: &Group, method: &str) -> String {
    let series = |f: Figure| -> Vec<(u64, f64)> {
        g.xs.iter().filter_map(|&x| g.get(method, x).and_then(|p| f.value(g, p)).map(|v| (x, v))).collect()
    };
    let spread = |s: &[(u64, f64)], unit: &str| -> String {
        let Some(lo) = s.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)) else {
            return "not measured".into();
        };
        let hi = s.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or(lo);
        let (first, last) = (s[0].0, s[s.len() - 1].0);
        let range = format!("from {} to {}", human_bytes(first as f64), human_bytes(last as f64));
        if s.len() < 2 {
            format!("only measured at {}", human_bytes(first as f64))
        } else if hi.1 == lo.1 {
            if hi.1 == 0.0 {
                format!("0{unit} at every size {range}")
            } else {
                format!("varies 1.00x {range} ({}{unit} at every size)", fmt_num(hi.1))
            }
        } else if lo.1 == 0.0 {
            format!(
                "varies from 0{unit} (at {}) to {}{unit} (at {}); no ratio",
                human_bytes(lo.0 as f64),
                fmt_num(hi.1),
                human_bytes(hi.0 as f64)
            )
        } else {
            format!(
                "varies {:.2}x {range} ({}{unit} at {}, {}{unit} at {})",
                hi.1 / lo.1,
                fmt_num(lo.1),
                human_bytes(lo.0 as f64),
                fmt_num(hi.1),
                human_bytes(hi.0 as f64)
            )
        }
    };
    let cpu = spread(&series(Figure::Cpu), " s/MiB");
    let pinned = spread(&series(Figure::Pinned), " MiB");
    format!("{method}: CPU per MiB {cpu}; pinned memory {pinned}")
}

fn chart_name(g: &Group) -> String {
    format!("curves-{}-{}.png", g.sweep, g.proto)
}

fn markdown(groups: &[Group], logs: &[PathBuf]) -> Result<String, std::fmt::Error> {
    let mut md = String::new();
    writeln!(md, "# Cost curves\n")?;
    let logs: Vec<String> = logs.iter().map(|l| format!("`{}`", l.display())).collect();
    writeln!(
        md,
        "From the `curve-result` lines of {}. Each figure is the median over the repetitions of a point \
         (computed per repetition, then the median taken); – = not measured.",
        logs.join(", ")
    )?;
    for g in groups {
        writeln!(md, "\n## {} sweep, {}\n", g.sweep, g.proto.to_uppercase())?;
        writeln!(md, "x = {}.", x_desc(&g.sweep))?;
        let reps: Vec<usize> = g.points.values().map(|p| p.reps).collect();
        let (min, max) = (reps.iter().min().copied().unwrap_or(0), reps.iter().max().copied().unwrap_or(0));
        if min == max {
            writeln!(md, "Repetitions: {min} per point.")?;
        } else {
            writeln!(md, "Repetitions: {min} to {max} per point (see the last table).")?;
        }
        if g.proto != "tcp" && !g.frames {
            let missing: Vec<&str> = g
                .methods
                .iter()
                .filter(|m| g.xs.iter().any(|&x| g.get(m, x).is_some_and(|p| p.fig.fps.is_none())))
                .map(String::as_str)
                .collect();
            writeln!(md, "Throughput in MB/s for every method: frames not measured for {}.", missing.join(", "))?;
        }
        writeln!(md, "\n![{} sweep, {}: cost curves]({})", g.sweep, g.proto.to_uppercase(), chart_name(g))?;
        let mut tables = TABLES.iter().map(|&f| (f.title(g), f.unit(g), f.how(g), Some(f))).collect::<Vec<_>>();
        if min != max {
            tables.push(("repetitions", "count", "curve-result lines per point", None));
        }
        for (title, unit, how, f) in tables {
            writeln!(md, "\n**{title}** ({unit}; {how})\n")?;
            write!(md, "| {} |", x_desc(&g.sweep))?;
            for m in &g.methods {
                write!(md, " {m} |")?;
            }
            write!(md, "\n|---|")?;
            for _ in &g.methods {
                write!(md, "---:|")?;
            }
            writeln!(md)?;
            for &x in &g.xs {
                write!(md, "| {} |", fmt_x(&g.sweep, x as f64))?;
                for m in &g.methods {
                    let p = g.get(m, x);
                    let c = match f {
                        Some(f) => cell(p.and_then(|p| f.value(g, p))),
                        None => p.map_or("–".into(), |p| p.reps.to_string()),
                    };
                    write!(md, " {c} |")?;
                }
                writeln!(md)?;
            }
        }
        if g.sweep == "size" {
            writeln!(md, "\nFlatness across file sizes (max/min of the medians):\n")?;
            for m in &g.methods {
                writeln!(md, "- {}", flatness(g, m))?;
            }
        }
    }
    Ok(md)
}

// ---- charts ----

const COLORS: [RGBColor; 10] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// How one method is drawn: a colour and a marker shape (0..4), so that the
/// series stay apart in grey too.
#[derive(Clone, Copy)]
struct Style {
    color: RGBColor,
    shape: usize,
}

/// Hands `$sink` the markers of one method (its colour in its shape) at
/// `$points`; a macro since each shape is its own element type.
macro_rules! with_markers {
    ($style:expr, $points:expr, $sink:expr) => {{
        let s: Style = $style;
        let (fill, line) = (s.color.filled(), s.color.stroke_width(2));
        match s.shape % 4 {
            0 => ($sink)($points.map(|p| Circle::new(p, 5, fill))),
            1 => ($sink)($points.map(|p| TriangleMarker::new(p, 7, fill))),
            2 => ($sink)($points.map(|p| EmptyElement::at(p) + Rectangle::new([(-5, -5), (5, 5)], fill))),
            _ => ($sink)($points.map(|p| Cross::new(p, 5, line))),
        }
    }};
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

const FONT: &str = "sans-serif";

/// One panel's series: a style and (x, value) points, values of 0 already
/// moved to the floor on a log axis.
struct Panel {
    caption: String,
    /// A second line under the caption: the scale, methods without values.
    note: String,
    unit: &'static str,
    series: Vec<(Style, Vec<(f64, f64)>)>,
}

/// How a panel's y axis is scaled: linear from 0, or log10 between two
/// decades when the values span more than 100x.
#[derive(Debug, PartialEq)]
enum YScale {
    Linear(f64),
    /// (floor, top): values of 0 are drawn at the floor.
    Log(f64, f64, bool),
}

fn y_scale(values: &[f64]) -> YScale {
    let max = values.iter().copied().fold(0.0, f64::max);
    let min_pos = values.iter().copied().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
    if max > 0.0 && max / min_pos > 100.0 {
        let zeros = values.contains(&0.0);
        let floor = 10f64.powf(min_pos.log10().floor() - if zeros { 1.0 } else { 0.0 });
        let top = 10f64.powf(max.log10().floor() + 1.0);
        YScale::Log(floor, top, zeros)
    } else {
        YScale::Linear(if max > 0.0 { max * 1.12 } else { 1.0 })
    }
}

fn panel_data(g: &Group, f: Figure, styles: &BTreeMap<&str, Style>) -> (Panel, YScale) {
    let mut series: Vec<(Style, Vec<(f64, f64)>)> = Vec::new();
    let mut missing = Vec::new();
    for m in &g.methods {
        let pts: Vec<(f64, f64)> =
            g.xs.iter().filter_map(|&x| g.get(m, x).and_then(|p| f.value(g, p)).map(|v| (x as f64, v))).collect();
        if pts.is_empty() {
            missing.push(m.as_str());
        } else {
            series.push((styles[m.as_str()], pts));
        }
    }
    let values: Vec<f64> = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).collect();
    let scale = y_scale(&values);
    let mut notes = Vec::new();
    if let YScale::Log(floor, _, zeros) = scale {
        notes.push(if zeros {
            "log scale; values of 0 drawn on the bottom edge".to_string()
        } else {
            "log scale".into()
        });
        for s in &mut series {
            for p in &mut s.1 {
                p.1 = p.1.max(floor);
            }
        }
    }
    if !missing.is_empty() && !series.is_empty() {
        notes.push(format!("not measured: {}", missing.join(", ")));
    }
    (Panel { caption: f.title(g).to_string(), note: notes.join("; "), unit: f.unit(g), series }, scale)
}

fn draw_panel<Y>(area: &Area, p: &Panel, sweep: &str, x: Range<f64>, y: Y) -> Result<(), Box<dyn Error>>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let area = area.margin(14, 0, 0, 0).titled(&p.caption, (FONT, 20))?;
    let area = if p.note.is_empty() {
        area
    } else {
        area.titled(&p.note, (FONT, 15).into_font().color(&RGBColor(90, 90, 90)))?
    };
    if p.series.is_empty() {
        let (w, h) = area.dim_in_pixel();
        let style = TextStyle::from((FONT, 20).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        area.draw(&Text::new("not measured for any method", (w as i32 / 2, h as i32 / 2), style))?;
        return Ok(());
    }
    let mut ch = ChartBuilder::on(&area)
        .margin(12)
        .margin_right(24)
        .x_label_area_size(52)
        .y_label_area_size(84)
        .build_cartesian_2d(x.log_scale().base(2.0), y)?;
    ch.configure_mesh()
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|v| fmt_x(sweep, *v))
        .y_label_formatter(&|v| fmt_num(*v))
        .x_desc(format!("{} (log2 scale)", x_desc(sweep)))
        .y_desc(p.unit)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (style, pts) in &p.series {
        ch.draw_series(LineSeries::new(pts.iter().copied(), style.color.stroke_width(2)))?;
        with_markers!(*style, pts.iter().copied(), |m| ch.draw_series(m).map(|_| ()))?;
    }
    Ok(())
}

/// A row of legend entries, wrapped to the width of the area; returns the
/// height it needs (drawing only if `draw`).
fn legend(area: &Area, entries: &[(&str, Style)], draw: bool) -> Result<i32, Box<dyn Error>> {
    let font = TextStyle::from((FONT, 18).into_font());
    let width = area.dim_in_pixel().0 as i32;
    let (row_h, pad) = (30, 40);
    let (mut x, mut y) = (pad, 18);
    for (name, style) in entries {
        let tw = area.estimate_text_size(name, &font)?.0 as i32;
        let w = 44 + tw + 36;
        if x + w > width - pad && x > pad {
            x = pad;
            y += row_h;
        }
        if draw {
            area.draw(&PathElement::new(vec![(x, y), (x + 36, y)], style.color.stroke_width(2)))?;
            with_markers!(*style, std::iter::once((x + 18, y)), |mut m: std::iter::Map<_, _>| m
                .try_for_each(|e| area.draw(&e)))?;
            area.draw(&Text::new(name.to_string(), (x + 44, y), font.pos(Pos::new(HPos::Left, VPos::Center))))?;
        }
        x += w;
    }
    Ok(y + 18)
}

fn render(path: &Path, g: &Group, styles: &BTreeMap<&str, Style>) -> Result<(), Box<dyn Error>> {
    let root = BitMapBackend::new(path, (1400, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let unit = if g.frames { "frames/s" } else { "MB/s" };
    let title = format!(
        "{} sweep, {}: cost per point ({unit}, CPU, system calls, pinned memory; medians)",
        g.sweep,
        g.proto.to_uppercase()
    );
    let root = root.margin(10, 0, 0, 0).titled(&title, (FONT, 26))?;
    let entries: Vec<(&str, Style)> = g.methods.iter().map(|m| (m.as_str(), styles[m.as_str()])).collect();
    let legend_h = legend(&root, &entries, false)?;
    let (body, foot) = root.split_vertically(root.dim_in_pixel().1 as i32 - legend_h);
    legend(&foot, &entries, true)?;
    let (lo, hi) = (g.xs[0] as f64, g.xs[g.xs.len() - 1] as f64);
    let x = if lo == hi { lo / 2.0..hi * 2.0 } else { lo / 1.25..hi * 1.25 };
    for (area, f) in body.split_evenly((2, 2)).iter().zip(PANELS) {
        let (p, scale) = panel_data(g, f, styles);
        match scale {
            YScale::Linear(top) => draw_panel(area, &p, &g.sweep, x.clone(), 0.0..top)?,
            // Widened a hair so that the decades at both ends get their labels.
            YScale::Log(floor, top, _) => {
                draw_panel(area, &p, &g.sweep, x.clone(), (floor * 0.999..top * 1.001).log_scale())?
            }
        }
    }
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let mut records = Vec::new();
    let mut left_out = Vec::new();
    for log in &args.log {
        let text = fs::read(log).map_err(|e| format!("{}: {e}", log.display()))?;
        // A console log may hold stray bytes; the lines that matter are ASCII.
        for (n, line) in String::from_utf8_lossy(&text).lines().enumerate() {
            match parse_line(line) {
                None => {}
                Some(Ok(r)) => records.push(r),
                Some(Err(e)) => {
                    eprintln!("bench-curves: {}:{}: skipped: {e}", log.display(), n + 1);
                    left_out.push(format!("- `{}`: {e}", line.trim()));
                }
            }
        }
    }
    if records.is_empty() {
        return Err("no curve-result lines in the log(s)".into());
    }
    let groups = group(&records);
    let mut md = markdown(&groups, &args.log)?;
    if !left_out.is_empty() {
        md.push_str("\n## Points left out\n\n");
        md.push_str(&left_out.join("\n"));
        md.push('\n');
    }
    fs::create_dir_all(&args.out)?;

    let bytes: &'static [u8] = Box::leak(
        fs::read(&args.font)
            .map_err(|e| format!("font {}: {e} (scripts/setup.sh installs fonts-dejavu-core)", args.font.display()))?
            .into_boxed_slice(),
    );
    plotters::style::register_font(FONT, FontStyle::Normal, bytes).map_err(|_| "bad font file")?;
    // One style per method across all charts, in order of first appearance.
    let mut styles: BTreeMap<&str, Style> = BTreeMap::new();
    for r in &records {
        let n = styles.len();
        styles.entry(&r.method).or_insert(Style { color: COLORS[n % COLORS.len()], shape: n });
    }
    for g in &groups {
        render(&args.out.join(chart_name(g)), g, &styles)?;
    }
    fs::write(args.out.join("curves.md"), &md)?;
    print!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
[   12.5] curve-result sweep=size proto=udp method=zcnic x=1048576 bytes=1048576 frames=713 wall_s=0.0125 busy_s=0.0120 syscalls=57 pinned_peak=4194304 rss_peak=5242880
noise line
curve-result sweep=batch proto=udp method=sendmmsg x=16 bytes=33554765 frames=22796 wall_s=1.2 busy_s=1.19 syscalls=1431 pinned_peak=0 rss_peak=35000000
curve-result proto=tcp sweep=window method=zcnic x=4194304 bytes=268435456 frames=- wall_s=4 busy_s=3.9 syscalls=- pinned_peak=8388608 rss_peak=-
";

    fn records(text: &str) -> Vec<Record> {
        text.lines().filter_map(parse_line).map(Result::unwrap).collect()
    }

    fn rec(method: &str, x: u64, wall_s: f64, frames: Option<f64>) -> Record {
        Record {
            sweep: "size".into(),
            proto: "udp".into(),
            method: method.into(),
            x,
            bytes: Some(x as f64),
            frames,
            wall_s: Some(wall_s),
            busy_s: Some(wall_s / 2.0),
            syscalls: Some(10.0),
            pinned_peak: Some(MIB),
            rss_peak: None,
        }
    }

    #[test]
    fn parses_lines_in_any_order_with_dashes() {
        let r = records(SAMPLE);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].sweep, "size");
        assert_eq!(r[0].method, "zcnic");
        assert_eq!(r[0].x, 1048576);
        assert_eq!(r[0].frames, Some(713.0));
        assert_eq!(r[0].busy_s, Some(0.012));
        assert_eq!(r[1].pinned_peak, Some(0.0));
        assert_eq!((r[2].sweep.as_str(), r[2].proto.as_str()), ("window", "tcp"));
        assert_eq!((r[2].frames, r[2].syscalls, r[2].rss_peak), (None, None, None));
        assert_eq!(r[2].wall_s, Some(4.0));
    }

    #[test]
    fn other_lines_are_ignored_and_bad_ones_reported() {
        assert!(parse_line("bench-result method=zcnic wall_s=1").is_none());
        assert!(parse_line("a curve-resulting line").is_none());
        assert!(parse_line("curve-result sweep=size proto=udp method=m x=0").unwrap().is_err());
        assert!(parse_line("curve-result sweep=size proto=udp method=m x=-").unwrap().is_err());
        assert!(parse_line("curve-result sweep=size proto=udp x=4").unwrap().is_err());
        assert!(parse_line("curve-result sweep=size proto=udp method=m x=4 wall_s=fast").unwrap().is_err());
        assert!(parse_line("curve-result sweep=size proto=udp method=m x=4 junk").unwrap().is_err());
        assert!(parse_line("curve-result sweep=size proto=udp method=m x=4 x=5").unwrap().is_err());
        // Unknown keys are fine, missing figures are not measured.
        let r = parse_line("curve-result sweep=size proto=udp method=m x=4 extra=1 busy_s=").unwrap().unwrap();
        assert_eq!((r.bytes, r.wall_s, r.busy_s), (None, None, None));
    }

    #[test]
    fn derived_figures() {
        let f = figures(&records(SAMPLE)[0]);
        assert!((f.fps.unwrap() - 713.0 / 0.0125).abs() < 1e-6);
        assert!((f.mbps.unwrap() - 1048576.0 / 0.0125 / 1e6).abs() < 1e-9);
        assert!((f.cpu_per_mib.unwrap() - 0.012).abs() < 1e-12);
        assert_eq!(f.syscalls_per_mib, Some(57.0));
        assert_eq!(f.pinned_mib, Some(4.0));
        assert_eq!(f.rss_mib, Some(5.0));
        let t = figures(&records(SAMPLE)[2]);
        assert_eq!(t.fps, None);
        assert_eq!(t.syscalls_per_mib, None);
        assert!((t.cpu_per_mib.unwrap() - 3.9 / 256.0).abs() < 1e-12);
        assert!((t.mbps.unwrap() - 268.435456 / 4.0).abs() < 1e-9);
        // No bytes or a zero time: nothing per MiB or per second.
        let mut r = records(SAMPLE)[0].clone();
        r.bytes = Some(0.0);
        r.wall_s = Some(0.0);
        let z = figures(&r);
        assert_eq!((z.fps, z.mbps, z.cpu_per_mib, z.syscalls_per_mib), (None, None, None, None));
    }

    #[test]
    fn median_of_measured_values() {
        assert_eq!(median([Some(3.0), Some(1.0), Some(2.0)]), Some(2.0));
        assert_eq!(median([Some(4.0), Some(1.0), Some(2.0), Some(3.0)]), Some(2.5));
        assert_eq!(median([None, Some(5.0), None]), Some(5.0));
        assert_eq!(median([None, None]), None);
        assert_eq!(median([]), None);
    }

    #[test]
    fn repetitions_become_medians_per_point() {
        let rs = vec![
            rec("zcnic", 1 << 20, 1.0, Some(100.0)),
            rec("zcnic", 1 << 20, 3.0, Some(100.0)),
            rec("zcnic", 1 << 20, 2.0, Some(100.0)),
            rec("kernel", 1 << 30, 1.0, Some(1000.0)),
            rec("zcnic", 1 << 30, 4.0, Some(1000.0)),
        ];
        let groups = group(&rs);
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(g.methods, ["zcnic", "kernel"]);
        assert_eq!(g.xs, [1 << 20, 1 << 30]);
        assert!(g.frames);
        let p = g.get("zcnic", 1 << 20).unwrap();
        assert_eq!(p.reps, 3);
        assert_eq!(p.fig.fps, Some(50.0)); // 100 / 2.0, the median time
        assert_eq!(p.fig.cpu_per_mib, Some(1.0)); // 1.0 s of busy per 1 MiB
        assert!(g.get("kernel", 1 << 20).is_none());
        let md = markdown(&groups, &[PathBuf::from("x.log")]).unwrap();
        assert!(md.contains("![size sweep, UDP: cost curves](curves-size-udp.png)"), "{md}");
        assert!(md.contains("| 1 MiB | 50 | – |"), "{md}");
        assert!(md.contains("Repetitions: 1 to 3 per point"), "{md}");
        // CPU per MiB: 1.0 at 1 MiB, 2/1024 at 1 GiB.
        assert!(md.contains("- zcnic: CPU per MiB varies 512.00x from 1 MiB to 1 GiB"), "{md}");
        assert!(md.contains("pinned memory varies 1.00x from 1 MiB to 1 GiB"), "{md}");
        assert!(md.contains("- kernel: CPU per MiB only measured at 1 GiB"), "{md}");
    }

    #[test]
    fn mbps_for_every_series_when_frames_are_missing() {
        let g = group(&[rec("a", 1024, 1.0, Some(10.0)), rec("b", 1024, 1.0, None)]);
        assert!(!g[0].frames);
        assert_eq!(Figure::Throughput.value(&g[0], g[0].get("a", 1024).unwrap()), Some(1024.0 / 1e6));
        let mut tcp = rec("a", 1024, 1.0, Some(10.0));
        tcp.proto = "tcp".into();
        assert!(!group(&[tcp])[0].frames);
    }

    #[test]
    fn groups_in_sweep_order() {
        let mut a = rec("m", 4, 1.0, None);
        a.sweep = "window".into();
        let mut b = rec("m", 4, 1.0, None);
        b.sweep = "batch".into();
        let c = rec("m", 4, 1.0, None);
        let mut d = rec("m", 4, 1.0, None);
        d.sweep = "other".into();
        let order: Vec<String> = group(&[a, b, c, d]).into_iter().map(|g| g.sweep).collect();
        assert_eq!(order, ["size", "batch", "window", "other"]);
    }

    #[test]
    fn formats() {
        assert_eq!(human_bytes(1048576.0), "1 MiB");
        assert_eq!(human_bytes(64.0 * MIB), "64 MiB");
        assert_eq!(human_bytes(2.0 * 1024.0 * MIB), "2 GiB");
        assert_eq!(human_bytes(1.5 * MIB), "1.5 MiB");
        assert_eq!(human_bytes(1000.0), "1000 B");
        assert_eq!(fmt_x("batch", 64.0), "64");
        assert_eq!(fmt_x("window", 4194304.0), "4 MiB");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(57967.4), "57967");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(fmt_num(0.01234), "0.0123");
        assert_eq!(fmt_num(0.00001), "1.00e-5");
    }

    #[test]
    fn flatness_wording() {
        let mut rs = vec![rec("m", 1 << 20, 1.0, None), rec("m", 1 << 21, 1.0, None)];
        for r in &mut rs {
            r.pinned_peak = Some(0.0);
        }
        let g = group(&rs);
        assert_eq!(
            flatness(&g[0], "m"),
            "m: CPU per MiB varies 2.00x from 1 MiB to 2 MiB (0.25 s/MiB at 2 MiB, 0.5 s/MiB at 1 MiB); \
             pinned memory 0 MiB at every size from 1 MiB to 2 MiB"
        );
        rs[1].pinned_peak = Some(MIB);
        assert!(flatness(&group(&rs)[0], "m")
            .ends_with("pinned memory varies from 0 MiB (at 1 MiB) to 1 MiB (at 2 MiB); no ratio"));
        rs[1].pinned_peak = None;
        rs[0].pinned_peak = None;
        assert!(flatness(&group(&rs)[0], "m").ends_with("pinned memory not measured"));
    }

    #[test]
    fn log_scale_only_beyond_100x() {
        assert!(matches!(y_scale(&[1.0, 50.0]), YScale::Linear(t) if (t - 56.0).abs() < 1e-9));
        assert_eq!(y_scale(&[0.0, 0.0]), YScale::Linear(1.0));
        assert_eq!(y_scale(&[2.0, 500.0]), YScale::Log(1.0, 1000.0, false));
        assert_eq!(y_scale(&[0.0, 2.0, 500.0]), YScale::Log(0.1, 1000.0, true));
    }

    #[test]
    fn a_point_with_a_failed_fetch_is_left_out_with_why() {
        let line = "curve-result sweep=size proto=tcp method=zcnic x=4194637 bytes=67114192 wall_s=901 busy_s=1 failed=1";
        let err = parse_line(line).unwrap().unwrap_err();
        assert!(err.contains("failed=1"), "{err}");
        let ok = parse_line("curve-result sweep=size proto=tcp method=zcnic x=4194637 bytes=1 failed=0").unwrap();
        assert!(ok.is_ok(), "failed=0 is a good point");
    }
}
