#!/usr/bin/env bash
# Build a current erofs-utils (mkfs.erofs/fsck.erofs 1.9.x) into
# /opt/erofs-utils as a test oracle: Debian 12 ships 1.5, which has no
# --tar and cannot check 512-byte-block (tar-index) images. The source is
# Debian's own upload (checksum pinned); nothing of it enters layerseal.
#
# Best effort: when the download is gone (Debian moved on) it says so and
# exits 0, and the tests that would use it skip with a notice.
set -euo pipefail
version=1.9.4
sha256=7d135aa2550326a5acf20f53c518aea5a8900015ce50700044e40f818c31dd80
prefix=/opt/erofs-utils
if [ -x "$prefix/bin/mkfs.erofs" ] && "$prefix/bin/mkfs.erofs" --version 2>/dev/null | grep -q "$version"; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-erofs-utils: SKIPPED (needs root to install into $prefix)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(autoconf automake libtool pkg-config uuid-dev gcc make curl ca-certificates)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url="https://deb.debian.org/debian/pool/main/e/erofs-utils/erofs-utils_${version}.orig.tar.gz"
if ! curl -fsSL -o "$work/src.tar.gz" "$url"; then
    echo "install-erofs-utils: SKIPPED ($url not downloadable)"
    exit 0
fi
echo "$sha256  $work/src.tar.gz" | sha256sum -c --quiet
tar -xzf "$work/src.tar.gz" -C "$work"
cd "$work/erofs-utils-$version"
./autogen.sh >"$work/log" 2>&1
./configure --prefix="$prefix" --disable-lz4 --disable-lzma --disable-fuse --without-selinux \
    --without-libzstd --without-libdeflate --without-zlib --without-xxhash >>"$work/log" 2>&1
make -j"$(nproc)" >>"$work/log" 2>&1 || { tail -30 "$work/log"; exit 1; }
make install >>"$work/log" 2>&1
echo "install-erofs-utils: $("$prefix/bin/mkfs.erofs" --version | head -1) in $prefix/bin"
