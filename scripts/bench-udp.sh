#!/usr/bin/env bash
# The UDP benchmark (one part of scripts/bench.sh): zcnic against the kernel's
# ways of sending a file, side by side in one QEMU guest, plus the driver's own
# cost per frame without the emulator.
#
#   scripts/bench-udp.sh [--reps N] [--size BYTES] [--nic e1000|e1000e|igb] [--queues N] [--smp N] [--out DIR]
#                        [--no-micro]
#   (--no-micro: skip the criterion microbenchmarks and report the last run's)
#   (--queues is zcnic's TX queues, each sent from by a thread of its own, igb
#   only; results go to DIR, by default results/<date>/udp-<nic>[-<N>q-<M>cpu])
#   About 8 minutes with 3 repetitions.
#
# 1. criterion microbenchmarks: TX ring, RX ring, zero-copy TX path per frame
#    at batch 1, 8, 32, 128 (no device, no syscalls).
# 2. One guest (Debian's full kernel, 1 vCPU, TCG, emulated Intel IOMMU in
#    translated mode, i.e. no iommu=pt) with two NICs of the same model on one
#    hub: NIC 1 belongs to the kernel's driver, NIC 0 to zcnic. The same file (an
#    odd length of about 32 MiB, on ext4 on a virtio disk, page cache warmed
#    first) is sent as 1472-byte UDP datagrams to a unicast MAC no NIC owns
#    (so no peer slows things down), by read+write, mmap+write, sendfile,
#    splice, O_DIRECT+write, sendmmsg (batches of 64), UDP GSO (UDP_SEGMENT)
#    MSG_ZEROCOPY and io_uring's zero-copy send through the kernel, by zcnic, and as fixed frames by
#    a raw VFIO sender (the emulator's ceiling). No pcap (it would slow QEMU).
#    Then the count pass, not timed: each method once more under syscount (a
#    ptrace counter, examples/syscount.rs), on the file and on its first
#    quarter; the report's syscall figures come from it.
# 3. DIR/report.md, chart.png, raw-results.txt, and row.kv (the figures the
#    summary of scripts/bench.sh takes from this run).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
reps=3 size=$((32 * 1024 * 1024 + 333)) nic=e1000 queues=1 smp=1 out="" micro=1
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --nic) nic="$2"; shift 2 ;;
        --queues) queues="$2"; shift 2 ;;
        --smp) smp="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-micro) micro=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

"$root/scripts/setup.sh"
cd "$root"
if [ "$micro" -eq 1 ]; then
    echo "==> criterion microbenchmarks (the driver's own cost per frame)"
    cargo bench -q -p zcnic-ring --bench rings -- --warm-up-time 1 --measurement-time 3 >/dev/null
    cargo bench -q -p zcnic-driver --bench tx_path -- --warm-up-time 1 --measurement-time 3 >/dev/null
fi

work="$root/target/bench"
rm -rf "$work"; mkdir -p "$work/src"
head -c "$size" /dev/urandom > "$work/src/bench.bin"
# The count pass also sends the first quarter of the file: syscalls per frame
# are the difference between the two, over the difference in frames.
head -c "$(( size / 4 ))" "$work/src/bench.bin" > "$work/src/bench-quarter.bin"
mkfs.ext4 -q -F -d "$work/src" "$work/disk.ext4" "$(( size * 5 / 4 / 1048576 + 64 ))M"
rm -rf "$work/src"

echo "==> the guest benchmark ($reps repetitions of 11 methods, $size bytes, $nic, zcnic on $queues queue(s), $smp vCPU(s); then a count pass under syscount)"
"$root/scripts/testbed.sh" --kernel full --no-bind --no-pcap --smp "$smp" --nic "$nic" --nic "$nic" \
    --disk "$work/disk.ext4" --timeout 900 --out "$work/guest" -- "
echo vfio-pci > /sys/bus/pci/devices/\$NIC0/driver_override; echo \$NIC0 > /sys/bus/pci/drivers_probe
modprobe e1000; modprobe e1000e; modprobe igb
IF=\$(ls /sys/bus/pci/devices/\$NIC1/net/)
ip addr add 10.0.0.1/24 dev \$IF; ip link set \$IF up
i=0; while [ \"\$(cat /sys/class/net/\$IF/carrier 2>/dev/null)\" != 1 ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
arp -s 10.0.0.9 02:00:00:00:00:01
F=/disk/bench.bin Q=/disk/bench-quarter.bin
datagrams() { echo \$(( (\$(stat -c %s \$1) + 1471) / 1472 )); }
N=\$(datagrams \$F)
cat \$F \$Q > /dev/null
rep=0
while [ \$rep -lt $reps ]; do
  rep=\$((rep+1))
  for m in read-write mmap-write sendfile splice odirect-write sendmmsg udp-gso msg-zerocopy io-uring-zc; do
    kernel-send --method \$m --file \$F --dst 10.0.0.9:9000 --iface \$IF || exit 1
  done
  zcnic send --pci \$NIC0 --queues $queues --file \$F --src 10.0.0.1 --dst 10.0.0.9:9000 --dst-mac 02:00:00:00:00:01 --kv > /tmp/z.log 2>&1 || { cat /tmp/z.log; exit 1; }
  grep bench-result /tmp/z.log
  packet-send --pci \$NIC0 --count \$N --size 1514 --dst-mac 02:00:00:00:00:01 --kv > /tmp/p.log 2>&1 || { cat /tmp/p.log; exit 1; }
  grep bench-result /tmp/p.log
done
# counted METHOD DATAGRAMS COMMAND...: COMMAND under syscount, its output kept out of the log.
counted() {
  m=\$1 n=\$2; shift 2
  syscount --kv --out /tmp/count.txt -- \"\$@\" > /tmp/c.log 2>&1 || { cat /tmp/c.log; exit 1; }
  echo \"count-result method=\$m datagrams=\$n \$(cat /tmp/count.txt)\"
}
for G in \$F \$Q; do
  n=\$(datagrams \$G)
  for m in read-write mmap-write sendfile splice odirect-write sendmmsg udp-gso msg-zerocopy io-uring-zc; do
    counted \$m \$n kernel-send --method \$m --file \$G --dst 10.0.0.9:9000 --iface \$IF
  done
  counted zcnic \$n zcnic send --pci \$NIC0 --queues $queues --file \$G --src 10.0.0.1 --dst 10.0.0.9:9000 --dst-mac 02:00:00:00:00:01
  counted raw-frames \$n packet-send --pci \$NIC0 --count \$n --size 1514 --dst-mac 02:00:00:00:00:01
done"

date="$(date -u +%Y-%m-%d)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
qemu="$(qemu-system-x86_64 --version | head -1)"
kernel="$(basename "$(readlink -f "${ZCNIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zcnic}/kernel-full")")"
if [ -z "$out" ]; then
    out="$root/results/$date/udp-$nic"
    if [ "$queues" != 1 ] || [ "$smp" != 1 ]; then out="$out-${queues}q-${smp}cpu"; fi
fi
# On the igb, Linux hands UDP_SEGMENT sends to the NIC, and QEMU's igb model
# cuts them into IP fragments, not datagrams, while the driver counts one frame
# per datagram (tests/kernel_methods.rs keeps an eye on it): not comparable.
wire_invalid=()
[ "$nic" != igb ] || wire_invalid=(--wire-invalid "udp-gso=on the igb, Linux hands each UDP_SEGMENT send to the NIC to cut (UDP segmentation offload, on from the 82576), and QEMU's igb model cuts it into IP fragments of one large datagram instead of separate datagrams, while the kernel's frame counter (tx_packets) counts one frame per datagram; on silicon the NIC would send proper datagrams (tests/kernel_methods.rs checks the emulator still does this)")
"$root/target/guest/x86_64-unknown-linux-gnu/release/examples/bench-report" \
    --log "$work/guest/output.log" --out "$out" --criterion "$root/target/criterion" \
    --meta "date=$date" "host=$cpu, $(nproc) cores" "emulator=$qemu, TCG (no KVM), $smp vCPU(s), q35" \
    "guest kernel=$kernel" "nic=$nic (both NICs); zcnic on $queues TX queue(s), a thread each" \
    "IOMMU=emulated intel-iommu, translated mode for the kernel's NIC (no iommu=pt), VFIO Type1v2 for zcnic's" \
    "file=$size bytes on ext4 on virtio-blk, page cache warm" \
    "destination=unicast MAC owned by no NIC; frames counted by the NIC's counters (kernel: tx_packets; zcnic: DD write-backs)" \
    --row "protocol=udp" "nic=$nic" "queues=$queues" "vcpus=$smp" "${wire_invalid[@]}" > /dev/null
echo "==> results in ${out#"$root"/}"

