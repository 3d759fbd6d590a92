#!/bin/sh
# Hand a PCI NIC to vfio-pci for the zcnic userspace driver, and give it back afterwards.
#
# Usage: scripts/bind-vfio.sh [--force] bind   <BDF>   bind to vfio-pci, print /dev/vfio/<group>
#        scripts/bind-vfio.sh          unbind <BDF>   give it back to the driver it had before
#        scripts/bind-vfio.sh          status <BDF>   show driver, IOMMU group, interface
#   BDF: 0000:03:00.0 or 03:00.0
#   --force  bind even a device that is not a network controller (PCI class 0x02xxxx), or whose
#            network interface is up with an address (or enslaved to a bridge/bond)
#
# bind remembers the previous driver in $ZCNIC_STATE_DIR/<BDF>.driver (default /run/zcnic).
# Needs root. POSIX sh (runs under busybox sh too).
set -eu

PROG=bind-vfio.sh
STATE_DIR=${ZCNIC_STATE_DIR:-/run/zcnic}
SYS_PCI=/sys/bus/pci

die() { echo "$PROG: error: $*" >&2; exit 1; }
info() { echo "$PROG: $*" >&2; }
usage() { sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

FORCE=0
ACTION=""
BDF_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
        --force|-f) FORCE=1 ;;
        -h|--help) usage; exit 0 ;;
        bind|unbind|status)
            [ -z "$ACTION" ] || die "more than one action given"
            ACTION=$1 ;;
        -*) die "unknown option '$1' (try --help)" ;;
        *)  [ -z "$BDF_ARG" ] || die "more than one device given"
            BDF_ARG=$1 ;;
    esac
    shift
done
[ -n "$ACTION" ] || { usage >&2; exit 2; }
[ -n "$BDF_ARG" ] || die "no device given (e.g. 0000:03:00.0 or 03:00.0)"

# ------------------------------------------------------------------ the device
H='[0-9a-fA-F]'
case "$BDF_ARG" in
    $H$H$H$H:$H$H:$H$H.[0-7]) BDF=$BDF_ARG ;;
    $H$H:$H$H.[0-7])          BDF=0000:$BDF_ARG ;;
    *) die "'$BDF_ARG' is not a PCI address (expected DDDD:BB:DD.F or BB:DD.F, e.g. 0000:03:00.0)" ;;
esac
BDF=$(echo "$BDF" | tr 'A-F' 'a-f')
DEV=$SYS_PCI/devices/$BDF
[ -d "$DEV" ] || die "no PCI device $BDF (see ls $SYS_PCI/devices)"

# Name of the driver bound to the device, empty if none.
current_driver() {
    if [ -e "$DEV/driver" ]; then basename "$(readlink "$DEV/driver")"; fi
}
iommu_group() {
    if [ -e "$DEV/iommu_group" ]; then basename "$(readlink "$DEV/iommu_group")"; fi
}
# Network interfaces the kernel made for the device.
interfaces() {
    for n in "$DEV"/net/*; do
        if [ -e "$n" ]; then echo "${n##*/}"; fi
    done
}
# Addresses that mean "in use": any IPv4 address, IPv6 except link-local/host scope.
if_addresses() {
    ip addr show dev "$1" 2>/dev/null | awk '
        $1 == "inet" { print $2 }
        $1 == "inet6" && !/scope link/ && !/scope host/ { print $2 }'
}
need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (sudo $0 ...)"
}

show_status() {
    drv=$(current_driver); grp=$(iommu_group)
    echo "device:    $BDF ($(cat "$DEV/vendor"):$(cat "$DEV/device"), class $(cat "$DEV/class"))"
    echo "driver:    ${drv:-none}"
    echo "override:  $(cat "$DEV/driver_override" 2>/dev/null || echo '?')"
    if [ -n "$grp" ]; then
        members=""
        for o in "$DEV"/iommu_group/devices/*; do members="$members ${o##*/}"; done
        echo "iommu:     group $grp (devices:$members)"
        if [ -e "/dev/vfio/$grp" ]; then echo "vfio:      /dev/vfio/$grp"; fi
    else
        echo "iommu:     no group (IOMMU off?)"
    fi
    for i in $(interfaces); do echo "interface: $i"; done
    if [ -f "$STATE_DIR/$BDF.driver" ]; then
        echo "saved:     previous driver '$(cat "$STATE_DIR/$BDF.driver")' ($STATE_DIR/$BDF.driver)"
    fi
}

# ------------------------------------------------------------------ bind
do_bind() {
    need_root
    class=$(cat "$DEV/class")
    case "$class" in
        0x02????) ;;
        *)  [ "$FORCE" -eq 1 ] \
                || die "$BDF is not a network controller (class $class); use --force to bind it anyway"
            info "warning: binding non-network device $BDF (class $class) because of --force" ;;
    esac

    drv=$(current_driver)
    if [ "$drv" = vfio-pci ]; then
        grp=$(iommu_group)
        info "$BDF is already bound to vfio-pci"
        [ -n "$grp" ] && [ -e "/dev/vfio/$grp" ] && { echo "/dev/vfio/$grp"; return 0; }
        die "$BDF is bound to vfio-pci but /dev/vfio/${grp:-?} is missing"
    fi

    for ifc in $(interfaces); do
        busy=""
        if [ -r "/sys/class/net/$ifc/flags" ]; then
            flags=$(cat "/sys/class/net/$ifc/flags")
            if [ $((flags & 1)) -eq 1 ]; then
                if ! command -v ip >/dev/null 2>&1; then
                    busy="is up (and 'ip' is missing, so its addresses cannot be checked)"
                else
                    addrs=$(if_addresses "$ifc" | tr '\n' ' ')
                    [ -z "$addrs" ] || busy="is up with address(es) ${addrs% }"
                fi
            fi
        fi
        if [ -z "$busy" ] && [ -e "/sys/class/net/$ifc/master" ]; then
            busy="is enslaved to $(basename "$(readlink "/sys/class/net/$ifc/master")")"
        fi
        if [ -n "$busy" ]; then
            [ "$FORCE" -eq 1 ] \
                || die "interface $ifc of $BDF $busy; taking it would cut that traffic. Bring it down ('ip link set $ifc down') or use --force"
            info "warning: interface $ifc $busy; taking it anyway because of --force"
        fi
    done

    if [ ! -d "$SYS_PCI/drivers/vfio-pci" ]; then
        command -v modprobe >/dev/null 2>&1 || die "vfio-pci is not loaded and modprobe is missing"
        modprobe vfio-pci || die "modprobe vfio-pci failed (no vfio-pci module in this kernel?)"
        [ -d "$SYS_PCI/drivers/vfio-pci" ] || die "vfio-pci loaded but $SYS_PCI/drivers/vfio-pci is missing"
    fi
    grp=$(iommu_group)
    if [ -z "$grp" ]; then
        noiommu=$(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode 2>/dev/null || echo N)
        [ "$noiommu" = Y ] || die "$BDF has no IOMMU group: the IOMMU is off. Enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on (or amd_iommu=on)"
        info "warning: no IOMMU; vfio is in unsafe no-IOMMU mode"
    else
        # Every device of a group must be on vfio-pci (or driverless) for the group to be usable.
        for o in "$DEV"/iommu_group/devices/*; do
            other=${o##*/}
            [ "$other" != "$BDF" ] || continue
            odrv=""
            if [ -e "$DEV/iommu_group/devices/$other/driver" ]; then
                odrv=$(basename "$(readlink "$DEV/iommu_group/devices/$other/driver")")
            fi
            case "$odrv" in
                ""|vfio-pci|pcieport|pci-stub) ;;
                *) info "warning: $other shares IOMMU group $grp and is bound to $odrv: the group is not viable until it is unbound too" ;;
            esac
        done
    fi

    mkdir -p "$STATE_DIR"
    printf '%s\n' "$drv" > "$STATE_DIR/$BDF.driver"
    if [ -n "$drv" ]; then
        info "unbinding $BDF from $drv"
        echo "$BDF" > "$DEV/driver/unbind" || die "cannot unbind $BDF from $drv"
    fi
    echo vfio-pci > "$DEV/driver_override"
    echo "$BDF" > "$SYS_PCI/drivers_probe" 2>/dev/null || true
    now=$(current_driver)
    if [ "$now" != vfio-pci ]; then
        # Roll back so that the machine is left as it was.
        echo > "$DEV/driver_override"
        if [ -n "$drv" ] && [ -d "$SYS_PCI/drivers/$drv" ]; then
            echo "$BDF" > "$SYS_PCI/drivers/$drv/bind" 2>/dev/null || true
        fi
        rm -f "$STATE_DIR/$BDF.driver"
        die "vfio-pci did not take $BDF (driver now: ${now:-none}); see dmesg"
    fi
    grp=$(iommu_group)
    [ -n "$grp" ] || die "$BDF is bound to vfio-pci but has no IOMMU group"
    i=0
    while [ ! -c "/dev/vfio/$grp" ] && [ $i -lt 50 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i + 1)); done
    [ -c "/dev/vfio/$grp" ] || die "$BDF is bound to vfio-pci but /dev/vfio/$grp did not appear"
    info "$BDF bound to vfio-pci (previous driver: ${drv:-none})"
    echo "/dev/vfio/$grp"
}

# ------------------------------------------------------------------ unbind
do_unbind() {
    need_root
    drv=$(current_driver)
    saved=""
    have_saved=0
    if [ -f "$STATE_DIR/$BDF.driver" ]; then saved=$(cat "$STATE_DIR/$BDF.driver"); have_saved=1; fi
    if [ "$drv" != vfio-pci ]; then
        if [ "$(cat "$DEV/driver_override" 2>/dev/null)" = vfio-pci ]; then echo > "$DEV/driver_override"; fi
        rm -f "$STATE_DIR/$BDF.driver"
        info "$BDF is not bound to vfio-pci (driver: ${drv:-none}); nothing to do"
        return 0
    fi
    echo "$BDF" > "$SYS_PCI/drivers/vfio-pci/unbind" || die "cannot unbind $BDF from vfio-pci"
    echo > "$DEV/driver_override"
    if [ -n "$saved" ]; then
        if [ ! -d "$SYS_PCI/drivers/$saved" ] && command -v modprobe >/dev/null 2>&1; then
            modprobe "$saved" 2>/dev/null || true
        fi
        if [ -d "$SYS_PCI/drivers/$saved" ] && [ -z "$(current_driver)" ]; then
            echo "$BDF" > "$SYS_PCI/drivers/$saved/bind" 2>/dev/null \
                || info "warning: binding $BDF back to $saved failed; trying drivers_probe"
        fi
    fi
    if [ -z "$(current_driver)" ]; then
        echo "$BDF" > "$SYS_PCI/drivers_probe" 2>/dev/null || true
    fi
    rm -f "$STATE_DIR/$BDF.driver"
    now=$(current_driver)
    if [ -n "$saved" ] && [ "$now" != "$saved" ]; then
        die "$BDF released from vfio-pci but not back on $saved (driver now: ${now:-none})"
    fi
    [ "$have_saved" -eq 1 ] || info "no saved driver for $BDF; let the kernel choose"
    info "$BDF released from vfio-pci (driver now: ${now:-none})"
}

case "$ACTION" in
    bind) do_bind ;;
    unbind) do_unbind ;;
    status) show_status ;;
esac
