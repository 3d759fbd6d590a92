#!/usr/bin/env bash
# Cost curves: how the cost of sending a file grows with the file's size, the
# batch and the window, for zcnic (UDP and TCP) and the kernel's best methods,
# all in one guest boot on the e1000.
#
#   scripts/bench-curves.sh [--out DIR] [--quick] [--only udp|tcp] [--log FILE]
#   --out DIR   where curves.md, the charts and raw.txt go (default results/<date>/curves)
#   --quick     files of 1 to 64 MiB only, fewer points (a check that it all works: ~6 min)
#   --only P    only the UDP or only the TCP sweeps
#   --log FILE  also chart the curve-result lines of FILE (an earlier run's raw.txt, e.g. the
#               other protocol's): its raw log is kept beside as raw-earlier.txt
#
# Takes about 30 minutes on a 2-core host without --quick.
#
# The guest: Debian's full kernel, 2 vCPUs, TCG, emulated Intel IOMMU, 1 GiB
# of RAM (less than the largest file, 2 GiB), three e1000s on one hub: NIC 0
# for zcnic (10.0.0.1), NIC 1 the kernel's (10.0.0.2: the UDP sender, then
# the TCP client), NIC 2 for the kernel's TCP server (10.0.0.3, in its own
# network namespace). The files (1 MiB to 2 GiB, each an odd length) are on
# ext4 on a virtio disk. Every sender or server runs alone on CPU 0 with its
# NIC's interrupt; the shell and the TCP client run on CPU 1.
#
# Page cache, equally warm for every method: files up to 256 MiB are read
# once before each run (cached: the send reads memory); for 1 and 2 GiB the
# cache is dropped before each run (neither fits: the send reads the disk).
#
# Each point is one timed run and one count run (the same command under
# syscount, a ptrace counter outside the program):
#   UDP (to a unicast MAC no NIC owns, so no receiver slows it): frames and
#     wall time from each program's bench-result line (kernel: the NIC's
#     tx_packets; zcnic: descriptors written back); CPU = the sender's user +
#     system time (getrusage, all threads; Linux scales it to the scheduler's
#     nanosecond runtime, so it holds for a 3 ms send; the sender never
#     sleeps, so the interrupt work done on its CPU is charged to it).
#   TCP (busybox wget fetching over HTTP, as many fetches as make 64 MiB, so
#     1 MiB is fetched 64 times): wall time from /proc/uptime around the
#     fetches, CPU = CPU 0's busy time from /proc/stat (the server, its NIC
#     interrupt, its softirq work, whether or not the server is running).
#   syscalls: the count run's total for the whole command (start-up
#     included: at 1 MiB it shows the fixed cost, at 2 GiB the per-byte one).
#   pinned_peak: the process's peak VmLck (zcnic reads it after every DMA
#     map; the kernel methods lock nothing: their zero-copy pinning is the
#     kernel's, charged to no process); rss_peak: VmHWM.
#
# Sweeps:
#   size   1 MiB .. 2 GiB; UDP: zcnic, udp-gso, sendmmsg; TCP: zcnic serve,
#          the kernel's sendfile(2) and MSG_ZEROCOPY servers
#   batch  datagrams per doorbell (zcnic) or per call (sendmmsg, io-uring-zc,
#          udp-gso, which stops at 44), 1 .. 256, on the 64 MiB file
#   window file bytes mapped and pinned per window (zcnic: --window), 1 .. 256
#          MiB, on the 256 MiB file, UDP and TCP
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="" quick=0 only="" earlier=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --only) only="$2"; shift 2 ;;
        --log) earlier="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "bench-curves.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$out" ] || out="$root/results/$(date -u +%Y-%m-%d)/curves"
case "$only" in ""|udp|tcp) ;; *) echo "bench-curves.sh: --only takes udp or tcp" >&2; exit 2 ;; esac
[ -z "$earlier" ] || [ -f "$earlier" ] || { echo "bench-curves.sh: no file $earlier" >&2; exit 2; }

if [ "$quick" -eq 1 ]; then
    sizes="1 4 16 64" batches="1 16 256" windows="1 16" window_file=64 batch_file=16
else
    sizes="1 4 16 64 256 1024 2048" batches="1 4 16 64 256" windows="1 4 16 64 256" window_file=256 batch_file=64
fi

"$root/scripts/setup.sh"
cargo build -q --release --example bench-curves --manifest-path "$root/Cargo.toml"
work="$root/target/bench-curves"
rm -rf "$work"; mkdir -p "$work/src"
largest=0
for m in $sizes; do largest=$m; done
# One random file of the largest size; the others are its prefixes.
head -c "$(( largest * 1048576 + 333 ))" /dev/urandom > "$work/src/f$largest.bin"
total=0
for m in $sizes; do
    [ "$m" = "$largest" ] || head -c "$(( m * 1048576 + 333 ))" "$work/src/f$largest.bin" > "$work/src/f$m.bin"
    total=$(( total + m ))
done
echo "==> making the disk image ($total MiB of files)"
mkfs.ext4 -q -F -d "$work/src" "$work/disk.ext4" "$(( total * 105 / 100 + 128 ))M"
rm -rf "$work/src"

echo "==> the guest (files of $sizes MiB; batches $batches; windows $windows MiB)"
# shellcheck disable=SC2016 # $NIC0, $IF1... expand in the guest
"$root/scripts/testbed.sh" --kernel full --no-bind --no-pcap --smp 2 --mem 1024 --nic e1000 --nic e1000 --nic e1000 \
    --disk "$work/disk.ext4" --timeout 5400 --out "$work/guest" -- '
ONLY="'"$only"'" SIZES="'"$sizes"'" BATCHES="'"$batches"'" WINDOWS="'"$windows"'" WF=/disk/f'"$window_file"'.bin BF=/disk/f'"$batch_file"'.bin
echo vfio-pci > /sys/bus/pci/devices/$NIC0/driver_override; echo $NIC0 > /sys/bus/pci/drivers_probe
modprobe e1000
IF1=$(ls /sys/bus/pci/devices/$NIC1/net/); IF2=$(ls /sys/bus/pci/devices/$NIC2/net/)
for i in $IF1 $IF2; do echo 1 > /proc/sys/net/ipv6/conf/$i/disable_ipv6; done
ip addr add 10.0.0.2/24 dev $IF1; ip link set $IF1 up
i=0; while [ "$(cat /sys/class/net/$IF1/carrier 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
arp -s 10.0.0.9 02:00:00:00:00:01
taskset -p 2 $$ > /dev/null
irq_to() { for n in $(grep -F -- "$1" /proc/interrupts | cut -d: -f1); do echo "$2" > /proc/irq/$n/smp_affinity_list; done; }
field() { echo "$2" | tr " " "\n" | sed -n "s/^$1=//p" | head -n 1; }
# Equally warm: cached if it fits, dropped if it cannot.
prepare() { if [ "$(stat -c %s "$1")" -gt 300000000 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; else cat "$1" > /dev/null; fi; }
counted() { prepare "$1"; shift; taskset 1 syscount --kv --out /tmp/sc.txt -- "$@" > /tmp/count.log 2>&1 || true; sed -n "s/.*total=\([0-9]*\).*/\1/p" /tmp/sc.txt; }

# udp SWEEP METHOD X FILE COMMAND...: a timed run and a count run of a UDP sender.
udp() {
  sw=$1 me=$2 x=$3 f=$4; shift 4
  prepare "$f"
  if ! taskset 1 "$@" > /tmp/run.log 2>&1; then echo "curve $sw $me $x FAILED"; cat /tmp/run.log; return 0; fi
  r=$(grep "^bench-result" /tmp/run.log)
  sc=$(counted "$f" "$@")
  [ "$me" != udp-gso ] || [ "$sw" != batch ] || x=$(field batch "$r")
  cpu=$(awk "BEGIN { print $(field user_s "$r") + $(field sys_s "$r") }")
  echo "curve-result sweep=$sw proto=udp method=$me x=$x bytes=$(field bytes "$r") frames=$(field frames "$r") wall_s=$(field wall_s "$r") busy_s=$cpu syscalls=${sc:--} pinned_peak=$(field pinned_peak "$r") rss_peak=$(field rss_peak "$r")"
}
zsend() { echo zcnic send --pci $NIC0 --file "$1" --src 10.0.0.1 --dst 10.0.0.9:9000 --dst-mac 02:00:00:00:00:01 --kv; }
ksend() { echo kernel-send --method "$1" --file "$2" --dst 10.0.0.9:9000 --iface $IF1; }

if [ "$ONLY" != tcp ]; then
echo "=== UDP"
irq_to "$IF1" 0
for m in $SIZES; do
  F=/disk/f$m.bin X=$(stat -c %s $F)
  udp size zcnic $X $F $(zsend $F)
  udp size udp-gso $X $F $(ksend udp-gso $F)
  udp size sendmmsg $X $F $(ksend sendmmsg $F)
done
for b in $BATCHES; do
  udp batch zcnic $b $BF $(zsend $BF) --batch $b
  udp batch sendmmsg $b $BF $(ksend sendmmsg $BF) --batch $b
  udp batch io-uring-zc $b $BF $(ksend io-uring-zc $BF) --batch $b
  [ $b -gt 64 ] || udp batch udp-gso $b $BF $(ksend udp-gso $BF) --batch $b
done
for w in $WINDOWS; do udp window zcnic $((w * 1048576)) $WF $(zsend $WF) --window $w; done
fi

if [ "$ONLY" != udp ]; then
echo "=== TCP"
irq_to "$IF1" 1
uptime_s() { cut -d" " -f1 /proc/uptime; }
cpu0_busy() { awk "FNR == NR { up = \$1 * 100; next } /^cpu0 / { printf \"%d\\n\", up - \$5 - \$6 }" /proc/uptime /proc/stat; }
# The kernel server in its own namespace on NIC 2 (sysfs keeps showing the first namespace: ask ip(8)).
kernel_server() {
    taskset 1 unshare -n sh -c "i=0; while ! ip link show $IF2 >/dev/null 2>&1 && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i+1)); done
        ip addr add 10.0.0.3/24 dev $IF2; ip link set $IF2 up; ip link set lo up
        i=0; while ! ip link show $IF2 | grep -q LOWER_UP && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
        exec $*" > /tmp/server.log 2>&1 &
    sp=$!; sleep 0.5; ip link set $IF2 netns $sp; sleep 3
}
zcnic_server() { taskset 1 "$@" > /tmp/server.log 2>&1 & sp=$!; sleep 3; irq_to "($NIC0)" 0; }
# start_server METHOD [syscount...] [--window W]
start_server() {
    me=$1; shift
    case $me in
      zcnic) zcnic_server "$@" zcnic serve --pci $NIC0 --ip 10.0.0.1/24 --root /disk $ZARGS; URL=http://10.0.0.1 ;;
      kernel-sendfile) kernel_server "$*" sendfile-server --method sendfile --bind 10.0.0.3:80 --root /disk; URL=http://10.0.0.3 ;;
      kernel-msg-zerocopy) kernel_server "$*" sendfile-server --method msg-zerocopy --bind 10.0.0.3:80 --root /disk; URL=http://10.0.0.3 ;;
    esac
    [ "$me" = zcnic ] || irq_to "$IF2" 0
}
stop_server() { kill -INT "$(pidof zcnic sendfile-server | cut -d" " -f1)" 2>/dev/null; wait $sp || true; }
locked_of() { sed -n "s/.*peak locked \([0-9]*\) bytes.*/\1/p" /tmp/server.log; }
resident_of() { sed -n "s/.*peak resident \([0-9]*\) bytes.*/\1/p" /tmp/server.log; }
# Fetches per point: enough for 64 MiB, so that the busy time of CPU 0 (counted
# in 10 ms ticks) is measured over a second or more even for the 1 MiB file.
fetches_for() { n=$(( 67108864 / $(stat -c %s "$1") )); [ $n -ge 1 ] || n=1; echo $n; }
# fetch_n FILE N: N fetches, each given 300 s (2 GiB takes well under 100 s);
# prints how many failed, and says which on stderr.
fetch_n() {
    i=0 bad=0
    while [ $i -lt $2 ]; do
        timeout 300 wget -q -O /dev/null "$URL/$(basename $1)" || { echo "fetch $1 FAILED" >&2; bad=$((bad+1)); }
        i=$((i+1))
    done
    echo $bad
}
# tcp_timed METHOD FILE: its fetches timed against a running server: "wall busy failed".
tcp_timed() {
    prepare "$2"
    b0=$(cpu0_busy); t0=$(uptime_s)
    bad=$(fetch_n "$2" "$(fetches_for "$2")")
    t1=$(uptime_s); b1=$(cpu0_busy)
    echo "$(awk "BEGIN { print $t1 - $t0 }") $(awk "BEGIN { print ($b1 - $b0) / 100 }") $bad"
}
# tcp_point SWEEP METHOD X FILE TIMED: the count run (a server of its own under syscount) and the
# line; a point with a failed fetch in either run is marked failed=N (bench-curves leaves it out).
tcp_point() {
    sw=$1 me=$2 x=$3 f=$4 timed=$5
    start_server $me syscount --kv --out /tmp/sc.txt --
    prepare "$f"
    n=$(fetches_for "$f")
    bad=$(fetch_n "$f" $n)
    stop_server
    sc=$(sed -n "s/.*total=\([0-9]*\).*/\1/p" /tmp/sc.txt)
    pinned=- rss=-
    [ $me != zcnic ] || { pinned=$(locked_of); rss=$(resident_of); }
    set -- $timed
    echo "curve-result sweep=$sw proto=tcp method=$me x=$x bytes=$(( $(stat -c %s $f) * n )) frames=- wall_s=$1 busy_s=$2 syscalls=${sc:--} pinned_peak=${pinned:--} rss_peak=${rss:--} failed=$(( $3 + bad ))"
}
ZARGS=""
for me in zcnic kernel-sendfile kernel-msg-zerocopy; do
  start_server $me
  results=""
  for m in $SIZES; do results="$results $m:$(tcp_timed $me /disk/f$m.bin | tr " " "_")"; done
  stop_server; cat /tmp/server.log
  for r in $results; do
    m=${r%%:*} t=$(echo ${r#*:} | tr "_" " ")
    tcp_point size $me $(stat -c %s /disk/f$m.bin) /disk/f$m.bin "$t"
  done
done
for w in $WINDOWS; do
  ZARGS="--window $w"
  start_server zcnic; t=$(tcp_timed zcnic $WF); stop_server
  tcp_point window zcnic $((w * 1048576)) $WF "$t"
done
fi
echo "curves done"
' 2>&1 | tail -n 3 || true

log="$work/guest/output.log"
grep -q "^curves done" "$log" || { echo "bench-curves.sh: the guest did not finish (see $log)" >&2; exit 1; }
mkdir -p "$out"
cp "$log" "$out/raw.txt"
logs=(--log "$log")
if [ -n "$earlier" ]; then
    [ "$(realpath "$earlier")" = "$(realpath -m "$out/raw-earlier.txt")" ] || cp "$earlier" "$out/raw-earlier.txt"
    logs+=(--log "$out/raw-earlier.txt")
fi
"$root/target/release/examples/bench-curves" "${logs[@]}" --out "$out" > /dev/null
echo "==> cost curves in ${out#"$root"/}"
