#!/usr/bin/env bash
# Boot a QEMU guest (TCG) with emulated Intel NICs behind an emulated Intel IOMMU, run one shell
# command in it, and leave the results in a directory.
#
# Usage: scripts/testbed.sh [options] [--] 'shell command run in the guest'
#   (several words after the options are joined with spaces into one command)
#   --nic MODEL          e1000, e1000e or igb (or rtl8139: a NIC zcnic does not support, for tests); repeatable, 1 to 4 NICs (NIC0, NIC1, ... in order);
#                        default: one e1000
#   --kernel KIND        cloud (default; no e1000 driver, fastest) or full (has e1000.ko/e1000e.ko)
#   --out DIR            results directory (created; default: a new mktemp -d, printed on stderr)
#   --hugepages N        2 MiB hugepages reserved in the guest before the command (default 16)
#   --mem MB             guest RAM (default 512)
#   --smp N              vCPUs (default 1)
#   --timeout SECS       wall-clock limit of the QEMU run (default 180); QEMU is killed on expiry
#   --no-build           do not build; use the binaries already in the guest target dir
#   --build-only         only build the static guest binaries, then exit 0
#   --no-bind            leave the NICs unbound (not bound to vfio-pci)
#   --no-pcap            do not capture the NICs' frames (no nic<i>.pcap; for benchmarks)
#   --udp-link BASE      instead of a hub, connect NIC i to UDP port BASE+i on 127.0.0.1, exchanging
#                        frames with a relay on the host at ports BASE+10+i (NIC0's frames arrive at
#                        BASE+10, NIC1's at BASE+11; the relay sends NIC1's to BASE from BASE+10 and
#                        NIC0's to BASE+1 from BASE+11): the tests put a lossy, reordering link there
#   --monitor SOCKET     QEMU's human monitor on a unix socket, for fault injection from the host
#                        while the guest runs (e.g. `set_link n0 off`; NIC i's netdev is n<i>)
#   --qemu-arg ARG       one more argument for QEMU (e.g. -perfmap for a host-side profile); repeatable
#                        (QEMU names its threads: the vCPUs are "CPU <n>/TCG", for perf and top)
#   --file HOST[:GUEST]  copy a host file or directory into the guest (default /data/<basename>;
#                        GUEST must be absolute); repeatable
#   --fetch GUEST_PATH   after the command, copy the guest file GUEST_PATH (absolute) back to
#                        DIR/fetched/<basename>, if it is a regular file then; repeatable (a basename
#                        already taken by an earlier --fetch gets the suffix .<index>, index = 0 for
#                        the first --fetch); a path that is not a regular file gives no file
#   --disk IMAGE         attach the host file IMAGE (raw, the whole of it one ext4 filesystem, no
#                        partition table; e.g. `mkfs.ext4 -q -F -d SRCDIR IMAGE 400M`) as a virtio-blk
#                        disk, mounted read-only on /disk before the command; at most one
#   --disk-rw            attach and mount the --disk image read-write (the guest's writes reach
#                        IMAGE; /disk is unmounted after the command and the --fetch files)
#   -h, --help           this text
#
# In the guest the command runs with `sh /cmd.sh` in /tmp, stdin from /dev/null, as root, with
#   PATH       /zcnic/bin (our static binaries and examples) first, then busybox
#   NIC_COUNT  number of NICs;  NIC<i>  PCI address (0000:00:02.0 ...), found by vendor:device in
#              PCI order;  MAC<i>  its MAC (52:54:00:12:34:5<i>);  MODEL<i>  e1000, e1000e or igb;
#   GROUP<i>   its IOMMU group number (/dev/vfio/<group> once bound);  ZCNIC_TESTBED=1;
#   DISK       /disk, only with --disk (the ext4 of IMAGE on /dev/vda, a virtio-blk PCI device at
#              0000:00:10.0, outside the IOMMU's translation: iommu_platform=off)
# hugetlbfs is mounted on /dev/hugepages, tmpfs on /tmp and /dev/shm. Kernel modules vfio,
# vfio-pci, vfio_iommu_type1 (and deps) are loaded; e1000/e1000e/igb (full kernel only) are in the
# initramfs but not loaded: `modprobe e1000` loads them. With --disk, the virtio modules (and, full
# kernel, ext4 and crc32c) are loaded too; a disk that cannot be mounted is a test-bed failure (125).
#
# Results in DIR: console.log (whole serial console), output.log (what the command printed,
# stdout+stderr), dmesg.log (guest dmesg after the command), nic<i>.pcap (all frames of NIC i),
# status (the exit status below), qemu.log (QEMU's stderr), build.log (cargo's output),
# fetched/ (the --fetch files; only with --fetch).
#
# Exit status: the command's exit status; 124 if the guest did not report one (timeout, or the guest
# died during the command); 125 if the test bed failed (setup missing, build failed, QEMU failed,
# guest setup failed before the command ran, bad usage).
#
# Environment: ZCNIC_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/zcnic, filled by setup.sh),
#              ZCNIC_GUEST_TARGET_DIR (default <repo>/target/guest), CARGO (cargo to use),
#              ZCNIC_TESTBED_APPEND (extra guest kernel arguments),
#              ZCNIC_TESTBED_BZIMAGE=1 (boot the compressed bzImage, not the extracted vmlinux).
set -euo pipefail

TB_FAIL=125
TB_TIMEOUT=124
TRIPLE=x86_64-unknown-linux-gnu
# Bump when the layout of the cached base initramfs changes in a way the hash below cannot see.
BASE_FORMAT=1
# Kernel modules loaded at boot (with their dependencies), and modules only shipped (when the kernel
# has them) so that the command can `modprobe` them.
LOAD_MODULES="vfio-pci vfio_iommu_type1"
SHIP_MODULES="e1000 e1000e igb"
# Loaded only with --disk, from the per-run archive (those built into the kernel are skipped): the
# virtio-blk disk, and ext4 with the crc32c its metadata checksums need (a crypto-API dependency that
# modules.dep does not list).
DISK_MODULES="virtio_pci virtio_blk ext4 crc32c_generic"
# PCI slot of the --disk device: after the NICs' slots 2..5, so it shifts no NIC address or group.
DISK_SLOT=0x10

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
# The guest's /init (busybox sh), copied into the base initramfs.
GUEST_INIT="$SCRIPT_DIR/guest/init.sh"

say() { echo "testbed: $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# ------------------------------------------------------------------ arguments
NICS=()
KIND=cloud
OUT=""
HUGEPAGES=16
MEM=512
SMP=1
TIMEOUT=180
BUILD=1
BUILD_ONLY=0
BIND=1
PCAP=1
MONITOR=
EXTRA_QEMU_ARGS=()
UDP_LINK=
FILES=()
FETCH=()
DISK_IMG=""
DISK_RW=0

usage_error() { say "$*"; say "see scripts/testbed.sh --help"; exit $TB_FAIL; }
need_arg() { [ $# -ge 2 ] || usage_error "option $1 needs a value"; }
need_uint() { [[ "$2" =~ ^[0-9]+$ ]] || usage_error "option $1 needs a number, got '$2'"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --nic) need_arg "$@"
            case "$2" in e1000|e1000e|igb|rtl8139) NICS+=("$2") ;; *) usage_error "--nic: unknown model '$2' (e1000, e1000e, igb, or rtl8139 as a NIC zcnic does not support)" ;; esac
            shift 2 ;;
        --kernel) need_arg "$@"
            case "$2" in cloud|full) KIND="$2" ;; *) usage_error "--kernel: '$2' is not cloud or full" ;; esac
            shift 2 ;;
        --out) need_arg "$@"; OUT="$2"; shift 2 ;;
        --hugepages) need_arg "$@"; need_uint "$1" "$2"; HUGEPAGES="$2"; shift 2 ;;
        --mem) need_arg "$@"; need_uint "$1" "$2"; MEM="$2"; shift 2 ;;
        --smp) need_arg "$@"; need_uint "$1" "$2"; SMP="$2"; shift 2 ;;
        --timeout) need_arg "$@"; need_uint "$1" "$2"; TIMEOUT="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --build-only) BUILD_ONLY=1; shift ;;
        --no-bind) BIND=0; shift ;;
        --no-pcap) PCAP=0; shift ;;
        --monitor) MONITOR="$2"; shift 2 ;;
        --qemu-arg) need_arg "$@"; EXTRA_QEMU_ARGS+=("$2"); shift 2 ;;
        --udp-link) UDP_LINK="$2"; shift 2 ;;
        --file) need_arg "$@"; FILES+=("$2"); shift 2 ;;
        --fetch) need_arg "$@"
            case "$2" in
                *$'\n'*) usage_error "--fetch: the path must not contain a newline" ;;
                */|*/.|*/..) usage_error "--fetch: '$2' does not name a file" ;;
                /*) FETCH+=("$2") ;;
                *) usage_error "--fetch: '$2' is not an absolute path" ;;
            esac
            shift 2 ;;
        --disk) need_arg "$@"
            [ -z "$DISK_IMG" ] || usage_error "--disk: at most one disk"
            [ -n "$2" ] || usage_error "--disk: empty path"
            DISK_IMG="$2"; shift 2 ;;
        --disk-rw) DISK_RW=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) usage_error "unknown option '$1'" ;;
        *) break ;;
    esac
done
CMD="$*"
[ ${#NICS[@]} -gt 0 ] || NICS=(e1000)
[ ${#NICS[@]} -le 4 ] || usage_error "at most 4 NICs"
{ [ "$SMP" -ge 1 ] && [ "$MEM" -ge 128 ] && [ "$TIMEOUT" -ge 1 ]; } \
    || usage_error "--smp must be >= 1, --mem >= 128, --timeout >= 1"
if [ "$BUILD_ONLY" -eq 0 ] && [ -z "$CMD" ]; then
    usage_error "no command given"
fi
[ "$DISK_RW" -eq 0 ] || [ -n "$DISK_IMG" ] || usage_error "--disk-rw needs --disk IMAGE"

ZCNIC_CACHE="${ZCNIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zcnic}"
GUEST_TARGET_DIR="${ZCNIC_GUEST_TARGET_DIR:-$REPO/target/guest}"
REL_DIR="$GUEST_TARGET_DIR/$TRIPLE/release"

# ------------------------------------------------------------------ per-run temp dir, cleanup
RUN_TMP="$(mktemp -d "${TMPDIR:-/tmp}/zcnic-testbed.XXXXXX")"
QEMU_PID=""
# Run by the EXIT trap. shellcheck 0.9 calls its body unreachable because every path of the
# script ends in an exit (koalaman/shellcheck#2542).
# shellcheck disable=SC2317
cleanup() {
    if [ -n "$QEMU_PID" ]; then kill -TERM "$QEMU_PID" 2>/dev/null || true; fi
    rm -rf "$RUN_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

STATUS_FILE=""
finish() {  # finish STATUS [message]
    local st="$1"; shift
    [ $# -gt 0 ] && say "$*"
    if [ -n "$STATUS_FILE" ]; then echo "$st" > "$STATUS_FILE"; fi
    exit "$st"
}

# ------------------------------------------------------------------ results dir
if [ "$BUILD_ONLY" -eq 0 ]; then
    if [ -z "$OUT" ]; then
        OUT="$(mktemp -d "${TMPDIR:-/tmp}/zcnic-testbed-out.XXXXXX")"
        say "results in $OUT"
    fi
    mkdir -p "$OUT" || finish $TB_FAIL "cannot create $OUT"
    OUT="$(cd "$OUT" && pwd)"
    rm -f "$OUT"/console.log "$OUT"/output.log "$OUT"/dmesg.log "$OUT"/nic[0-9].pcap \
        "$OUT"/status "$OUT"/qemu.log "$OUT"/build.log
    rm -rf "$OUT"/fetched
    STATUS_FILE="$OUT/status"
fi

# ------------------------------------------------------------------ preconditions (fail fast)
if [ "$BUILD_ONLY" -eq 0 ]; then
    KDIR="$ZCNIC_CACHE/kernel-$KIND"
    [ -f "$KDIR/.complete" ] \
        || finish $TB_FAIL "guest kernel '$KIND' not found in $ZCNIC_CACHE: run scripts/setup.sh"
    KVER="$(cat "$KDIR/.complete")"
    VMLINUZ="$KDIR/boot/vmlinuz-$KVER"
    [ -f "$VMLINUZ" ] || finish $TB_FAIL "$VMLINUZ missing: run scripts/setup.sh --refresh"
    # setup.sh extracts the uncompressed ELF kernel: QEMU boots it through its PVH entry, which
    # saves the guest decompressing its bzImage under TCG (0.4 s cloud, 3 s full).
    KIMAGE="$VMLINUZ"
    if [ -f "$KDIR/boot/vmlinux-$KVER" ] && [ -z "${ZCNIC_TESTBED_BZIMAGE:-}" ]; then
        KIMAGE="$KDIR/boot/vmlinux-$KVER"
    fi
    command -v qemu-system-x86_64 >/dev/null 2>&1 \
        || finish $TB_FAIL "qemu-system-x86_64 not found: run scripts/setup.sh"
    BUSYBOX=/bin/busybox
    bb_status="$(dpkg-query -W -f='${db:Status-Abbrev}' busybox-static 2>/dev/null || true)"
    { [ -x "$BUSYBOX" ] && [ "${bb_status:0:2}" = ii ]; } \
        || finish $TB_FAIL "static busybox (busybox-static) not installed: run scripts/setup.sh"
    command -v cpio >/dev/null 2>&1 || finish $TB_FAIL "cpio not found: run scripts/setup.sh"
    [ -r "$GUEST_INIT" ] || finish $TB_FAIL "$GUEST_INIT missing: the guest's /init is part of the repository"
    if [ -n "$DISK_IMG" ]; then
        { { [ -f "$DISK_IMG" ] || [ -b "$DISK_IMG" ]; } && [ -r "$DISK_IMG" ]; } \
            || finish $TB_FAIL "--disk: $DISK_IMG is not a readable file"
        [ "$DISK_RW" -eq 0 ] || [ -w "$DISK_IMG" ] \
            || finish $TB_FAIL "--disk-rw: $DISK_IMG is not writable"
        # The ext4 superblock's magic 0xEF53, at byte 1024 + 0x38.
        [ "$(od -An -tx1 -j1080 -N2 "$DISK_IMG" 2>/dev/null | tr -d ' \n')" = 53ef ] \
            || finish $TB_FAIL "--disk: $DISK_IMG does not start with an ext4 filesystem (a raw image, no partition table: mkfs.ext4 -d DIR $DISK_IMG SIZE)"
        DISK_IMG="$(readlink -f "$DISK_IMG")"
    fi
fi

# ------------------------------------------------------------------ build the static guest binaries
if [ "$BUILD" -eq 1 ] || [ "$BUILD_ONLY" -eq 1 ]; then
    BUILD_LOG="${OUT:+$OUT/build.log}"
    BUILD_LOG="${BUILD_LOG:-$RUN_TMP/build.log}"
    if ! (
        cd "$REPO"
        unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET
        export RUSTFLAGS='-C target-feature=+crt-static'
        "${CARGO:-cargo}" build --release --target "$TRIPLE" --target-dir "$GUEST_TARGET_DIR" \
            --bins --examples --features fault-injection --color never
    ) >"$BUILD_LOG" 2>&1; then
        grep -E '^error' "$BUILD_LOG" | head -n 5 | sed 's/^/testbed:   /' >&2 || true
        finish $TB_FAIL "build of the guest binaries failed, see $BUILD_LOG"
    fi
    [ "$BUILD_ONLY" -eq 1 ] && exit 0
fi

# Guest binaries: the bins of the root package and the examples named after examples/*.rs.
GUEST_BINS=()
if [ -d "$REL_DIR" ]; then
    while IFS= read -r f; do
        case "$f" in *.d|*.so|*.rlib|*.a) continue ;; esac
        GUEST_BINS+=("$f")
    done < <(find "$REL_DIR" -maxdepth 1 -type f -perm -u+x | sort)
    for src in "$REPO"/examples/*.rs "$REPO"/examples/*/main.rs; do
        [ -e "$src" ] || continue
        case "$src" in */main.rs) name="$(basename "$(dirname "$src")")" ;; *) name="$(basename "$src" .rs)" ;; esac
        if [ -x "$REL_DIR/examples/$name" ]; then
            GUEST_BINS+=("$REL_DIR/examples/$name")
        elif [ "$BUILD" -eq 0 ]; then
            say "warning: example $name not built in $REL_DIR/examples (--no-build)"
        fi
    done
fi
if [ ${#GUEST_BINS[@]} -eq 0 ]; then
    if [ "$BUILD" -eq 0 ]; then
        finish $TB_FAIL "no guest binaries in $REL_DIR: run without --no-build (or --build-only) first"
    fi
    say "warning: no guest binaries found in $REL_DIR"
fi

# ------------------------------------------------------------------ base initramfs (cached)
# The first archive (busybox, kernel modules, /init) depends only on the kernel, busybox and
# $GUEST_INIT, and is cached in $ZCNIC_CACHE/initramfs. Everything per run (NIC list, nonce, command,
# binaries, --file) goes in a second archive appended to it; /init reads /zcnic/testbed.env.

# A newc cpio with /dev and /dev/console, written by hand so that no mknod (root) is needed: the
# kernel opens /dev/console for /init before /init can mount devtmpfs.
newc_entry() {  # name mode nlink rdevmajor rdevminor ino
    local name="$1" namesize=$(( ${#1} + 1 ))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$6" "$2" 0 0 "$3" 0 0 0 0 "$4" "$5" "$namesize" 0
    printf '%s\0' "$name"
    head -c $(( (4 - (110 + namesize) % 4) % 4 )) /dev/zero
}
console_cpio() {
    newc_entry dev $((0040755)) 2 0 0 1
    newc_entry dev/console $((0020600)) 1 5 1 2
    newc_entry 'TRAILER!!!' 0 1 0 0 0
}

# Prints the module paths (relative to lib/modules/<kver>) to load for $@, dependencies first.
# Modules built into the kernel are skipped; a module neither in modules.dep nor built in is an error.
module_load_order() {
    local moddir="$1"; shift
    awk -v want="$*" -v builtin="$moddir/modules.builtin" '
        function norm(p,   n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); return n }
        BEGIN { while ((getline l < builtin) > 0) isbuiltin[norm(l)] = 1 }
        { sub(/:$/, "", $1); path[norm($1)] = $1; line[norm($1)] = $0 }
        function emit(p) { if (!(p in done)) { done[p] = 1; print p } }
        END {
            n = split(want, w, " ")
            for (i = 1; i <= n; i++) {
                m = w[i]; gsub(/-/, "_", m)
                if (!(m in path)) { if (m in isbuiltin) continue; print "missing:" w[i]; exit 1 }
                k = split(line[m], f, /[: ]+/)
                for (j = k; j >= 2; j--) if (f[j] != "") emit(f[j])   # deps: last one first
                emit(path[m])
            }
        }' "$moddir/modules.dep"
}

build_base() {  # build_base OUTFILE
    local out="$1" stage="$RUN_TMP/base" moddir="$KDIR/lib/modules/$KVER" load ship m
    mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,data,zcnic/bin,etc}
    cp "$BUSYBOX" "$stage/bin/busybox"
    "$BUSYBOX" --list-full | while IFS= read -r app; do
        [ "$app" = bin/busybox ] || ln -sf /bin/busybox "$stage/$app"
    done
    cp "$GUEST_INIT" "$stage/init" || return 1
    echo 'root:x:0:0:root:/tmp:/bin/sh' > "$stage/etc/passwd"
    echo 'root:x:0:' > "$stage/etc/group"
    chmod 0755 "$stage/init"
    # shellcheck disable=SC2086 # a list of names
    load="$(module_load_order "$moddir" $LOAD_MODULES)" \
        || { say "kernel $KVER: $load"; return 1; }
    ship=""
    for m in $SHIP_MODULES; do
        if grep -q "/${m}\.ko[.a-z]*:" "$moddir/modules.dep"; then
            ship+="$(module_load_order "$moddir" "$m")"$'\n'
        fi
    done
    mkdir -p "$stage/lib/modules/$KVER"
    printf '%s\n' "$load" > "$stage/lib/modules/$KVER/zcnic-load.list"
    : > "$stage/lib/modules/$KVER/modules.dep"
    for m in $(printf '%s\n%s\n' "$load" "$ship" | sort -u); do
        mkdir -p "$stage/lib/modules/$KVER/$(dirname "$m")"
        case "$m" in
            *.ko) cp "$moddir/$m" "$stage/lib/modules/$KVER/$m" ;;
            *) say "kernel $KVER: compressed module $m not supported"; return 1 ;;
        esac
        grep "^$m:" "$moddir/modules.dep" >> "$stage/lib/modules/$KVER/modules.dep"
    done
    touch "$stage/lib/modules/$KVER/modules.alias" "$stage/lib/modules/$KVER/modules.symbols"
    cp "$moddir/modules.builtin" "$stage/lib/modules/$KVER/" 2>/dev/null || true
    {
        console_cpio
        (cd "$stage" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort \
            | cpio -o -H newc -R 0:0 --quiet)
    } > "$out"
}

BASE_DIR="$ZCNIC_CACHE/initramfs"
mkdir -p "$BASE_DIR" || finish $TB_FAIL "cannot create $BASE_DIR"
BASE_KEY="$(
    {
        echo "format=$BASE_FORMAT kver=$KVER load=$LOAD_MODULES ship=$SHIP_MODULES"
        readlink -f "$KDIR"; stat -c '%s %Y' "$VMLINUZ" "$KDIR/lib/modules/$KVER/modules.dep"
        stat -L -c '%s %Y' "$BUSYBOX"
        cat "$GUEST_INIT"
        declare -f newc_entry console_cpio module_load_order build_base
    } | sha256sum | cut -c1-16
)"
BASE="$BASE_DIR/base-$KVER-$BASE_KEY.cpio"
if [ ! -f "$BASE" ]; then
    tmp_base="$(mktemp "$BASE_DIR/.base.XXXXXX")"
    if ! build_base "$tmp_base"; then
        rm -f "$tmp_base"
        finish $TB_FAIL "building the base initramfs for $KVER failed"
    fi
    chmod 0644 "$tmp_base"
    mv -f "$tmp_base" "$BASE"   # atomic: parallel runs build the same content
    # Drop bases nobody used for a week (each run touches the one it uses).
    find "$BASE_DIR" -maxdepth 1 -name 'base-*.cpio' -mtime +7 -delete 2>/dev/null || true
    find "$BASE_DIR" -maxdepth 1 -name '.base.*' -mmin +60 -delete 2>/dev/null || true
else
    touch "$BASE" 2>/dev/null || true
fi

# ------------------------------------------------------------------ per-run archive
NONCE="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
STAGE="$RUN_TMP/run"
mkdir -p "$STAGE/zcnic/bin" "$STAGE/data"
for b in "${GUEST_BINS[@]}"; do cp "$b" "$STAGE/zcnic/bin/"; done
printf '%s\n' "$CMD" > "$STAGE/cmd.sh"
{
    echo "TB_NONCE=$NONCE"
    echo "TB_MODELS='${NICS[*]}'"
    echo "TB_NIC_COUNT=${#NICS[@]}"
    echo "TB_HUGEPAGES=$HUGEPAGES"
    echo "TB_BIND=$BIND"
    if [ -n "$DISK_IMG" ]; then
        echo "TB_DISK=1"
        if [ "$DISK_RW" -eq 1 ]; then echo "TB_DISK_MODE=rw"; else echo "TB_DISK_MODE=ro"; fi
    fi
} > "$STAGE/zcnic/testbed.env"
if [ -n "$DISK_IMG" ]; then
    moddir="$KDIR/lib/modules/$KVER"
    # shellcheck disable=SC2086 # a list of names
    disk_load="$(module_load_order "$moddir" $DISK_MODULES)" \
        || finish $TB_FAIL "--disk: kernel $KVER: $disk_load"
    printf '%s\n' "$disk_load" > "$STAGE/zcnic/disk-load.list"
    for m in $disk_load; do
        case "$m" in *.ko) ;; *) finish $TB_FAIL "--disk: kernel $KVER: compressed module $m not supported" ;; esac
        mkdir -p "$STAGE/lib/modules/$KVER/$(dirname "$m")"
        cp "$moddir/$m" "$STAGE/lib/modules/$KVER/$m" || finish $TB_FAIL "--disk: cannot copy $m"
    done
fi
if [ ${#FETCH[@]} -gt 0 ]; then printf '%s\n' "${FETCH[@]}" > "$STAGE/zcnic/fetch.list"; fi
for spec in "${FILES[@]}"; do
    host="$spec" guest=""
    if [[ "$spec" == *:/* ]]; then host="${spec%:/*}" guest="/${spec##*:/}"; fi
    [ -e "$host" ] || finish $TB_FAIL "--file: $host does not exist"
    [ -n "$guest" ] || guest="/data/$(basename "$host")"
    case "$guest" in
        /|/tmp|/tmp/*|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/run|/run/*) finish $TB_FAIL "--file: $guest would be hidden by a mount in the guest (use /data or another path)" ;;
        /disk|/disk/*) [ -z "$DISK_IMG" ] || finish $TB_FAIL "--file: $guest would be hidden by the --disk mount on /disk" ;;
    esac
    mkdir -p "$STAGE$(dirname "$guest")"
    cp -rL "$host" "$STAGE$guest" || finish $TB_FAIL "--file: cannot copy $host"
done
INITRD="$RUN_TMP/initrd.cpio"
{
    cat "$BASE"
    (cd "$STAGE" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
} > "$INITRD" || finish $TB_FAIL "cannot write the initramfs"

# ------------------------------------------------------------------ QEMU
qesc() { printf '%s' "${1//,/,,}"; }   # a comma in a QEMU option value is written ",,"
# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
QEMU_ARGS=(
    -accel tcg -M q35 -cpu max -m "$MEM" -smp "$SMP"
    -nodefaults -display none -no-reboot -name zcnic-testbed,debug-threads=on
    -chardev "file,id=con0,path=$(qesc "$OUT/console.log")" -serial chardev:con0
    -device intel-iommu,intremap=on
)
[ -z "$MONITOR" ] || QEMU_ARGS+=(-monitor "unix:$MONITOR,server=on,wait=off")
QEMU_ARGS+=("${EXTRA_QEMU_ARGS[@]}")
# An igb's SR-IOV capability places its (disabled) VFs at the PF's devfn + 0x80, stride 2: seven
# functions over two slots. PFs in neighbouring slots would collide there, so with an igb present
# every NIC gets every other slot (2, 4, 6, 8; their VFs land in slots 18-25).
slot_step=1
case " ${NICS[*]} " in *" igb "*) slot_step=2 ;; esac
for i in "${!NICS[@]}"; do
    netdev="hubport,id=n$i,hubid=0"
    if [ -n "$UDP_LINK" ]; then
        netdev="socket,id=n$i,udp=127.0.0.1:$((UDP_LINK + 10 + i)),localaddr=127.0.0.1:$((UDP_LINK + i))"
    fi
    QEMU_ARGS+=(
        -netdev "$netdev"
        -device "${NICS[$i]},netdev=n$i,mac=52:54:00:12:34:5$i,addr=$(printf '0x%x' $((2 + slot_step * i)))"
    )
    # A capture of hundreds of MB slows QEMU down: --no-pcap leaves it out (benchmarks).
    [ "$PCAP" -eq 0 ] || QEMU_ARGS+=(-object "filter-dump,id=f$i,netdev=n$i,file=$(qesc "$OUT/nic$i.pcap")")
done
# --disk: virtio-blk outside the IOMMU's translation (iommu_platform=off, QEMU's default): the guest's
# virtio driver then hands the device guest-physical addresses, and QEMU reads guest memory directly.
if [ -n "$DISK_IMG" ]; then
    ro=",readonly=on"; [ "$DISK_RW" -eq 0 ] || ro=""
    # shellcheck disable=SC2054 # commas belong to QEMU's option syntax
    QEMU_ARGS+=(
        -drive "file=$(qesc "$DISK_IMG"),format=raw,if=none,id=d0$ro"
        -device "virtio-blk-pci,drive=d0,addr=$DISK_SLOT,iommu_platform=off"
    )
fi
QEMU_ARGS+=(
    -kernel "$KIMAGE" -initrd "$INITRD"
    -append "console=ttyS0 intel_iommu=on panic=-1 quiet 8250.nr_uarts=1 tsc=reliable cryptomgr.notests no_timer_check${ZCNIC_TESTBED_APPEND:+ $ZCNIC_TESTBED_APPEND}"
)

: > "$OUT/console.log"
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 "${QEMU_ARGS[@]}" </dev/null >"$OUT/qemu.log" 2>&1 &
QEMU_PID=$!
qemu_rc=0
wait "$QEMU_PID" || qemu_rc=$?
QEMU_PID=""

# ------------------------------------------------------------------ results
CON="$OUT/console.log"
MK="@@zcnic-testbed"
# Byte offset and text of the first match of an (ERE) marker; empty when absent.
find_marker() { local m; m="$(grep -a -b -o -m1 -E "$1" "$CON" || true)"; printf '%s' "${m%%$'\n'*}"; }
# Bytes of console.log in [from, to) (to empty: to the end). dd, not tail|head: no SIGPIPE.
slice() {
    if [ -n "$2" ]; then
        dd if="$CON" iflag=skip_bytes,count_bytes skip="$1" count="$(( $2 - $1 ))" bs=64K status=none
    else
        dd if="$CON" iflag=skip_bytes skip="$1" bs=64K status=none
    fi
}
# Offset just past the end of the line holding a marker found at offset $1 with text $2.
past_line() {
    local LC_ALL=C   # ${#2} in bytes, not characters (a --fetch path may be UTF-8)
    local after=$(( $1 + ${#2} )) rest
    rest="$(slice "$after" "$(( after + 2 ))" | od -An -c | tr -d ' \n')"
    case "$rest" in '\r\n'*) echo $(( after + 2 )) ;; '\n'*) echo $(( after + 1 )) ;; *) echo "$after" ;; esac
}

begin="$(find_marker "$MK:cmd-begin:$NONCE@@")"
end="$(find_marker "$MK:cmd-end:$NONCE status=[0-9]+@@")"
dbeg="$(find_marker "$MK:dmesg-begin:$NONCE@@")"
dend="$(find_marker "$MK:dmesg-end:$NONCE@@")"
sfail="$(find_marker "$MK:setup-failed:$NONCE@@.*")"; sfail="${sfail#*:}" sfail="${sfail%$'\r'}"

if [ -n "$begin" ]; then
    b_off="${begin%%:*}" b_txt="${begin#*:}"
    start="$(past_line "$b_off" "$b_txt")"
    if [ -n "$end" ]; then slice "$start" "${end%%:*}" > "$OUT/output.log"
    else slice "$start" "" > "$OUT/output.log"; fi
fi
if [ -n "$dbeg" ] && [ -n "$dend" ]; then
    d_off="${dbeg%%:*}" d_txt="${dbeg#*:}"
    slice "$(past_line "$d_off" "$d_txt")" "${dend%%:*}" | tr -d '\r' > "$OUT/dmesg.log"
fi

# --fetch: decode what the guest sent after the command (nothing before cmd-end counts).
if [ ${#FETCH[@]} -gt 0 ]; then
    mkdir -p "$OUT/fetched"
    declare -A f_beg=() f_end=() f_used=()
    if [ -n "$end" ]; then
        while IFS= read -r m; do
            off="${m%%:*}" txt="${m#*:}"
            [ "$off" -gt "${end%%:*}" ] || continue
            idx="${txt#"$MK:fetch-"*":$NONCE:"}"; idx="${idx%%@@*}"
            case "$txt" in
                "$MK:fetch-begin:"*) [ -n "${f_beg[$idx]:-}" ] || f_beg[$idx]="$off:$txt" ;;
                *) [ -n "${f_end[$idx]:-}" ] || f_end[$idx]="$off" ;;
            esac
        done < <(LC_ALL=C grep -a -b -o -E "$MK:fetch-(begin:$NONCE:[0-9]+@@ size=[0-9]+.*|end:$NONCE:[0-9]+@@)" "$CON" || true)
    fi
    for i in "${!FETCH[@]}"; do
        # Host name: the basename, or basename.<index> when an earlier --fetch already has it.
        name="${FETCH[$i]##*/}"
        while [ -n "${f_used[$name]:-}" ]; do name="$name.$i"; done
        f_used[$name]=1
        [ -n "${f_beg[$i]:-}" ] || continue   # not a regular file in the guest (or never reached)
        b="${f_beg[$i]}"; b_off="${b%%:*}" b_txt="${b#*:}"; size="${b_txt#*@@ size=}" size="${size%% *}"
        if [ -z "${f_end[$i]:-}" ] || [ "${f_end[$i]}" -lt "$b_off" ]; then
            why="the guest stopped while sending it"
            if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
                why="timeout (${TIMEOUT}s) while sending it, $size bytes (about 3 s per MB: raise --timeout)"
            fi
            say "warning: --fetch ${FETCH[$i]}: $why; no $OUT/fetched/$name"
            continue
        fi
        tmpf="$RUN_TMP/fetch.part"
        if slice "$(past_line "$b_off" "$b_txt")" "${f_end[$i]}" | tr -d '\r' | base64 -d > "$tmpf" 2>/dev/null \
            && [ "$(stat -c %s "$tmpf")" = "$size" ]; then
            mv -f "$tmpf" "$OUT/fetched/$name"
        else
            rm -f "$tmpf"
            say "warning: --fetch ${FETCH[$i]}: garbled on the console (bad base64 or not $size bytes); no $OUT/fetched/$name"
        fi
    done
fi

if [ -n "$end" ]; then
    st="${end##*status=}"; st="${st%@@}"
    finish "$st"
elif [ -n "$sfail" ]; then
    finish $TB_FAIL "guest setup failed: ${sfail#*@@ } (see $OUT/console.log)"
elif [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
    finish $TB_TIMEOUT "timeout: no exit status from the guest after ${TIMEOUT}s (see $OUT/console.log)"
elif [ "$qemu_rc" -ne 0 ]; then
    finish $TB_FAIL "QEMU failed (exit $qemu_rc): $(head -c 300 "$OUT/qemu.log" | tr '\n' ' ')"
elif [ -z "$begin" ]; then
    finish $TB_FAIL "the guest stopped before running the command (see $OUT/console.log)"
else
    finish $TB_TIMEOUT "the guest stopped during the command without reporting a status (see $OUT/console.log)"
fi
