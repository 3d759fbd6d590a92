//! The Rust side of the QEMU test bed (`scripts/testbed.sh`): boot a guest
//! with emulated NICs behind an emulated IOMMU, run a command in it, and read
//! back its exit status, its output, the guest's kernel log and the pcap of
//! every NIC.
//!
//! A missing prerequisite (QEMU, busybox, the guest kernel) fails the test
//! with the test bed's message, which says to run `scripts/setup.sh`.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Shell for a guest with the full kernel and two NICs: NIC 0 goes to
/// vfio-pci (for zcnic), NIC 1 to the kernel's own e1000/e1000e driver as
/// interface `$IF` with 10.0.0.2/24, link up.
pub const KERNEL_PEER_SETUP: &str = r#"
echo vfio-pci > /sys/bus/pci/devices/$NIC0/driver_override; echo $NIC0 > /sys/bus/pci/drivers_probe
modprobe e1000; modprobe e1000e; modprobe igb
IF=$(ls /sys/bus/pci/devices/$NIC1/net/)
# No IPv6 on the peer: its multicast joins rewrite the e1000's RCTL, and QEMU then
# holds the receiver off for a second and drops what overflows the ring.
echo 1 > /proc/sys/net/ipv6/conf/$IF/disable_ipv6
ip addr add 10.0.0.2/24 dev $IF; ip link set $IF up
i=0; while [ "$(cat /sys/class/net/$IF/carrier 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
"#;

/// MAC the test bed gives NIC 0 (`mac=52:54:00:12:34:50`).
pub const MAC0: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x50];

/// Frame `seq` of `size` bytes as the packet-send example documents it,
/// written out here independently of the example's code.
pub fn packet_send_frame(seq: u64, size: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(size);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&MAC0);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(&seq.to_be_bytes());
    while f.len() < size {
        f.push((f.len() as u64 + seq) as u8);
    }
    f
}

/// Exit status testbed.sh uses when the test bed itself failed.
const TESTBED_FAILED: i32 = 125;
/// Exit status testbed.sh uses when the guest gave no status in time.
const TESTBED_TIMEOUT: i32 = 124;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn testbed_script() -> PathBuf {
    repo_root().join("scripts/testbed.sh")
}

/// The output of step `name` of a guest command: what follows its
/// `=== name` marker line, up to the next `===` marker.
pub fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let marker = format!("=== {name}\n");
    let start = out.find(&marker).unwrap_or_else(|| panic!("step {name} did not run:\n{out}")) + marker.len();
    let rest = &out[start..];
    &rest[..rest.find("=== ").unwrap_or(rest.len())]
}

/// Deterministic file contents (xorshift64), so a test can rebuild what it sent.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// SHA-256 as lowercase hex, the form `sha256sum` prints in the guest.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Build a 400 MiB ext4 image at `image` holding the files under `src`
/// (attached to a guest with [`Guest::disk`] and mounted at /disk).
pub fn make_ext4_image(src: &Path, image: &Path) {
    let mkfs = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(src)
        .arg(image)
        .arg("400M")
        .status()
        .expect("mkfs.ext4 (e2fsprogs) is needed: run scripts/setup.sh");
    assert!(mkfs.success(), "mkfs.ext4 failed to build {}", image.display());
}

/// Where the static guest binaries are (also runnable on the host).
pub fn guest_bin(name: &str) -> PathBuf {
    ensure_built();
    let target = std::env::var_os("ZCNIC_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/guest"));
    let release = target.join("x86_64-unknown-linux-gnu/release");
    let bin = release.join(name);
    if bin.exists() {
        bin
    } else {
        release.join("examples").join(name)
    }
}

/// Build the static guest binaries once per test process.
fn ensure_built() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        let out = Command::new("bash")
            .arg(testbed_script())
            .arg("--build-only")
            .output()
            .map_err(|e| format!("cannot run scripts/testbed.sh: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "building the static guest binaries failed (exit {:?}):\n{}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Which guest kernel to boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Debian's cloud kernel: boots fast, has no e1000 driver of its own.
    Cloud,
    /// Debian's full kernel: has e1000/e1000e (for kernel-owned peers).
    Full,
}

/// A guest to boot.
#[derive(Debug, Clone)]
pub struct Guest {
    name: String,
    nics: Vec<&'static str>,
    kernel: Kernel,
    hugepages: u32,
    bind: bool,
    timeout_secs: u32,
    fetch: Vec<String>,
    files: Vec<(PathBuf, String)>,
    disk: Option<PathBuf>,
    mem_mb: u32,
    udp_link: Option<u16>,
    smp: u32,
}

impl Guest {
    /// A guest for test `name` (its results go to a folder of that name).
    pub fn new(name: &str) -> Guest {
        Guest {
            name: name.to_string(),
            nics: Vec::new(),
            kernel: Kernel::Cloud,
            hugepages: 16,
            bind: true,
            timeout_secs: 240,
            fetch: Vec::new(),
            files: Vec::new(),
            disk: None,
            mem_mb: 512,
            udp_link: None,
            smp: 1,
        }
    }

    /// Connect NIC 0 and NIC 1 through a relay on the host instead of a hub
    /// (see [`LossyLink`]), on UDP ports from `base`.
    pub fn udp_link(mut self, base: u16) -> Guest {
        self.udp_link = Some(base);
        self
    }

    /// Give the guest this many vCPUs (multi-threaded TCG uses the host's cores).
    pub fn smp(mut self, vcpus: u32) -> Guest {
        self.smp = vcpus;
        self
    }

    /// Add an emulated NIC: "e1000", "e1000e" or "igb".
    pub fn nic(mut self, model: &'static str) -> Guest {
        self.nics.push(model);
        self
    }

    /// Boot this kernel.
    pub fn kernel(mut self, kernel: Kernel) -> Guest {
        self.kernel = kernel;
        self
    }

    /// Reserve this many 2 MiB hugepages in the guest.
    pub fn hugepages(mut self, n: u32) -> Guest {
        self.hugepages = n;
        self
    }

    /// Leave the NICs unbound instead of binding them to vfio-pci.
    pub fn unbound(mut self) -> Guest {
        self.bind = false;
        self
    }

    /// Put a host file into the guest at `guest_path`.
    pub fn file(mut self, host: &Path, guest_path: &str) -> Guest {
        self.files.push((host.to_path_buf(), guest_path.to_string()));
        self
    }

    /// Attach an ext4 disk image (read-only), mounted at /disk in the guest.
    pub fn disk(mut self, image: &Path) -> Guest {
        self.disk = Some(image.to_path_buf());
        self
    }

    /// Guest RAM in MiB.
    pub fn mem(mut self, mb: u32) -> Guest {
        self.mem_mb = mb;
        self
    }

    /// Wall-clock limit for the whole guest run.
    pub fn timeout(mut self, secs: u32) -> Guest {
        self.timeout_secs = secs;
        self
    }

    /// After the command, copy this guest file back (see [`GuestRun::fetched`]).
    pub fn fetch(mut self, guest_path: &str) -> Guest {
        self.fetch.push(guest_path.to_string());
        self
    }

    fn command(&self, command: &str, monitor: Option<&Path>) -> (Command, PathBuf) {
        ensure_built();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("testbed").join(&self.name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the results folder");
        let mut cmd = Command::new("bash");
        cmd.arg(testbed_script()).arg("--no-build").arg("--out").arg(&dir);
        for nic in &self.nics {
            cmd.arg("--nic").arg(nic);
        }
        cmd.arg("--kernel").arg(match self.kernel {
            Kernel::Cloud => "cloud",
            Kernel::Full => "full",
        });
        cmd.arg("--hugepages").arg(self.hugepages.to_string());
        cmd.arg("--timeout").arg(self.timeout_secs.to_string());
        if !self.bind {
            cmd.arg("--no-bind");
        }
        for path in &self.fetch {
            cmd.arg("--fetch").arg(path);
        }
        if let Some(image) = &self.disk {
            cmd.arg("--disk").arg(image);
        }
        if let Some(sock) = monitor {
            cmd.arg("--monitor").arg(sock);
        }
        if let Some(base) = self.udp_link {
            cmd.arg("--udp-link").arg(base.to_string());
        }
        cmd.arg("--mem").arg(self.mem_mb.to_string());
        cmd.arg("--smp").arg(self.smp.to_string());
        for (host, guest) in &self.files {
            cmd.arg("--file").arg(format!("{}:{guest}", host.display()));
        }
        cmd.arg("--").arg(command);
        (cmd, dir)
    }

    /// Boot, run `command` (a shell command; `$NIC0`, `$MAC0`... are set), shut down.
    pub fn run(&self, command: &str) -> GuestRun {
        let (mut cmd, dir) = self.command(command, None);
        let out = cmd.output().expect("run scripts/testbed.sh");
        finish(out, dir, self.nics.len())
    }

    /// Boot and run `command` in the background, with QEMU's monitor on a
    /// socket, so the test can inject faults while the guest runs.
    pub fn spawn(&self, command: &str) -> RunningGuest {
        let sock = std::env::temp_dir().join(format!("zcnic-mon-{}-{}.sock", std::process::id(), self.name));
        let _ = fs::remove_file(&sock);
        let (mut cmd, dir) = self.command(command, Some(&sock));
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start scripts/testbed.sh");
        RunningGuest {
            child,
            dir,
            monitor: sock,
            monitor_conn: std::sync::Mutex::new(None),
            nic_count: self.nics.len(),
        }
    }
}

/// A guest running in the background (see [`Guest::spawn`]).
pub struct RunningGuest {
    child: std::process::Child,
    dir: PathBuf,
    monitor: PathBuf,
    monitor_conn: std::sync::Mutex<Option<std::os::unix::net::UnixStream>>,
    nic_count: usize,
}

impl RunningGuest {
    /// Wait until the guest's console shows `needle`; false on timeout.
    pub fn wait_for_console(&self, needle: &str, timeout: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            if fs::read_to_string(self.dir.join("console.log")).is_ok_and(|c| c.contains(needle)) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// Send one command to QEMU's monitor and return what it answered (up to
    /// its next prompt). One connection serves every command of the run.
    pub fn monitor(&self, command: &str) -> String {
        use std::io::Write;
        let mut slot = self.monitor_conn.lock().unwrap();
        if slot.is_none() {
            let start = std::time::Instant::now();
            let stream = loop {
                match std::os::unix::net::UnixStream::connect(&self.monitor) {
                    Ok(s) => break s,
                    Err(e) if start.elapsed() > std::time::Duration::from_secs(30) => {
                        panic!("connect to the QEMU monitor {}: {e}", self.monitor.display())
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            };
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            *slot = Some(stream);
            // The banner ends with the first prompt.
            let _ = read_to_prompt(slot.as_mut().unwrap());
        }
        let s = slot.as_mut().unwrap();
        s.write_all(format!("{command}\n").as_bytes()).expect("write to the QEMU monitor");
        read_to_prompt(s)
    }

    /// Wait for the guest to finish and collect its results.
    pub fn finish(self) -> GuestRun {
        drop(self.monitor_conn);
        let out = self.child.wait_with_output().expect("wait for scripts/testbed.sh");
        let _ = fs::remove_file(&self.monitor);
        finish(out, self.dir, self.nic_count)
    }
}

/// Read from the monitor until its "(qemu) " prompt (or a timeout).
fn read_to_prompt(s: &mut std::os::unix::net::UnixStream) -> String {
    use std::io::Read;
    let mut answer = String::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
        if answer.trim_end().ends_with("(qemu)") {
            break;
        }
    }
    answer
}

fn finish(out: std::process::Output, dir: PathBuf, nic_count: usize) -> GuestRun {
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap_or_default();
    match code {
        TESTBED_FAILED => panic!(
            "the QEMU test bed could not run (exit 125): {stderr}\n\
             If something is missing, run scripts/setup.sh. Results in {}",
            dir.display()
        ),
        TESTBED_TIMEOUT => panic!(
            "the guest gave no exit status (timeout or crash): {stderr}\nconsole:\n{}",
            tail(&read("console.log"), 60)
        ),
        _ => {}
    }
    let run = GuestRun { status: code, output: read("output.log"), dmesg: read("dmesg.log"), dir, nic_count };
    run.assert_no_dmar_faults();
    run
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// What a guest run left behind.
#[derive(Debug)]
pub struct GuestRun {
    /// The command's exit status.
    pub status: i32,
    /// What the command printed (stdout and stderr).
    pub output: String,
    /// The guest kernel's log, taken after the command.
    pub dmesg: String,
    /// Where the files are.
    pub dir: PathBuf,
    nic_count: usize,
}

/// Lines of a kernel log that report an IOMMU (DMAR) fault.
pub fn dmar_faults(dmesg: &str) -> Vec<&str> {
    dmesg
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("dmar")
                && (l.contains("handling fault")
                    || l.contains("fault addr")
                    || l.contains("fault reason")
                    || l.contains("[dma read")
                    || l.contains("[dma write")
                    || l.contains("pte read access")
                    || l.contains("pte write access"))
        })
        .collect()
}

impl GuestRun {
    /// Frames captured on NIC `i` (both directions), in order.
    pub fn frames(&self, i: usize) -> Vec<Vec<u8>> {
        assert!(i < self.nic_count, "the guest has {} NICs", self.nic_count);
        read_pcap(&self.dir.join(format!("nic{i}.pcap")))
    }

    /// Where a file named with [`Guest::fetch`] landed on the host.
    pub fn fetched(&self, basename: &str) -> PathBuf {
        let p = self.dir.join("fetched").join(basename);
        assert!(p.exists(), "{basename} was not fetched from the guest (results in {})", self.dir.display());
        p
    }

    /// Fail with the context needed to debug, unless the command exited `code`.
    pub fn assert_status(&self, code: i32) -> &Self {
        assert_eq!(
            self.status,
            code,
            "guest command exited {} (wanted {code}); output:\n{}\n-- results in {}",
            self.status,
            self.output,
            self.dir.display()
        );
        self
    }

    fn assert_no_dmar_faults(&self) {
        let faults = dmar_faults(&self.dmesg);
        assert!(
            faults.is_empty(),
            "the guest kernel logged IOMMU faults (the NIC touched memory it was not given):\n{}\n-- results in {}",
            faults.join("\n"),
            self.dir.display()
        );
        assert!(!self.dmesg.is_empty(), "no guest kernel log was captured; see {}", self.dir.display());
    }
}

/// Every packet in a pcap file.
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut reader =
        pcap_file::pcap::PcapReader::new(file).unwrap_or_else(|e| panic!("{} is not a pcap file: {e}", path.display()));
    let mut frames = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.unwrap_or_else(|e| panic!("corrupt packet in {}: {e}", path.display()));
        assert_eq!(pkt.data.len() as u32, pkt.orig_len, "truncated capture in {}", path.display());
        frames.push(pkt.data.into_owned());
    }
    frames
}

#[test]
fn dmar_fault_lines_are_recognised() {
    let log = "[    0.100000] DMAR: Host address width 39\n\
               [    0.200000] DMAR: Intel(R) Virtualization Technology for Directed I/O\n\
               [    0.300000] DMAR-IR: Enabled IRQ remapping in x2apic mode\n\
               [    5.000000] DMAR: DRHD: handling fault status reg 2\n\
               [    5.000001] DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7f0000 [fault reason 0x06] PTE Read access is not set\n";
    let faults = dmar_faults(log);
    assert_eq!(faults.len(), 2, "{faults:?}");
    assert!(dmar_faults(&log.lines().take(3).collect::<Vec<_>>().join("\n")).is_empty());
}

/// A lossy, reordering link between NIC 0 and NIC 1 of a guest booted with
/// [`Guest::udp_link`]: a thread on the host relays the frames QEMU sends over
/// UDP, dropping a seeded fraction of them and holding some back behind the
/// next. It runs until dropped; it counts what it did.
pub struct LossyLink {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    counts: std::sync::Arc<std::sync::Mutex<(u64, u64, u64)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl LossyLink {
    /// Relay between the ports of `base` with `loss` and `reorder` (0.0 to 1.0), seeded.
    pub fn start(base: u16, loss: f64, reorder: f64, seed: u64) -> LossyLink {
        use std::net::UdpSocket;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new((0, 0, 0)));
        let from0 = UdpSocket::bind(("127.0.0.1", base + 10)).expect("bind the relay's port for NIC 0");
        let from1 = UdpSocket::bind(("127.0.0.1", base + 11)).expect("bind the relay's port for NIC 1");
        let mut threads = Vec::new();
        // NIC0 -> NIC1 leaves from NIC1's relay port (QEMU only takes datagrams from its peer), and back.
        for (rx, tx, to, salt) in
            [(from0.try_clone().unwrap(), from1.try_clone().unwrap(), base + 1, 1u64), (from1, from0, base, 2u64)]
        {
            let (stop, counts) = (Arc::clone(&stop), Arc::clone(&counts));
            rx.set_read_timeout(Some(std::time::Duration::from_millis(50))).unwrap();
            threads.push(std::thread::spawn(move || {
                let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt | 1;
                let mut rand = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 11) as f64 / (1u64 << 53) as f64
                };
                let mut held: Option<Vec<u8>> = None;
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = rx.recv(&mut buf) else {
                        // Quiet: let a held frame go rather than keep it forever.
                        if let Some(f) = held.take() {
                            let _ = tx.send_to(&f, ("127.0.0.1", to));
                        }
                        continue;
                    };
                    let mut c = counts.lock().unwrap();
                    c.0 += 1;
                    if rand() < loss {
                        c.1 += 1;
                        continue;
                    }
                    let frame = buf[..n].to_vec();
                    if held.is_none() && rand() < reorder {
                        c.2 += 1;
                        held = Some(frame);
                        continue;
                    }
                    let _ = tx.send_to(&frame, ("127.0.0.1", to));
                    if let Some(f) = held.take() {
                        let _ = tx.send_to(&f, ("127.0.0.1", to));
                    }
                }
            }));
        }
        LossyLink { stop, counts, threads }
    }

    /// Frames seen, dropped, and delivered out of order so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        *self.counts.lock().unwrap()
    }
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
