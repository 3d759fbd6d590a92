#!/usr/bin/env bash
# Install what the zcnic tests and demo need on a Debian 12 machine:
#   - QEMU >= 8 (qemu-system-x86 with its firmware: seabios, the NICs' iPXE option ROMs), from the
#     bookworm-backports suite, which this script adds to apt's sources when missing. Debian 12's own
#     QEMU 7.2 cuts the e1000e's TSO packets into IP fragments instead of TCP segments and has no igb;
#   - host packages: a static busybox, kmod (depmod), cpio, a C toolchain with static glibc
#     (the guest binaries are linked with crt-static), and shellcheck (tests/scripts.rs lints scripts/);
#   - two guest kernels, downloaded and unpacked into the zcnic cache, NOT installed:
#       $ZCNIC_CACHE/kernel-cloud -> kernels/linux-image-<ver>-cloud-amd64   (fast boot, no e1000 driver)
#       $ZCNIC_CACHE/kernel-full  -> kernels/linux-image-<ver>-amd64         (has e1000.ko / e1000e.ko)
#     each with modules.dep (depmod -b) and boot/vmlinux-<ver>, the uncompressed kernel that QEMU boots
#     directly (PVH) so the guest does not decompress itself under TCG;
#   - a check that the Rust toolchain (cargo) is there.
#
# Idempotent. When everything is already in place it touches neither apt nor the network.
#
# Usage: scripts/setup.sh [--refresh] [--help]
#   --refresh   re-resolve the guest kernel packages (after an apt-get update) even if cached
#
# Environment: ZCNIC_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/zcnic)
set -euo pipefail

# xz-utils and lz4 decompress the guest kernels (see extract_vmlinux); e2fsprogs makes the ext4 disk
# images of the big-file tests and the benchmark; fonts-dejavu-core is the benchmark chart's font; gcc and libc6-dev link the
# static guest binaries; shellcheck lints every script under scripts/ (tests/scripts.rs); linux-perf
# profiles QEMU on the host for the benchmark (scripts/bench-profile.sh).
PACKAGES=(busybox-static kmod cpio xz-utils lz4 gcc libc6-dev e2fsprogs fonts-dejavu-core shellcheck linux-perf)
# QEMU comes from bookworm-backports (see install_qemu); its firmware packages are dependencies of
# qemu-system-x86, listed so that a removed one is noticed: the q35 machine boots through seabios's
# bios-256k.bin and every -device e1000/e1000e/igb loads its iPXE option ROM (efi-e1000e.rom, ...),
# without which QEMU refuses to start.
QEMU_PACKAGES=(qemu-system-x86 qemu-system-data seabios ipxe-qemu)
QEMU_MIN_MAJOR=8
BACKPORTS_SUITE=bookworm-backports
BACKPORTS_SOURCES=/etc/apt/sources.list.d/zcnic-bookworm-backports.sources
# kind:meta-package
KERNELS=(cloud:linux-image-cloud-amd64 full:linux-image-amd64)

die() { echo "setup.sh: error: $*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

REFRESH=0
while [ $# -gt 0 ]; do
    case "$1" in
        --refresh) REFRESH=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
done

ZCNIC_CACHE="${ZCNIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zcnic}"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=()  # decided below, only if something must be installed
fi

APT_UPDATED=0
apt_update_once() {
    [ "$APT_UPDATED" -eq 1 ] && return 0
    echo "setup.sh: apt-get update" >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
        || die "apt-get update failed"
    APT_UPDATED=1
}

summary=()

need_root_or_sudo() {
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        die "$1 and not root and no sudo: run scripts/setup.sh as root"
    fi
}

# ---------------------------------------------------------------- QEMU >= 8
# "bookworm" on Debian 12; whatever the machine says otherwise (empty when it says nothing).
os_codename() (
    ID="" VERSION_CODENAME=""
    # shellcheck disable=SC1091 # a system file, not part of this repository
    [ -r /etc/os-release ] && . /etc/os-release
    if [ "$ID" = debian ]; then printf '%s' "$VERSION_CODENAME"; else printf '%s %s' "$ID" "$VERSION_CODENAME"; fi
)

# The major version of an installed Debian package version: 1:10.0.3+ds-1~bpo12+1 -> 10.
debian_major() {
    local v="${1#*:}"
    v="${v%%[!0-9]*}"
    printf '%s' "${v:-0}"
}

# Whether some apt source (one-line or deb822) already names the suite, outside comments.
apt_has_suite() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] && grep -qsE "^[^#]*[[:space:]]$1([[:space:]]|\$)" "$f" && return 0
    done
    return 1
}

# The archive URI of the machine's own bookworm source (a local mirror stays in use), from a deb822
# stanza or a one-line entry; deb.debian.org when none is found.
debian_mirror() {
    local f uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # One stanza per paragraph; comment lines inside a stanza are skipped.
        uri="$(awk 'BEGIN { RS = "" }
            { types = suites = uris = ""
              n = split($0, line, "\n")
              for (i = 1; i <= n; i++) {
                  if (line[i] ~ /^[ \t]*#/) continue
                  if (line[i] ~ /^Types:/) types = " " substr(line[i], 7) " "
                  if (line[i] ~ /^Suites:/) suites = " " substr(line[i], 8) " "
                  if (line[i] ~ /^URIs:/) uris = substr(line[i], 6)
              }
              if (types ~ /[ \t]deb[ \t]/ && suites ~ /[ \t]bookworm[ \t]/) {
                  split(uris, u, " "); print u[1]; exit
              } }' "$f")"
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ]; then
        uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{ sub(/\[[^]]*\]/, "") } $1 == "deb" && $3 == "bookworm" { print $2; exit }')"
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

# Adds bookworm-backports to apt's sources unless a source already names it; succeeds when it added it.
add_backports_source() {
    local mirror
    apt_has_suite "$BACKPORTS_SUITE" && return 1
    mirror="$(debian_mirror)"
    echo "setup.sh: adding $BACKPORTS_SUITE to apt's sources ($BACKPORTS_SOURCES)" >&2
    printf '%s\n' \
        "# Added by zcnic's scripts/setup.sh: QEMU >= 8 for the emulated test bed." \
        "Types: deb" \
        "URIs: $mirror" \
        "Suites: $BACKPORTS_SUITE" \
        "Components: main" \
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
        | "${SUDO[@]}" tee "$BACKPORTS_SOURCES" >/dev/null \
        || die "cannot write $BACKPORTS_SOURCES"
}

# Installs QEMU and its firmware. On Debian 12 from bookworm-backports (apt -t), elsewhere from the
# default suites; either way the result must be QEMU >= $QEMU_MIN_MAJOR.
install_qemu() {
    local codename target=() ver
    codename="$(os_codename)"
    need_root_or_sudo "QEMU >= $QEMU_MIN_MAJOR is missing"
    if [ "$codename" = bookworm ]; then
        add_backports_source || true
        target=(-t "$BACKPORTS_SUITE")
    else
        echo "setup.sh: note: this machine is not Debian 12 (bookworm) but ${codename:-unknown}:" \
            "setup.sh is written for Debian 12; installing QEMU from the default apt suites" >&2
    fi
    # Only here, never when QEMU is already right: the new suite (or a fresh machine) needs the lists.
    apt_update_once
    echo "setup.sh: installing ${QEMU_PACKAGES[*]}${target[*]:+ (${target[*]})}" >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${target[@]}" "${QEMU_PACKAGES[@]}" >&2 \
        || die "apt-get install ${target[*]} ${QEMU_PACKAGES[*]} failed"
    ver="$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)"
    if [ "$(debian_major "$ver")" -lt "$QEMU_MIN_MAJOR" ]; then
        die "qemu-system-x86 ${ver:-(none)} installed, but the test bed needs QEMU >= $QEMU_MIN_MAJOR" \
            "(this machine: ${codename:-unknown}; on Debian 12 it comes from $BACKPORTS_SUITE)"
    fi
    summary+=("installed QEMU $ver")
}

# One dpkg-query call: installed status and version of each QEMU package. Fast path: all installed
# and qemu-system-x86 at least QEMU_MIN_MAJOR (e.g. 1:10.0.x~bpo12 from bookworm-backports).
declare -A qstatus=() qversion=()
while IFS=' ' read -r name st ver; do
    qstatus["${name%%:*}"]="$st"
    qversion["${name%%:*}"]="$ver"
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev} ${Version}\n' "${QEMU_PACKAGES[@]}" 2>/dev/null || true)
qemu_ok=1
for p in "${QEMU_PACKAGES[@]}"; do
    case "${qstatus[$p]:-}" in ii*) ;; *) qemu_ok=0 ;; esac
done
if [ "$qemu_ok" -eq 1 ] && [ "$(debian_major "${qversion[qemu-system-x86]}")" -ge "$QEMU_MIN_MAJOR" ]; then
    summary+=("QEMU ${qversion[qemu-system-x86]}")
else
    install_qemu
fi

# ---------------------------------------------------------------- host packages
missing=()
# One dpkg-query call for all packages; a package never seen prints nothing (and an error on stderr).
declare -A status=()
while IFS=' ' read -r name st; do
    status["${name%%:*}"]="$st"
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null || true)
for p in "${PACKAGES[@]}"; do
    case "${status[$p]:-}" in
        ii*) ;;
        *) missing+=("$p") ;;
    esac
done
if [ ${#missing[@]} -gt 0 ]; then
    need_root_or_sudo "packages missing (${missing[*]})"
    apt_update_once
    echo "setup.sh: installing ${missing[*]}" >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed"
    summary+=("installed ${missing[*]}")
else
    summary+=("packages ok")
fi

# ---------------------------------------------------------------- guest kernels
DEPMOD="$(command -v depmod || echo /sbin/depmod)"
[ -x "$DEPMOD" ] || die "depmod not found (package kmod)"

# Prints the versioned package a kernel meta package depends on, e.g. linux-image-6.1.0-56-cloud-amd64.
resolve_kernel_pkg() {
    apt-cache depends "$1" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-6/ { print $2; exit }'
}

# Writes $1/boot/vmlinux-$2, the uncompressed ELF kernel inside the bzImage, when the kernel can boot
# from it through its PVH entry point (CONFIG_PVH=y): QEMU then loads the ELF directly and the guest
# skips decompressing itself under TCG (about 3 s for the xz-compressed full kernel, 0.4 s for the
# lz4-compressed cloud kernel). Otherwise writes boot/.no-vmlinux and testbed.sh boots the bzImage.
extract_vmlinux() {
    local root="$1" kver="$2" bz="$1/boot/vmlinuz-$2" out="$1/boot/vmlinux-$2" cfg="$1/boot/config-$2"
    local magic tool off tmp
    [ -f "$out" ] || [ -f "$root/boot/.no-vmlinux" ] && return 0
    grep -q '^CONFIG_PVH=y' "$cfg" 2>/dev/null || { : > "$root/boot/.no-vmlinux"; return 0; }
    if grep -q '^CONFIG_KERNEL_XZ=y' "$cfg"; then magic=$'\xfd7zXZ\x00' tool="xz -dc"
    elif grep -q '^CONFIG_KERNEL_LZ4=y' "$cfg"; then magic=$'\x02\x21\x4c\x18' tool="lz4 -dc"
    elif grep -q '^CONFIG_KERNEL_GZIP=y' "$cfg"; then magic=$'\x1f\x8b\x08' tool="gzip -dc"
    elif grep -q '^CONFIG_KERNEL_ZSTD=y' "$cfg"; then magic=$'\x28\xb5\x2f\xfd' tool="zstd -dc"
    else : > "$root/boot/.no-vmlinux"; return 0
    fi
    if ! command -v "${tool%% *}" >/dev/null 2>&1; then
        echo "setup.sh: note: ${tool%% *} missing, kernel $kver will boot from its bzImage (slower)" >&2
        return 0
    fi
    tmp="$out.tmp.$$"
    # The compressed payload follows the decompressor stub; the magic may also occur by chance
    # earlier, so try each match until one decompresses to an ELF file. Trailing bytes after the
    # payload make the tool complain: ignore its status, check the result.
    while read -r off; do
        tail -c +"$((off + 1))" "$bz" | $tool > "$tmp" 2>/dev/null || true
        if [ "$(head -c 4 "$tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
            mv -f "$tmp" "$out"
            return 0
        fi
    done < <(LC_ALL=C grep -abo "$magic" "$bz" 2>/dev/null | cut -d: -f1)
    rm -f "$tmp"
    echo "setup.sh: note: could not extract vmlinux from $bz; it will boot from the bzImage" >&2
    : > "$root/boot/.no-vmlinux"
}

# Unpacks versioned package $1 into $ZCNIC_CACHE/kernels/$1 (unless already complete there).
fetch_kernel() {
    local pkg="$1" dest="$ZCNIC_CACHE/kernels/$1" tmp deb root kver
    if [ -f "$dest/.complete" ]; then
        return 0
    fi
    mkdir -p "$ZCNIC_CACHE/kernels"
    tmp="$(mktemp -d "$ZCNIC_CACHE/kernels/.tmp.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    echo "setup.sh: downloading $pkg" >&2
    # apt-get download writes into the current directory. As root, apt warns that the download is
    # unsandboxed; harmless.
    (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>"$tmp/apt.err") \
        || { cat "$tmp/apt.err" >&2; die "apt-get download $pkg failed"; }
    deb="$(find "$tmp" -maxdepth 1 -name '*.deb' | head -n1)"
    [ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
    root="$tmp/root"
    mkdir "$root"
    dpkg-deb -x "$deb" "$root" || die "dpkg-deb -x $deb failed"
    rm -f "$deb"
    # Debian 12 keeps modules under /lib/modules (not merged into /usr yet); accept both.
    local moddir=""
    for d in "$root"/lib/modules/* "$root"/usr/lib/modules/*; do
        if [ -d "$d" ]; then moddir="$d"; break; fi
    done
    [ -n "$moddir" ] || die "$pkg contains no lib/modules/<version> directory"
    kver="$(basename "$moddir")"
    if [ "$moddir" = "$root/usr/lib/modules/$kver" ] && [ ! -e "$root/lib/modules" ]; then
        mkdir -p "$root/lib" && ln -s ../usr/lib/modules "$root/lib/modules"
    fi
    ls "$root"/boot/vmlinuz-* >/dev/null 2>&1 || die "$pkg contains no /boot/vmlinuz-*"
    "$DEPMOD" -b "$root" "$kver" || die "depmod -b $root $kver failed"
    extract_vmlinux "$root" "$kver"
    printf '%s\n' "$kver" > "$root/.complete"
    chmod -R u+w "$root"
    rm -rf "$dest"               # an incomplete leftover from an interrupted run
    if ! mv -T "$root" "$dest" 2>/dev/null; then
        # Another setup.sh finished the same kernel first.
        [ -f "$dest/.complete" ] || die "cannot move $root to $dest"
    fi
    rm -rf "$tmp"
    trap - EXIT
}

for entry in "${KERNELS[@]}"; do
    kind="${entry%%:*}" meta="${entry#*:}"
    link="$ZCNIC_CACHE/kernel-$kind"
    if [ "$REFRESH" -eq 0 ] && [ -f "$link/.complete" ]; then
        # A cache made before vmlinux extraction existed gets it now (no apt needed).
        extract_vmlinux "$(cd "$link" && pwd -P)" "$(cat "$link/.complete")"
        summary+=("kernel-$kind $(cat "$link/.complete") (cached)")
        continue
    fi
    [ "$REFRESH" -eq 1 ] && apt_update_once
    pkg="$(resolve_kernel_pkg "$meta")"
    if [ -z "$pkg" ] && [ "$APT_UPDATED" -eq 0 ]; then
        apt_update_once   # a fresh machine may have empty package lists
        pkg="$(resolve_kernel_pkg "$meta")"
    fi
    [ -n "$pkg" ] || die "cannot resolve the kernel package behind $meta (apt-cache depends $meta)"
    old="$(readlink "$link" 2>/dev/null || true)"
    fetch_kernel "$pkg"
    mkdir -p "$ZCNIC_CACHE"
    # Relative link, replaced atomically.
    ln -sfn "kernels/$pkg" "$link.tmp.$$"
    mv -T "$link.tmp.$$" "$link"
    kver="$(cat "$link/.complete")"
    if [ "$old" = "kernels/$pkg" ]; then
        summary+=("kernel-$kind $kver (up to date)")
    else
        summary+=("kernel-$kind $kver (unpacked)")
    fi
done

# ---------------------------------------------------------------- Rust toolchain
if [ -z "${CARGO:-}" ] && ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup.sh: note: cargo is in ~/.cargo/bin but not on PATH (source ~/.cargo/env)" >&2
    PATH="$HOME/.cargo/bin:$PATH"
fi
CARGO_BIN="${CARGO:-cargo}"
if ! cargo_version="$("$CARGO_BIN" --version 2>/dev/null)"; then
    die "the Rust toolchain is missing: cargo not found. Install it with rustup (https://rustup.rs), e.g.
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
then run scripts/setup.sh again."
fi
summary+=("${cargo_version%% (*}")

printf 'setup.sh:'; printf ' %s;' "${summary[@]}"; printf ' cache %s\n' "$ZCNIC_CACHE"
