#!/bin/sh
# Hand a PCI NIC to vfio-pci for zcnic, and give it back: a thin wrapper around
# `zcnic bind` / `zcnic unbind` / `zcnic list`, which do the checks (never take a
# NIC that is up with an address or a route, or whose IOMMU group is shared) and
# remember the previous driver in /run/zcnic.
#
# Usage: scripts/bind-vfio.sh [--force] bind <BDF|IFACE>
#        scripts/bind-vfio.sh unbind <BDF|IFACE>
#        scripts/bind-vfio.sh status
# Needs root. Uses `zcnic` from PATH, else the release build in this repository
# (built on first use).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
if command -v zcnic >/dev/null 2>&1; then
    ZCNIC=zcnic
else
    ZCNIC="$here/target/release/zcnic"
    [ -x "$ZCNIC" ] || (cd "$here" && cargo build --release --bin zcnic >&2)
fi

force=""
[ "${1:-}" = "--force" ] && { force="--force"; shift; }
case "${1:-}" in
    bind) [ $# -eq 2 ] || { sed -n '7,9p' "$0" >&2; exit 2; }; exec "$ZCNIC" bind $force "$2" ;;
    unbind) [ $# -eq 2 ] || { sed -n '7,9p' "$0" >&2; exit 2; }; exec "$ZCNIC" unbind "$2" ;;
    status) exec "$ZCNIC" list ;;
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
