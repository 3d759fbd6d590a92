#!/usr/bin/env bash
# Install what the zcnic tests and demo need on a Debian 12 machine:
#   - host packages: QEMU, a static busybox, kmod (depmod), cpio, a C toolchain with static glibc
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
# static guest binaries; shellcheck lints every script under scripts/ (tests/scripts.rs).
PACKAGES=(qemu-system-x86 busybox-static kmod cpio xz-utils lz4 gcc libc6-dev e2fsprogs fonts-dejavu-core shellcheck)
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
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        die "packages missing (${missing[*]}) and not root and no sudo: install them as root"
    fi
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
