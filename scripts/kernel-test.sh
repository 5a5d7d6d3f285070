#!/usr/bin/env bash
# Prove a real Linux kernel accepts a layerseal ext4 VHD, an EROFS image and
# an EROFS tar-index file (512-byte verity blocks, data read from the
# appended tar) through dm-verity, and rejects each after one byte is
# flipped. Six bounded VM boots (QEMU, Debian's kernel; see
# testenv/kernel-verify.md).
#
# Usage: scripts/kernel-test.sh [LAYERSEAL_BINARY]
# Exit: 0 both checks as expected; 1 a check failed; 3 environment problem.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/layerseal}
kv=$here/testenv/kernel-verify.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

zstd -q -d -c "$here/crates/layerseal/tests/data/corpus/basic.tar.zst" > "$work/basic.tar"

# Expected file list (sha256sum style) from the tar, via Python's tarfile:
# an independent reader of the input.
python3 - "$work/basic.tar" > "$work/sums.txt" <<'PY'
import hashlib, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        if m.isreg() and not m.name.split("/")[-1].startswith(".wh."):
            print(f"{hashlib.sha256(t.extractfile(m).read()).hexdigest()}  {m.name.lstrip('./')}")
PY

json=$("$bin" layer "$work/basic.tar" -o "$work/basic.vhd" --vhd --json)
root=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_hash"])')
off=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash_offset"])')
echo "kernel-test: root $root, hash offset $off"

pass=0 fail=0
if "$kv" --image "$work/basic.vhd" --vhd --fs ext4 --verity-roothash "$root" \
        --hash-offset "$off" --expect-sha256-list "$work/sums.txt" --timeout 600; then
    echo "kernel-test: PASS good image mounted through dm-verity, all files match"; pass=$((pass+1))
else
    echo "kernel-test: FAIL good image was not accepted"; fail=$((fail+1))
fi

cp "$work/basic.vhd" "$work/bad.vhd"
# Flip one byte in the data of the first regular file (block 9 is file data).
printf '\x55' | dd of="$work/bad.vhd" bs=1 seek=$((9*4096+100)) conv=notrunc status=none
if "$kv" --image "$work/bad.vhd" --vhd --fs ext4 --verity-roothash "$root" \
        --hash-offset "$off" --expect-sha256-list "$work/sums.txt" --expect-verity-failure --timeout 600; then
    echo "kernel-test: PASS flipped byte rejected by dm-verity"; pass=$((pass+1))
else
    echo "kernel-test: FAIL flipped byte was not rejected"; fail=$((fail+1))
fi
# EROFS (containerd's layout: verity tail after the image) through dm-verity.
json=$("$bin" layer "$work/basic.tar" --format erofs -o "$work/basic.erofs" --json)
root=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_hash"])')
off=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash_offset"])')
if "$kv" --image "$work/basic.erofs" --fs erofs --verity-roothash "$root" \
        --hash-offset "$off" --expect-sha256-list "$work/sums.txt" --timeout 600; then
    echo "kernel-test: PASS EROFS image mounted through dm-verity, all files match"; pass=$((pass+1))
else
    echo "kernel-test: FAIL EROFS image was not accepted"; fail=$((fail+1))
fi
cp "$work/basic.erofs" "$work/bad.erofs"
printf '\x55' | dd of="$work/bad.erofs" bs=1 seek=$((5*4096+100)) conv=notrunc status=none
if "$kv" --image "$work/bad.erofs" --fs erofs --verity-roothash "$root" \
        --hash-offset "$off" --expect-sha256-list "$work/sums.txt" --expect-verity-failure --timeout 600; then
    echo "kernel-test: PASS flipped byte in the EROFS image rejected"; pass=$((pass+1))
else
    echo "kernel-test: FAIL flipped byte in the EROFS image was not rejected"; fail=$((fail+1))
fi
# EROFS tar-index (containerd's enable_tar_index): index + tar + 512-byte tree.
json=$("$bin" layer "$work/basic.tar" --format erofs --tar-index -o "$work/ti.erofs" --json)
root=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_hash"])')
off=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash_offset"])')
if "$kv" --image "$work/ti.erofs" --fs erofs --verity-roothash "$root" \
        --hash-offset "$off" --expect-sha256-list "$work/sums.txt" --timeout 600; then
    echo "kernel-test: PASS EROFS tar-index file mounted through dm-verity, all files match"; pass=$((pass+1))
else
    echo "kernel-test: FAIL EROFS tar-index file was not accepted"; fail=$((fail+1))
fi
cp "$work/ti.erofs" "$work/bad-ti.erofs"
# One byte inside the appended tar (it starts after the 5120-byte index).
printf '\x55' | dd of="$work/bad-ti.erofs" bs=1 seek=$((5120+3000)) conv=notrunc status=none
if "$kv" --image "$work/bad-ti.erofs" --fs erofs --verity-roothash "$root" \
        --hash-offset "$off" --expect-sha256-list "$work/sums.txt" --expect-verity-failure --timeout 600; then
    echo "kernel-test: PASS flipped byte in the tar of a tar-index file rejected"; pass=$((pass+1))
else
    echo "kernel-test: FAIL flipped byte in a tar-index file was not rejected"; fail=$((fail+1))
fi
echo "kernel-test: $pass passed, $fail failed"
[ "$fail" = 0 ]
