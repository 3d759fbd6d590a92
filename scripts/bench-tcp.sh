#!/usr/bin/env bash
# The TCP benchmark: the same file fetched by the same client (busybox wget in
# the guest) from the guest kernel's best (sendfile(2) on an ordinary socket,
# the kernel's e1000 driver segmenting with TSO) and from `zcnic serve`, side
# by side in one boot.
#
#   scripts/bench-tcp.sh [--size BYTES] [--reps N]
#
# One guest (Debian's full kernel, 1 vCPU, TCG, emulated Intel IOMMU) with three
# e1000s on one hub: NIC 0 for zcnic serve (10.0.0.1), NIC 1 for the client
# (10.0.0.2), NIC 2 for the kernel's server (10.0.0.3, in its own network
# namespace so the client's traffic crosses the NICs, not loopback). The file
# (an odd length, about 64 MiB) is on ext4 on a virtio disk, page cache warm.
# Throughput: file bytes over the client's wall time per fetch (/proc/uptime,
# 10 ms). CPU: getrusage of the serving process over all its fetches, per MiB
# (the kernel's softirq work for the socket may land on other tasks: the
# kernel server's figure is a lower bound). Syscalls: a separate count pass,
# each server under syscount for one fetch, the whole command, per MiB.
# Writes results/<date>-tcp/report.md and raw.txt.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
size=$((64 * 1024 * 1024 + 777)) reps=3
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "bench-tcp.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

"$root/scripts/setup.sh"
work="$root/target/bench-tcp"
rm -rf "$work"; mkdir -p "$work/src"
head -c "$size" /dev/urandom > "$work/src/f.bin"
mkfs.ext4 -q -F -d "$work/src" "$work/disk.ext4" "$(( size / 1048576 + 64 ))M"
rm -rf "$work/src"

echo "==> the guest TCP benchmark ($reps fetches per server, $size bytes)"
# shellcheck disable=SC2016 # $NIC0, $IF... expand in the guest
"$root/scripts/testbed.sh" --kernel full --no-bind --no-pcap --nic e1000 --nic e1000 --nic e1000 \
    --disk "$work/disk.ext4" --timeout 1500 --mem 768 --out "$work/guest" -- '
echo vfio-pci > /sys/bus/pci/devices/$NIC0/driver_override; echo $NIC0 > /sys/bus/pci/drivers_probe
modprobe e1000
IF1=$(ls /sys/bus/pci/devices/$NIC1/net/); IF2=$(ls /sys/bus/pci/devices/$NIC2/net/)
for i in $IF1 $IF2; do echo 1 > /proc/sys/net/ipv6/conf/$i/disable_ipv6; done
ip addr add 10.0.0.2/24 dev $IF1; ip link set $IF1 up
cat /disk/f.bin > /dev/null
uptime_s() { cut -d" " -f1 /proc/uptime; }
kernel_server() {
    # sysfs still shows the first namespace: ask ip(8) inside the new one.
    unshare -n sh -c "i=0; while ! ip link show $IF2 >/dev/null 2>&1 && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i+1)); done
        ip addr add 10.0.0.3/24 dev $IF2; ip link set $IF2 up; ip link set lo up
        i=0; while ! ip link show $IF2 | grep -q LOWER_UP && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
        exec $*" > /tmp/kernel.log 2>&1 &
    kp=$!; sleep 0.5; ip link set $IF2 netns $kp; sleep 3
}
fetch() { t0=$(uptime_s); timeout 300 wget -q -O /dev/null "$1" || echo "fetch $2 FAILED"; t1=$(uptime_s); echo "fetch $2 start=$t0 end=$t1"; }
REPS='"$reps"'
kernel_server sendfile-server --bind 10.0.0.3:80 --root /disk
r=0; while [ $r -lt $REPS ]; do fetch http://10.0.0.3/f.bin kernel; r=$((r+1)); done
kill -INT $kp; wait $kp; cat /tmp/kernel.log
zcnic serve --pci $NIC0 --ip 10.0.0.1/24 --root /disk > /tmp/zcnic.log 2>&1 & zp=$!; sleep 2
r=0; while [ $r -lt $REPS ]; do fetch http://10.0.0.1/f.bin zcnic; r=$((r+1)); done
kill -INT $zp; wait $zp; cat /tmp/zcnic.log
echo "count pass"
# SIGINT goes to the traced server (syscount itself would die without a report).
kernel_server syscount --kv --out /tmp/kernel.sc -- sendfile-server --bind 10.0.0.3:80 --root /disk
timeout 300 wget -q -O /dev/null http://10.0.0.3/f.bin || echo "count kernel FAILED"
kill -INT "$(pidof sendfile-server)"; wait $kp; echo "count kernel $(cat /tmp/kernel.sc 2>/dev/null)"
syscount --kv --out /tmp/zcnic.sc -- zcnic serve --pci $NIC0 --ip 10.0.0.1/24 --root /disk > /dev/null 2>&1 & zp=$!; sleep 3
timeout 300 wget -q -O /dev/null http://10.0.0.1/f.bin || echo "count zcnic FAILED"
kill -INT "$(pidof zcnic)"; wait $zp; echo "count zcnic $(cat /tmp/zcnic.sc 2>/dev/null)"
' 2>&1 | tail -n 3 || true

log="$work/guest/output.log"
[ -s "$log" ] || { echo "bench-tcp.sh: the guest produced no output (see $work/guest)" >&2; exit 1; }
date="$(date -u +%Y-%m-%d)"
out="$root/results/$date-tcp"
mkdir -p "$out"
cp "$log" "$out/raw.txt"
awk -v size="$size" '
    /^fetch / { split($3, a, "="); split($4, b, "="); t[$2] += b[2] - a[2]; n[$2]++ }
    /^sendfile-server:/ { for (i = 1; i <= NF; i++) { if ($i == "user") ku = $(i + 1); if ($i == "system") ks = $(i + 1) } }
    /cpu \(getrusage\): user/ && !/sendfile-server/ { for (i = 1; i <= NF; i++) { if ($i == "user") zu = $(i + 1); if ($i == "system") zs = $(i + 1) } }
    /^count kernel/ { for (i = 1; i <= NF; i++) if ($i ~ /^total=/) { split($i, c, "="); kc = c[2] } }
    /^count zcnic/ { for (i = 1; i <= NF; i++) if ($i ~ /^total=/) { split($i, c, "="); zc = c[2] } }
    END {
        mib = size / 1048576
        printf "# zcnic serve vs the kernel'"'"'s sendfile over TCP\n\n"
        printf "- **file**: %d bytes on ext4 on virtio-blk, page cache warm; client busybox wget in the same guest\n", size
        printf "- **guest**: QEMU (TCG, 1 vCPU, q35, emulated intel-iommu), three e1000s on one hub; the kernel server in its own network namespace\n"
        printf "- **how**: throughput = file bytes / client wall time per fetch (/proc/uptime), mean of %d fetches; CPU = getrusage of the serving process over all fetches (kernel softirq work may land elsewhere: a lower bound for the kernel); syscalls = a separate pass under syscount, whole command (start-up included), one fetch\n\n", n["kernel"]
        printf "| server | MB/s | CPU s per MiB sent | syscalls per MiB sent |\n|---|---|---|---|\n"
        kt = t["kernel"] / n["kernel"]; zt = t["zcnic"] / n["zcnic"]
        kcpu = (ku + ks) / (mib * n["kernel"]); zcpu = (zu + zs) / (mib * n["zcnic"])
        printf "| kernel: sendfile(2), e1000 driver with TSO | %.1f | %.5f | %.2f |\n", size / kt / 1e6, kcpu, kc / mib
        printf "| zcnic serve | %.1f | %.5f | %.2f |\n\n", size / zt / 1e6, zcpu, zc / mib
        printf "Target: at least the kernel'"'"'s throughput at a fifth of its CPU per byte or less. Throughput: %s (%.2fx). CPU per byte: %s (%.2fx of the kernel'"'"'s).\n", (kt >= zt ? "met" : "missed"), kt / zt, (zcpu * 5 <= kcpu ? "met" : "missed"), zcpu / kcpu
    }' "$log" > "$out/report.md"
cat "$out/report.md"
echo "==> results in $out"
