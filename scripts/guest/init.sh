#!/bin/sh
# /init of the zcnic test bed's guest: scripts/testbed.sh copies this file into the cached base
# initramfs (its content is part of that cache's key) and boots it as PID 1 under busybox sh.
# It mounts, powers off and loads modules: never run it on a host.
# Per run it reads /zcnic/testbed.env, /zcnic/fetch.list, /zcnic/disk-load.list and /cmd.sh, which
# testbed.sh puts in the second, per-run archive.
export PATH=/zcnic/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp
# The console is a tty: without this, every "\n" the command prints would reach the log as "\r\n".
stty -onlcr 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/hugepages /tmp /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t devpts devpts /dev/pts
mount -t hugetlbfs hugetlbfs /dev/hugepages
# Written per run by testbed.sh, so there is nothing in the repository for shellcheck to follow.
# shellcheck source=/dev/null
. /zcnic/testbed.env
M=@@zcnic-testbed
read -r up _ < /proc/uptime
echo "zcnic-testbed: /init started at uptime ${up}s"

dump_dmesg() {
    echo "$M:dmesg-begin:$TB_NONCE@@"
    dmesg
    echo "$M:dmesg-end:$TB_NONCE@@"
    stty -onlcr 2>/dev/null   # tcsetattr(TCSADRAIN): waits until the console has sent everything
}
fail() {
    echo "$M:setup-failed:$TB_NONCE@@ $*"
    dump_dmesg
    poweroff -f
    exit 1
}

# Kernel messages of level ERR and below stay out of the console from here on (dmesg.log has them):
# only CRIT/ALERT/EMERG (oops, panic) still interleave with the command's output.
echo 3 > /proc/sys/kernel/printk

kver=$(uname -r)
moddir=/lib/modules/$kver
while read -r m; do
    [ -n "$m" ] || continue
    insmod "$moddir/$m" || fail "insmod $m failed"
done < "$moddir/zcnic-load.list"

if [ "$TB_HUGEPAGES" -gt 0 ]; then
    echo "$TB_HUGEPAGES" > /proc/sys/vm/nr_hugepages
    # Not `read`: busybox reads byte by byte, and an integer sysctl returns EOF at offset > 0.
    n=$(cat /proc/sys/vm/nr_hugepages)
    [ "$n" -ge "$TB_HUGEPAGES" ] || fail "only $n of $TB_HUGEPAGES hugepages could be reserved"
fi

# --disk: the virtio-blk disk (the only virtio device) holds one ext4, mounted on /disk.
if [ -n "$TB_DISK" ]; then
    while read -r m; do
        [ -n "$m" ] || continue
        insmod "$moddir/$m" || fail "--disk: insmod $m failed"
    done < /zcnic/disk-load.list
    dev="" n=0
    while :; do
        for b in /sys/bus/virtio/drivers/virtio_blk/virtio*/block/*; do
            [ -e "$b" ] && dev=/dev/${b##*/}
        done
        [ -n "$dev" ] && [ -b "$dev" ] && break
        n=$((n + 1))
        [ $n -lt 100 ] || fail "--disk: no virtio block device appeared within 5 s"
        sleep 0.05
    done
    mkdir -p /disk
    if ! err=$(mount -t ext4 -o "$TB_DISK_MODE" "$dev" /disk 2>&1); then
        err=$(printf '%s' "$err" | tr '\n' ' ')   # one line, like the marker it goes into
        klog=$(dmesg | grep -E 'EXT4-fs|JBD2' | tail -n 2 | sed 's/^\[[ 0-9.]*\] //' | tr '\n' ' ')
        fail "--disk: mounting $dev (ext4, $TB_DISK_MODE) on /disk failed: $err [kernel: ${klog% }]"
    fi
    export DISK=/disk
fi

# NICs by vendor:device, in PCI order (the glob is sorted), matched against the models asked for.
# shellcheck disable=SC2086 # a space-separated list of model names, split into $1, $2, ... on purpose
set -- $TB_MODELS
i=0
for d in /sys/bus/pci/devices/*; do
    read -r v < "$d/vendor"; read -r dev < "$d/device"
    case "$v:$dev" in
        0x8086:0x100e) model=e1000 ;;
        0x8086:0x10d3) model=e1000e ;;
        0x8086:0x10c9) model=igb ;;
        0x10ec:0x8139) model=rtl8139 ;;
        *) continue ;;
    esac
    bdf=${d##*/}
    [ $# -gt 0 ] || fail "more e1000-family NICs than the $TB_NIC_COUNT expected"
    [ "$model" = "$1" ] || fail "NIC$i at $bdf is $model, expected $1"
    shift
    grp=$(readlink "$d/iommu_group") || fail "$bdf has no IOMMU group"
    grp=${grp##*/}
    if [ "$TB_BIND" = 1 ]; then
        if [ -e "$d/driver" ]; then echo "$bdf" > "$d/driver/unbind"; fi
        echo vfio-pci > "$d/driver_override"
        echo "$bdf" > /sys/bus/pci/drivers_probe
        drv=$(readlink "$d/driver")
        [ "${drv##*/}" = vfio-pci ] || fail "binding $bdf to vfio-pci failed"
        [ -c "/dev/vfio/$grp" ] || fail "/dev/vfio/$grp missing after binding $bdf"
    fi
    export NIC$i="$bdf" MAC$i="52:54:00:12:34:5$i" MODEL$i="$model" GROUP$i="$grp"
    i=$((i + 1))
done
[ $# -eq 0 ] || fail "found $i NICs, expected $TB_NIC_COUNT"
export NIC_COUNT=$i ZCNIC_TESTBED=1

cd /tmp || fail "cannot enter /tmp"
read -r up _ < /proc/uptime
echo "zcnic-testbed: command starts at uptime ${up}s"
echo "$M:cmd-begin:$TB_NONCE@@"
sh /cmd.sh < /dev/null 2>&1
st=$?
echo "$M:cmd-end:$TB_NONCE status=$st@@"
read -r up _ < /proc/uptime
echo "zcnic-testbed: command ended at uptime ${up}s"
# --fetch: each path that is a regular file now goes out in base64 between two markers; the index
# is the path's line number (from 0) in /zcnic/fetch.list, the host knows the names.
if [ -s /zcnic/fetch.list ]; then
    i=0
    while IFS= read -r p; do
        if [ -f "$p" ]; then
            echo "$M:fetch-begin:$TB_NONCE:$i@@ size=$(wc -c < "$p") $p"
            base64 < "$p"
            echo "$M:fetch-end:$TB_NONCE:$i@@"
        fi
        i=$((i + 1))
    done < /zcnic/fetch.list
    read -r up _ < /proc/uptime
    echo "zcnic-testbed: fetch done at uptime ${up}s"
fi
if [ -n "$TB_DISK" ]; then
    cd /
    umount /disk 2>/dev/null || { sync; echo "zcnic-testbed: /disk busy, not unmounted (synced)"; }
fi
dump_dmesg
poweroff -f
