#!/usr/bin/env bash
# Install what the full test run needs on Debian 12 (as root):
# independent checkers (e2fsprogs, cryptsetup-bin, qemu-utils), zstd and
# python3 for fixtures, and the kernel harness's packages and cache.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pkgs=(e2fsprogs cryptsetup-bin qemu-utils erofs-utils fsverity zstd python3)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "install-test-deps: need root and apt-get to install: ${missing[*]}" >&2
        exit 3
    fi
    echo "install-test-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
    echo "install-test-deps: cargo not found; install Rust (rustup) first" >&2
    exit 3
fi
# Kernel harness: qemu-system-x86, busybox-static, the Debian kernel .deb
# (downloaded and unpacked into its cache, never installed).
"$here/testenv/kernel-verify.sh" --prepare
"$here/scripts/install-erofs-utils.sh"
