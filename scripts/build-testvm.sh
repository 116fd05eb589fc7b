#!/usr/bin/env bash
# Builds Cinergy's built-in test VM into a cache directory (cached: a second
# call does nothing unless scripts/testvm/init or busybox changed):
#   CACHE/vmlinuz          guest kernel, extracted from the Debian package that
#                          linux-image-cloud-amd64 depends on (apt-get download,
#                          never installed; serial console, gzip initrd, ACPI)
#   CACHE/initrd.cpio.gz   busybox-static initramfs with scripts/testvm/init
#   CACHE/kernel.version   the kernel package name
#   CACHE/initrd.stamp     sha256 of the inputs of initrd.cpio.gz
# Usage: scripts/build-testvm.sh [CACHE_DIR]
#   default CACHE_DIR: $CINERGY_TESTVM_CACHE, else /var/cache/cinergy/testvm
# Needs: apt (Debian mirror reachable on the first build), dpkg-deb,
# busybox-static, gzip, sha256sum. Prints one line per thing it built.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${CINERGY_TESTVM_CACHE:-/var/cache/cinergy/testvm}}
init_src="$here/testvm/init"
busybox=/bin/busybox

die() { echo "build-testvm.sh: $*" >&2; exit 1; }

[ -f "$init_src" ] || die "missing $init_src"
mkdir -p "$cache" || die "cannot create cache directory $cache"
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- guest kernel ----------------------------------------------------------
if [ ! -s "$cache/vmlinuz" ]; then
  command -v apt-get >/dev/null || die "apt-get not found: the guest kernel comes from a Debian package"
  resolve() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
  kpkg=$(resolve)
  if [ -z "$kpkg" ]; then
    echo "build-testvm.sh: linux-image-cloud-amd64 unknown to apt, running apt-get update"
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed: is the Debian mirror reachable?"
    kpkg=$(resolve)
    [ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 with apt-cache"
  fi
  (cd "$tmp" && apt-get download -qq "$kpkg" >/dev/null 2>"$tmp/apt.err") ||
    die "apt-get download $kpkg failed (Debian mirror unreachable?): $(tail -n1 "$tmp/apt.err")"
  dpkg-deb --fsys-tarfile "$tmp"/"$kpkg"_*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' ||
    die "no /boot/vmlinuz-* in $kpkg"
  mv "$tmp"/boot/vmlinuz-* "$cache/vmlinuz.new"
  mv -f "$cache/vmlinuz.new" "$cache/vmlinuz"
  echo "$kpkg" >"$cache/kernel.version"
  echo "build-testvm.sh: kernel $kpkg -> $cache/vmlinuz"
fi

# --- initramfs -------------------------------------------------------------
[ -x "$busybox" ] || die "$busybox missing: install busybox-static"
if command -v dpkg-query >/dev/null &&
  [ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" != "install ok installed" ]; then
  die "busybox-static is not installed (the initramfs needs a static busybox)"
fi
stamp=$(cat "$init_src" "$busybox" | sha256sum | cut -d' ' -f1)
if [ ! -s "$cache/initrd.cpio.gz" ] || [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
  root="$tmp/rootfs"
  mkdir -p "$root"/{bin,dev,proc,sys}
  cp "$busybox" "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  install -m 0755 "$init_src" "$root/init"
  # Device nodes need root; without them /init mounts devtmpfs instead.
  if [ "$(id -u)" -eq 0 ]; then
    mknod -m 600 "$root/dev/console" c 5 1
    mknod -m 666 "$root/dev/null" c 1 3
  fi
  (cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -9 >"$tmp/initrd.cpio.gz")
  mv -f "$tmp/initrd.cpio.gz" "$cache/initrd.cpio.gz"
  echo "$stamp" >"$cache/initrd.stamp"
  echo "build-testvm.sh: initramfs -> $cache/initrd.cpio.gz ($(stat -c %s "$cache/initrd.cpio.gz") bytes)"
fi
echo "build-testvm.sh: test VM ready in $cache"
