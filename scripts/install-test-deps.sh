#!/usr/bin/env bash
# Install everything the full test run needs on Debian 12 (as root), then
# check that every external tool is there and print its version.
#
# One apt transaction installs the union of what the tests, the real-image
# builder, the registry and dockerd helpers and the kernel harness use, with
# --no-remove: no install step can take away a tool an earlier one relied on
# (a fresh machine's backports qemu-utils was once removed this way when the
# kernel harness later installed Debian 12's qemu-system-x86). The helpers'
# own apt calls then find everything present and install nothing.
#
# Exit status: 0 ready; 3 something could not be installed or is missing
# (one line names it before any test starts).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'install-test-deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 3; }

# package list: what each part of the run calls
pkgs=(
    # independent checkers of the outputs (cargo test with oracles required)
    e2fsprogs cryptsetup-bin qemu-utils erofs-utils fsverity zstd python3
    # kernel harness (testenv/kernel-verify.sh)
    qemu-system-x86 busybox-static kmod cpio xz-utils gzip coreutils dpkg attr
    # ... booted under UEFI with the test CA in db (signed root hashes)
    ovmf python3-venv
    # real image (testenv/make-real-image.sh), registry, dockerd
    debootstrap umoci skopeo jq libcap2-bin ca-certificates tar curl openssl
    docker-registry apache2-utils util-linux docker.io
    # building erofs-utils 1.9 from Debian's source (scripts/install-erofs-utils.sh)
    autoconf automake libtool pkg-config uuid-dev gcc make
)

installed_version() { { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } | awk '$3 == "installed" { print $4 }'; }
candidate_version() { apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'; }

missing=()
for p in "${pkgs[@]}"; do
    [ -n "$(installed_version "$p")" ] || missing+=("$p")
done

# qemu-utils and qemu-system-x86 must come from one QEMU release (qemu-utils
# >= 8 Breaks qemu-system-common < 8). A machine may carry a newer qemu-utils
# (e.g. from backports) than the qemu-system-x86 its sources offer: then both
# are requested at qemu-system-x86's candidate version, which is the only
# pair the configured sources can install together. No suite is named.
qemu_pin=()
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    sys_ver=$(installed_version qemu-system-x86)
    utils_ver=$(installed_version qemu-utils)
    if [ -z "$sys_ver" ] && [ -n "$utils_ver" ]; then
        [ -n "$(candidate_version qemu-system-x86)" ] || apt-get update -qq
        cand=$(candidate_version qemu-system-x86)
        if [ -n "$cand" ] && [ "$cand" != "(none)" ] && [ "$cand" != "$utils_ver" ]; then
            log "qemu-utils $utils_ver does not match qemu-system-x86 $cand: installing both at $cand"
            qemu_pin=("qemu-system-x86=$cand" "qemu-utils=$cand")
        fi
    fi
fi

if [ "${#missing[@]}" -gt 0 ] || [ "${#qemu_pin[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        die "need root and apt-get to install: ${missing[*]}"
    fi
    req=()
    for p in "${missing[@]}"; do
        case "$p" in qemu-system-x86 | qemu-utils) [ "${#qemu_pin[@]}" -gt 0 ] && continue ;; esac
        req+=("$p")
    done
    req+=("${qemu_pin[@]}")
    log "installing in one transaction: ${req[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() {
        apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
            --no-remove --allow-downgrades "${req[@]}" >/tmp/install-test-deps.apt.log 2>&1
    }
    if ! apt_install; then
        apt-get -o DPkg::Lock::Timeout=900 update -qq
        apt_install || { tail -20 /tmp/install-test-deps.apt.log >&2; die "apt-get install failed (see above)"; }
    fi
fi
if ! command -v cargo >/dev/null; then
    die "cargo not found; install Rust (rustup) first"
fi

# virt-fw-vars (PyPI package virt-firmware; Debian 12 does not package it)
# enrolls the test CA in OVMF's db for the signed-root-hash VM boots. In its
# own venv: pip may not install into Debian's system Python.
fwvenv=/opt/layerseal-virt-firmware
if [ ! -x "$fwvenv/bin/virt-fw-vars" ]; then
    log "installing virt-firmware (pip) into $fwvenv"
    python3 -m venv "$fwvenv" && "$fwvenv/bin/pip" install -q virt-firmware \
        || die "pip install virt-firmware failed"
fi

# erofs-utils 1.9 from Debian's source (1.5 in Debian 12 has no --tar), then
# the kernel harness's cache (its package check finds everything present).
"$here/scripts/install-erofs-utils.sh"
"$here/testenv/kernel-verify.sh" --prepare
kernel_pkg=$(cat /var/cache/kernel-verify/*/package 2>/dev/null | head -n1 || true)

# Every tool the required oracles and harnesses call, checked after the last
# install step, with its version for the log.
export PATH="$PATH:/usr/sbin:/sbin"
first_line() { "$@" 2>&1 | head -n1; }
tools=(
    "e2fsck|e2fsck -V"
    "veritysetup|veritysetup --version"
    "qemu-img|qemu-img --version"
    "qemu-system-x86_64|qemu-system-x86_64 --version"
    "fsck.erofs|fsck.erofs -V"
    "fsverity|fsverity --version"
    "zstd|zstd --version"
    "python3|python3 --version"
    "busybox|dpkg-query -W -f=\${Version} busybox-static"
    "cpio|cpio --version"
    "debootstrap|dpkg-query -W -f=\${Version} debootstrap"
    "umoci|umoci --version"
    "skopeo|skopeo --version"
    "jq|jq --version"
    "docker-registry|dpkg-query -W -f=\${Version} docker-registry"
    "dockerd|dockerd --version"
    "htpasswd|dpkg-query -W -f=\${Version} apache2-utils"
    "openssl|openssl version"
    "curl|curl --version"
    "setfattr|setfattr --version"
    "cargo|cargo --version"
    "rustc|rustc --version"
)
absent=()
log "external tools used by the full run:"
for entry in "${tools[@]}"; do
    name=${entry%%|*} cmd=${entry#*|}
    if command -v "$name" >/dev/null 2>&1; then
        # shellcheck disable=SC2086
        printf '  %-20s %s\n' "$name" "$(first_line $cmd)" >&2
    else
        absent+=("$name")
    fi
done
# The live mkfs.erofs 1.9 oracle is best effort (its source may leave the
# archive): the tests that compare with it say SKIPPED when it is absent.
if [ -x /opt/erofs-utils/bin/mkfs.erofs ]; then
    printf '  %-20s %s\n' "mkfs.erofs (oracle)" "$(first_line /opt/erofs-utils/bin/mkfs.erofs --version)" >&2
    printf '  %-20s %s\n' "fsck.erofs (oracle)" "$(first_line /opt/erofs-utils/bin/fsck.erofs -V)" >&2
else
    printf '  %-20s %s\n' "mkfs.erofs (oracle)" "not installed: live-mkfs comparisons will be SKIPPED" >&2
fi
printf '  %-20s %s\n' "virt-fw-vars" "virt-firmware $("$fwvenv/bin/pip" show virt-firmware 2>/dev/null | awk '/^Version:/ {print $2}')" >&2
printf '  %-20s %s\n' "OVMF" "$(dpkg-query -W -f='${Version}' ovmf)" >&2
[ -z "$kernel_pkg" ] || printf '  %-20s %s\n' "VM kernel" "$kernel_pkg" >&2
[ "${#absent[@]}" -eq 0 ] || die "missing after install: ${absent[*]}"
