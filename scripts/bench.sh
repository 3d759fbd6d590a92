#!/usr/bin/env bash
# The whole benchmark, one command: zcnic against the kernel's ways of sending
# a file, per NIC model and protocol, the cost curves, and the emulator's
# share of the cost measured from the host; then one report.
#
#   scripts/bench.sh [--only PARTS] [--quick] [--reps N] [--out DIR]
#
#   --only PARTS  a comma-separated subset of:
#                   udp      UDP file send, 11 methods side by side, on the e1000, the
#                            e1000e, the igb (1 queue) and the igb with 2 queues on
#                            2 vCPUs (scripts/bench-udp.sh; 9 min for the four, measured)
#                   tcp      HTTP fetches from zcnic serve, the kernel's sendfile and
#                            its MSG_ZEROCOPY server, on the e1000, the e1000e, the igb
#                            and the igb with 2 queues (scripts/bench-tcp.sh; ~3 min each, measured)
#                   curves   cost against file size (1 MiB .. 2 GiB), batch and window
#                            (scripts/bench-curves.sh; 38 min measured, in two runs)
#                   profile  QEMU profiled on the host with perf while zcnic and the
#                            kernel send (scripts/bench-profile.sh; 3 min, measured)
#                 default: all of them, about an hour on a 2-core host (62 min, the parts added up)
#   --quick       1 repetition, smaller files, fewer curve points (not timed as a whole; the quick curves alone took 3 min)
#   --reps N      repetitions of each timed run in the udp and tcp parts (default 3)
#   --out DIR     default results/<date>
#
# DIR/report.md is the summary (a row per NIC model and protocol, the targets
# and their outcome, the charts); each part keeps its raw numbers and its own
# report in a folder of DIR. With every part run, the README's benchmark
# section is rewritten from the summary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command="scripts/bench.sh $*"
parts="udp,tcp,curves,profile" quick=0 reps=3 out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --only) parts="$2"; shift 2 ;;
        --quick) quick=1; reps=1; shift ;;
        --reps) reps="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for p in ${parts//,/ }; do
    case "$p" in udp|tcp|curves|profile) ;; *) echo "bench.sh: unknown part '$p' (udp, tcp, curves, profile)" >&2; exit 2 ;; esac
done
has() { [[ ",$parts," == *",$1,"* ]]; }
[ -n "$out" ] || out="$root/results/$(date -u +%Y-%m-%d)"
mkdir -p "$out"
started=$(date +%s)
udp_size=() tcp_size=() curve_args=() profile_args=()
if [ "$quick" -eq 1 ]; then
    udp_size=(--size $((8 * 1024 * 1024 + 333))) tcp_size=(--size $((16 * 1024 * 1024 + 777)))
    curve_args=(--quick) profile_args=(--quick)
fi

if has udp; then
    "$root/scripts/bench-udp.sh" --reps "$reps" "${udp_size[@]}" --nic e1000 --out "$out/udp-e1000"
    "$root/scripts/bench-udp.sh" --no-micro --reps "$reps" "${udp_size[@]}" --nic e1000e --out "$out/udp-e1000e"
    "$root/scripts/bench-udp.sh" --no-micro --reps "$reps" "${udp_size[@]}" --nic igb --out "$out/udp-igb"
    "$root/scripts/bench-udp.sh" --no-micro --reps "$reps" "${udp_size[@]}" --nic igb --queues 2 --smp 2 --out "$out/udp-igb-2q"
fi
if has tcp; then
    "$root/scripts/bench-tcp.sh" --reps "$reps" "${tcp_size[@]}" --nic e1000 --out "$out/tcp-e1000"
    "$root/scripts/bench-tcp.sh" --reps "$reps" "${tcp_size[@]}" --nic e1000e --out "$out/tcp-e1000e"
    "$root/scripts/bench-tcp.sh" --reps "$reps" "${tcp_size[@]}" --nic igb --out "$out/tcp-igb"
    "$root/scripts/bench-tcp.sh" --reps "$reps" "${tcp_size[@]}" --nic igb --queues 2 --out "$out/tcp-igb-2q"
fi
has curves && "$root/scripts/bench-curves.sh" "${curve_args[@]}" --out "$out/curves"
has profile && "$root/scripts/bench-profile.sh" "${profile_args[@]}" --out "$out/profile"

minutes=$(( ($(date +%s) - started + 59) / 60 ))
readme=()
[ "$parts" != "udp,tcp,curves,profile" ] || [ "$quick" -eq 1 ] || readme=(--readme "$root/README.md")
cargo build -q --release --example bench-summary --manifest-path "$root/Cargo.toml"
"$root/target/release/examples/bench-summary" --dir "$out" --minutes "$minutes" \
    --command "$command" "${readme[@]}" > /dev/null
echo "==> the summary is ${out#"$root"/}/report.md (this run took $minutes min)"
