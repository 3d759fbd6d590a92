#!/usr/bin/env bash
# The zcnic demo: send a file through an emulated Intel e1000 driven by zcnic,
# zero-copy, to an ordinary UDP socket, and show that it arrived intact.
#
#   scripts/demo.sh [--nic e1000|e1000e] [--size BYTES] [--file PATH] [--rate MBIT/S]
#
# A QEMU guest (Debian's kernel, emulated Intel IOMMU) gets two NICs on one hub:
# NIC 0 is bound to vfio-pci and driven by `zcnic send` from an ordinary process;
# NIC 1 belongs to the guest kernel's own driver, with 10.0.0.2, where a plain
# kernel UDP socket receives. The file's SHA-256 is compared on both ends.
# Installs what it needs first (scripts/setup.sh, quick when already done).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nic=e1000 size=$((4 * 1024 * 1024 + 321)) file="" rate=20
while [ $# -gt 0 ]; do
    case "$1" in
        --nic) nic="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --file) file="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

"$root/scripts/setup.sh"
out="$root/target/demo"
mkdir -p "$out"
if [ -z "$file" ]; then
    file="$out/demo-file.bin"
    head -c "$size" /dev/urandom > "$file"
fi
[ -f "$file" ] || { echo "demo.sh: $file is not a file" >&2; exit 2; }
want="$(sha256sum "$file" | cut -d' ' -f1)"
bytes="$(stat -c %s "$file")"
echo "==> sending $file ($bytes bytes, sha256 $want)"
echo "    through an emulated $nic driven by zcnic, to a kernel UDP socket in a QEMU guest"

status=0
# The command is guest shell in single quotes: $NIC0, $IF and the others expand in the guest.
# shellcheck disable=SC2016
"$root/scripts/testbed.sh" --kernel full --no-bind --nic "$nic" --nic "$nic" --out "$out" \
    --file "$file:/data/file" -- '
echo vfio-pci > /sys/bus/pci/devices/$NIC0/driver_override; echo $NIC0 > /sys/bus/pci/drivers_probe
modprobe e1000; modprobe e1000e
IF=$(ls /sys/bus/pci/devices/$NIC1/net/)
echo 1 > /proc/sys/net/ipv6/conf/$IF/disable_ipv6  # see hw-notes/interrupts.md (RX hold-off)
ip addr add 10.0.0.2/24 dev $IF; ip link set $IF up
i=0; while [ "$(cat /sys/class/net/$IF/carrier 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
udp-sink --bind 10.0.0.2:9000 --idle 2 > /tmp/sink.log 2>&1 &
j=0; while ! grep -qs listening /tmp/sink.log && [ $j -lt 50 ]; do sleep 0.1; j=$((j+1)); done
zcnic send --pci $NIC0 --file /data/file --src 10.0.0.1 --dst 10.0.0.2:9000 --rate '"$rate"' > /tmp/send.log 2>&1
st=$?; cat /tmp/send.log
wait; echo "receiver: $(tail -1 /tmp/sink.log)"; exit $st' || status=$?
cat "$out/output.log"
if [ "$status" -ne 0 ]; then
    echo "demo: the guest command failed (exit $status); see $out/console.log" >&2
    exit 1
fi
if ! grep -q "received .* $bytes bytes, sha256 $want" "$out/output.log"; then
    echo "demo: FAILED: the receiver did not get the file intact" >&2
    exit 1
fi
if grep -qiE 'dmar.*(fault|PTE)' "$out/dmesg.log"; then
    echo "demo: the guest kernel logged IOMMU faults:" >&2
    grep -iE 'dmar.*(fault|PTE)' "$out/dmesg.log" >&2
    exit 1
fi
echo "==> OK: the receiver got all $bytes bytes with sha256 $want; no IOMMU faults"
