#!/usr/bin/env bash
# The zcnic demo: boot a QEMU guest with an emulated Intel e1000 behind an
# emulated IOMMU, let zcnic drive it from an ordinary process through VFIO, send
# numbered frames, and check on the host that every frame reached the wire
# intact, in order.
#
#   scripts/demo.sh [--nic e1000|e1000e] [--count N] [--size BYTES]
#
# Installs what it needs first (scripts/setup.sh, quick when already done).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nic=e1000 count=1000 size=1514
while [ $# -gt 0 ]; do
    case "$1" in
        --nic) nic="$2"; shift 2 ;;
        --count) count="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

"$root/scripts/setup.sh"
out="$root/target/demo"
mkdir -p "$out"
echo "==> booting a guest with an emulated $nic; zcnic sends $count frames of $size bytes"
status=0
"$root/scripts/testbed.sh" --nic "$nic" --out "$out" -- \
    "packet-send --pci \$NIC0 --count $count --size $size" || status=$?
cat "$out/output.log"
if [ "$status" -ne 0 ]; then
    echo "demo: the guest command failed (exit $status); see $out/console.log" >&2
    exit 1
fi
echo "==> checking the frames QEMU recorded on the wire ($out/nic0.pcap)"
"$root/target/guest/x86_64-unknown-linux-gnu/release/zcnic" verify-capture \
    --pcap "$out/nic0.pcap" --count "$count" --size "$size"
if grep -qi 'dmar.*fault' "$out/dmesg.log"; then
    echo "demo: the guest kernel logged IOMMU faults:" >&2
    grep -i 'dmar.*fault' "$out/dmesg.log" >&2
    exit 1
fi
echo "==> no IOMMU faults in the guest's kernel log"
