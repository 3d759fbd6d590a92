#!/usr/bin/env bash
# The emulator's share of the cost, measured from the host: QEMU profiled with
# perf while, in its guest, zcnic and the kernel's best UDP method send the
# same file, and the host CPU per frame split into guest code, TCG's runtime,
# the device emulation behind the guest's register accesses (the NIC model),
# the host kernel and QEMU's other threads (examples/perf-split.rs).
#
#   scripts/bench-profile.sh [--nic e1000|e1000e|igb] [--size BYTES] [--out DIR] [--quick]
#   (DIR: by default results/<date>/profile; about 4 minutes, --quick 2)
#
# One guest (Debian's full kernel, 1 vCPU, TCG, emulated Intel IOMMU), two NICs
# of the model on one hub, NIC 0 for zcnic, NIC 1 the kernel's, the file (256
# MiB, an odd length) on ext4 on a virtio disk, page cache warm, sent as 1472-
# byte datagrams to a MAC no NIC owns. QEMU runs with -perfmap, so perf can
# tell guest user-space code from guest kernel code.
#
# Phases, each announced on the guest console; the host starts
#   perf record -e cpu-clock -F 499 --call-graph dwarf -p <QEMU>
# on the announcement, the guest waits 4 s, runs the phase, says it is done,
# and the host stops perf:
#   idle        the guest doing nothing for 2 s (what QEMU costs at rest)
#   zcnic-start zcnic info: opening the NIC, bring-up, stop (no frames)
#   zcnic       zcnic send of the file
#   udp-gso     kernel-send --method udp-gso (the best kernel UDP method)
#   raw         packet-send of as many fixed frames (the emulator's ceiling)
# zcnic's per-frame figures have zcnic-start's samples taken out.
#
# What perf can and cannot see here: the host has no hardware counters (only
# cpu-clock sampling, ~2 ms per sample at 499 Hz) and Debian's QEMU is
# stripped with no reachable debug symbols, so classes come from QEMU's
# exported function names (memory_region_dispatch_* marks device
# emulation), the JIT map and the DSO of each frame; QEMU's static functions
# inside the NIC model cannot be named one by one. Under TCG an "exit into the
# emulator" is a function call from translated code into the softmmu slow
# path, not a VM exit; its own cost falls in the TCG runtime class.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nic=e1000 size=$((256 * 1024 * 1024 + 333)) out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --nic) nic="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --quick) size=$((32 * 1024 * 1024 + 333)); shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "bench-profile.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$out" ] || out="$root/results/$(date -u +%Y-%m-%d)/profile"
command -v perf > /dev/null || { echo "bench-profile.sh: perf is missing: run scripts/setup.sh (it installs linux-perf)" >&2; exit 1; }
perf stat -e cpu-clock true > /dev/null 2>&1 \
    || { echo "bench-profile.sh: perf cannot sample here (perf stat -e cpu-clock true failed; perf_event_paranoid or the container forbids it)" >&2; exit 1; }

"$root/scripts/setup.sh"
cargo build -q --release --example perf-split --manifest-path "$root/Cargo.toml"
work="$root/target/bench-profile"
rm -rf "$work"; mkdir -p "$work/src"
head -c "$size" /dev/urandom > "$work/src/f.bin"
mkfs.ext4 -q -F -d "$work/src" "$work/disk.ext4" "$(( size / 1048576 + 64 ))M"
rm -rf "$work/src"

echo "==> the guest ($nic, $size bytes), QEMU under perf"
# shellcheck disable=SC2016 # $NIC0, $IF... expand in the guest
"$root/scripts/testbed.sh" --kernel full --no-bind --no-pcap --nic "$nic" --nic "$nic" --mem 768 \
    --qemu-arg -perfmap --disk "$work/disk.ext4" --timeout 900 --out "$work/guest" -- '
echo vfio-pci > /sys/bus/pci/devices/$NIC0/driver_override; echo $NIC0 > /sys/bus/pci/drivers_probe
modprobe e1000; modprobe e1000e; modprobe igb
IF=$(ls /sys/bus/pci/devices/$NIC1/net/)
echo 1 > /proc/sys/net/ipv6/conf/$IF/disable_ipv6
ip addr add 10.0.0.1/24 dev $IF; ip link set $IF up
i=0; while [ "$(cat /sys/class/net/$IF/carrier 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
arp -s 10.0.0.9 02:00:00:00:00:01
F=/disk/f.bin; N=$(( ($(stat -c %s $F) + 1471) / 1472 ))
cat $F > /dev/null
phase() {
  name=$1; shift
  echo "profile-phase $name begin"; sleep 4
  "$@" > /tmp/phase.log 2>&1 || { echo "phase $name FAILED"; cat /tmp/phase.log; }
  echo "profile-phase $name end $(grep "^bench-result" /tmp/phase.log)"; sleep 2
}
phase idle sleep 2
phase zcnic-start zcnic info --pci $NIC0
phase zcnic zcnic send --pci $NIC0 --file $F --src 10.0.0.1 --dst 10.0.0.9:9000 --dst-mac 02:00:00:00:00:01 --kv
phase udp-gso kernel-send --method udp-gso --file $F --dst 10.0.0.9:9000 --iface $IF
phase raw packet-send --pci $NIC0 --count $N --size 1514 --dst-mac 02:00:00:00:00:01 --kv
echo "profile done"
' > "$work/testbed.log" 2>&1 &
bed=$!

console="$work/guest/console.log"
qemu_pid() { pgrep -f "^qemu-system-x86_64 .*$work/guest/console.log" | head -n 1; }
perf_pid="" phase="" seen=0 qemu=""
while kill -0 "$bed" 2> /dev/null; do
    if [ -f "$console" ]; then
        # New announcements since the last look, in order.
        mapfile -t lines < <(grep -a "^profile-phase " "$console" | tail -n +"$(( seen + 1 ))")
        for line in "${lines[@]}"; do
            seen=$(( seen + 1 ))
            read -r _ name what _ <<< "$line"
            if [ "$what" = begin ]; then
                pid=$(qemu_pid)
                [ -n "$pid" ] || { echo "bench-profile.sh: no QEMU process found" >&2; break; }
                qemu=$pid
                perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$pid" -o "$work/$name.data" \
                    > "$work/perf-$name.log" 2>&1 &
                perf_pid=$! phase=$name
            elif [ -n "$perf_pid" ] && [ "$name" = "$phase" ]; then
                kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=""
                echo "  phase $name profiled"
            fi
        done
    fi
    sleep 0.2
done
wait "$bed" || { tail -n 5 "$work/testbed.log"; echo "bench-profile.sh: the guest failed (see $work/guest)" >&2; exit 1; }
log="$work/guest/output.log"
grep -q "^profile done" "$log" || { echo "bench-profile.sh: the guest did not finish (see $log)" >&2; exit 1; }

frames_of() { grep "^profile-phase $1 end" "$log" | tr ' ' '\n' | sed -n 's/^frames=//p' | head -n 1; }
args=()
for name in idle zcnic-start zcnic udp-gso raw; do
    perf script -i "$work/$name.data" -F comm,tid,ip,sym,dso > "$work/$name.txt" 2> /dev/null
    n=$(frames_of "$name"); args+=(--phase "$name=$work/$name.txt:${n:-0}")
done
# QEMU's -perfmap file named the translated blocks for perf script; not needed any more.
[ -z "$qemu" ] || rm -f "/tmp/perf-$qemu.map"
mkdir -p "$out"
cp "$log" "$out/raw.txt"
{
    echo "# Where the emulator's CPU goes, per frame, measured on the host"
    echo
    echo "- **how**: QEMU ($(qemu-system-x86_64 --version | head -n 1), TCG, 1 vCPU, $nic x2 on a hub) sampled by \`perf record -e cpu-clock -F 499 --call-graph dwarf\` on the host during each phase; every sample is classified by its call chain (examples/perf-split.rs); one sample is 1/499 s of one QEMU thread on a host CPU"
    echo "- **file**: $size bytes, 1472-byte datagrams, page cache warm; zcnic's phase less the samples of its start-up (zcnic info: open, bring-up, stop)"
    echo "- **cannot be measured here**: hardware counters (none in this VM: cycles, instructions, cache misses); names of QEMU's static functions (Debian's QEMU is stripped and its debug symbols are not reachable), so the NIC model's own code cannot be told from the DMA, IOMMU and memory copies it calls: they are one class; under TCG there are no VM exits to count"
    echo
    "$root/target/release/examples/perf-split" --hz 499 "${args[@]}" --baseline zcnic=zcnic-start --kv "$out/row.kv"
} > "$out/report.md"
cat "$out/report.md"
echo "==> results in ${out#"$root"/}"
