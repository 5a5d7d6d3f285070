#!/usr/bin/env bash
# Build a current erofs-utils (mkfs.erofs/fsck.erofs 1.9.x) into
# /opt/erofs-utils as a test oracle: Debian 12 ships 1.5, which has no
# --tar and cannot check 512-byte-block (tar-index) images, and Debian 13
# 1.8.6; 1.9 is only in Debian's unstable suite, which is why that suite is
# named here. The source is fetched with `apt-get source` through a private
# package list (kept in $cache, built from the mirror the system's own
# sources use; the system's apt configuration is untouched), so apt checks
# it against the archive's signed index. Nothing of it enters layerseal.
#
# Best effort: when that version is gone (Debian moved on) it says so and
# exits 0, and the tests that would use it skip with a notice.
set -euo pipefail
version=1.9.4
debian_version=$version-1
prefix=/opt/erofs-utils
cache=${LAYERSEAL_APT_CACHE:-/var/cache/layerseal-apt}
log() { printf 'install-erofs-utils: %s\n' "$*" >&2; }
if [ -x "$prefix/bin/mkfs.erofs" ] && "$prefix/bin/mkfs.erofs" --version 2>/dev/null | grep -q "$version"; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    log "SKIPPED (needs root to install into $prefix)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(autoconf automake libtool pkg-config uuid-dev gcc make)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}" >/dev/null
fi

codename=$(. /etc/os-release; echo "${VERSION_CODENAME:-bookworm}")
uri=$(apt-cache policy 2>/dev/null | awk -v s="$codename/main" '$3 == s { print $2; exit }')
if [ -z "$uri" ]; then
    log "SKIPPED (no Debian mirror for $codename/main in the system's apt sources)"
    exit 0
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/sources.list.d"
echo "deb-src [signed-by=$keyring] $uri unstable main" > "$cache/sources.list"
apt_priv=(-o "Dir::Etc::SourceList=$cache/sources.list" -o "Dir::Etc::SourceParts=$cache/sources.list.d"
          -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache=$cache")
if ! apt-get "${apt_priv[@]}" -qq update >/dev/null 2>&1; then
    log "SKIPPED (apt-get update of the private unstable source list failed)"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get "${apt_priv[@]}" -qq source --download-only "erofs-utils=$debian_version" >/dev/null 2>&1); then
    log "SKIPPED (erofs-utils $debian_version is no longer in Debian's unstable suite)"
    exit 0
fi
tar -xzf "$work/erofs-utils_${version}.orig.tar.gz" -C "$work"
cd "$work/erofs-utils-$version"
./autogen.sh >"$work/log" 2>&1
./configure --prefix="$prefix" --disable-lz4 --disable-lzma --disable-fuse --without-selinux \
    --without-libzstd --without-libdeflate --without-zlib --without-xxhash >>"$work/log" 2>&1
make -j"$(nproc)" >>"$work/log" 2>&1 || { tail -30 "$work/log"; exit 1; }
make install >>"$work/log" 2>&1
log "$("$prefix/bin/mkfs.erofs" --version | head -1) in $prefix/bin"
