#!/usr/bin/env bash
# Everything: formatting, the module graph (no import cycles) and lints, all
# tests with the independent checkers required (e2fsck, veritysetup,
# qemu-img, fsck.erofs), the large corpus layers, the real debootstrap-built
# image in every file form and from registries of every TLS kind, registries
# that misbehave (a fault-injecting proxy), and the kernel check in a VM
# (eleven bounded boots).
#
# On a fresh Debian 12 machine as root this installs what it needs first.
# Set LAYERSEAL_SKIP_VM=1 / LAYERSEAL_SKIP_REAL_IMAGE=1 to leave those out.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
# Binaries are where cargo puts them (a shared CARGO_TARGET_DIR included).
bin_dir=${CARGO_TARGET_DIR:-target}/release

step "install test dependencies"
scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "module graph: no import cycles"
python3 scripts/module-cycles.py crates/layerseal/src crates/layerseal-cli/src

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --release"
cargo build --release --workspace

step "cargo test (oracles required, big corpus layers on)"
LAYERSEAL_REQUIRE_ORACLES=1 LAYERSEAL_BIG_TESTS=1 cargo test --workspace

if [ "${LAYERSEAL_SKIP_REAL_IMAGE:-0}" = 1 ]; then
    echo "SKIPPED: real image checks (LAYERSEAL_SKIP_REAL_IMAGE=1)"
else
    step "real image (debootstrap + umoci) in every file form"
    scripts/real-image-test.sh "$bin_dir"
    step "registries that misbehave (fault-injecting proxy on loopback)"
    scripts/fault-test.sh "$bin_dir"
fi

if [ "${LAYERSEAL_SKIP_VM:-0}" = 1 ]; then
    echo "SKIPPED: kernel VM check (LAYERSEAL_SKIP_VM=1)"
else
    step "kernel: dm-verity mount of a layerseal VHD in a VM"
    scripts/kernel-test.sh "$bin_dir/layerseal"
fi
step "all checks passed"
