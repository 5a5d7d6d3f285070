#!/usr/bin/env bash
# Prove a real Linux kernel accepts a layerseal ext4 VHD, an EROFS image and
# an EROFS tar-index file (512-byte verity blocks, data read from the
# appended tar) through dm-verity, and rejects each after one byte is
# flipped, and the same for an EROFS image with Kata's --sort=none. Then composefs: the image layerseal pulls for corpus
# usrbase+basic, mounted with overlayfs verity=require (by the harness, and
# by `layerseal composefs mount` inside the guest), and refused once one
# object is changed. Then signed root hashes under UEFI with the test CA in
# the firmware's db: `veritysetup open --root-hash-signature` accepts the
# signatures `layerseal sign` wrote (RSA and ECDSA P-384) and refuses one by
# another key with the same subject name and one over another root hash.
# Fifteen bounded VM boots (QEMU, Debian's kernel; see testenv/kernel-verify.md).
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

pass=0 fail=0
# boot ARGS...: one kernel-verify run. A VM that crashes or hangs before the
# guest reports a verdict (exit 3 or 124: e.g. a rare TCG early-boot panic)
# says nothing about the image, so that boot is retried once; a verdict
# (exit 0 or 1) is never retried.
boot() {
    local rc=0
    "$kv" "$@" || rc=$?
    if [ "$rc" = 3 ] || [ "$rc" = 124 ]; then
        echo "kernel-test: the VM gave no verdict (exit $rc); booting once more"
        rc=0; "$kv" "$@" || rc=$?
    fi
    return "$rc"
}

# check_pair LABEL FILE FLIP_AT FS [LAYER OPTIONS...]: build FILE from
# basic.tar, boot once to see it accepted with every file matching, then
# once more after flipping the byte at FLIP_AT to see dm-verity reject it.
check_pair() {
    local label=$1 file=$2 flip_at=$3 fs=$4; shift 4
    local json root off vhd=()
    json=$("$bin" layer "$work/basic.tar" -o "$file" --json "$@")
    root=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_hash"])')
    off=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash_offset"])')
    [[ " $* " == *" --vhd "* ]] && vhd=(--vhd)
    echo "kernel-test: $label: root $root, hash offset $off"
    if boot --image "$file" "${vhd[@]}" --fs "$fs" --verity-roothash "$root" \
            --hash-offset "$off" --expect-sha256-list "$work/sums.txt" --timeout 600; then
        echo "kernel-test: PASS $label mounted through dm-verity, all files match"; pass=$((pass+1))
    else
        echo "kernel-test: FAIL $label was not accepted"; fail=$((fail+1))
    fi
    cp "$file" "$file.bad"
    printf '\x55' | dd of="$file.bad" bs=1 seek="$flip_at" conv=notrunc status=none
    if boot --image "$file.bad" "${vhd[@]}" --fs "$fs" --verity-roothash "$root" \
            --hash-offset "$off" --expect-sha256-list "$work/sums.txt" --expect-verity-failure --timeout 600; then
        echo "kernel-test: PASS flipped byte in the $label rejected"; pass=$((pass+1))
    else
        echo "kernel-test: FAIL flipped byte in the $label was not rejected"; fail=$((fail+1))
    fi
}

# Block 9 of the ext4 image is file data; block 5 of the EROFS image too;
# the tar of a tar-index file starts after its 5120-byte index.
check_pair "ext4 VHD" "$work/basic.vhd" $((9*4096+100)) ext4 --vhd
check_pair "EROFS image" "$work/basic.erofs" $((5*4096+100)) erofs --format erofs
check_pair "EROFS tar-index file" "$work/ti.erofs" $((5120+3000)) erofs --format erofs --tar-index
# Kata's differ setting: data in tar order (blocks 1.. are file data).
check_pair "EROFS --sort=none image" "$work/sortnone.erofs" $((5*4096+100)) erofs --format erofs \
    --mkfs-options "-T0 --mkfs-time --sort=none"
# composefs: an OCI layout of [usrbase, basic] (uncompressed layers), pulled
# into a sha256 repository (the guest enables fs-verity with sha256).
zstd -q -d -c "$here/crates/layerseal/tests/data/corpus/usrbase.tar.zst" > "$work/usrbase.tar"
python3 "$here/scripts/make-oci-layout.py" "$work/layout" "$work/usrbase.tar" "$work/basic.tar"
cfs=$work/cfs
"$bin" composefs --repo "$cfs" --hash sha256 init > /dev/null
id=$("$bin" composefs --repo "$cfs" pull "oci:$work/layout:t" basic)
img=$(readlink -f "$cfs/images/$id")   # the object itself (images/ holds links)
echo "kernel-test: composefs image $id"
# check_cfs LABEL EXPECT(pass|fail) OBJECTS [kernel-verify options...]
check_cfs() {
    local label=$1 want=$2 objects=$3; shift 3
    local extra=()
    [ "$want" = fail ] && extra=(--expect-verity-failure)
    if boot --composefs "$img" --objects "$objects" --composefs-digest "$id" \
            --expect-sha256-list "$work/sums.txt" --timeout 600 "${extra[@]}" "$@"; then
        echo "kernel-test: PASS $label"; pass=$((pass+1))
    else
        echo "kernel-test: FAIL $label"; fail=$((fail+1))
    fi
}
check_cfs "composefs image mounted with verity=require, all files match" pass "$cfs/objects"
check_cfs "layerseal composefs mount in the guest, all files match" pass "$cfs/objects" \
    --cfs-mount-bin "$bin"
# Change one byte of the object behind /etc/zeros: the kernel must refuse it.
obj=$("$bin" composefs dump "$img" | awk '$1 == "/etc/zeros" {print $9}')
[ -n "$obj" ] || { echo "kernel-test: /etc/zeros has no object"; exit 3; }
cp -a "$cfs/objects" "$work/objects.bad"
printf '\x55' | dd of="$work/objects.bad/$obj" bs=1 seek=100 conv=notrunc status=none
check_cfs "changed object rejected by overlayfs verity=require (layerseal mount)" fail \
    "$work/objects.bad" --cfs-mount-bin "$bin"

# Signed root hashes (issue 12): an EROFS layer of a one-layer OCI layout,
# written by `create` and signed by `sign -o` with the same options.
pki=$here/crates/layerseal/tests/data/test-pki
python3 "$here/scripts/make-oci-layout.py" "$work/layout1" "$work/basic.tar" >/dev/null
json=$("$bin" create "oci:$work/layout1:t" --format erofs -o "$work/signed" --json --no-cache)
simg=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["image"])')
sroot=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["root_hash"])')
soff=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["hash_offset"])')
signed_by() { # DIR CERT KEY [sign options...]
    local dir=$1 cert=$2 key=$3; shift 3
    "$bin" sign "oci:$work/layout1:t" --format erofs --cert "$pki/$cert" --key "$pki/$key" -o "$work/$dir" "$@" >/dev/null 2>&1
}
signed_by sig-rsa rsa.pem rsa.key
signed_by sig-p384 p384.pem p384.key
signed_by sig-foreign impostor.pem impostor.key
signed_by sig-other rsa.pem rsa.key --mkfs-options "-T0 --mkfs-time --sort=none"
[ "$(cat "$work/sig-rsa/layer-0.roothash")" = "$sroot" ] || { echo "kernel-test: signed root hash differs from create's"; exit 1; }
echo "kernel-test: signed EROFS layer: root $sroot (another root hash: $(cat "$work/sig-other/layer-0.roothash"))"
# check_sig LABEL SIGDIR pass|refused
check_sig() {
    local label=$1 dir=$2 want=$3 extra=()
    [ "$want" = refused ] && extra=(--expect-signature-refused)
    if boot --image "$simg" --fs erofs --verity-roothash "$sroot" --hash-offset "$soff" \
            --root-hash-signature "$work/$dir/layer-0.pkcs7.sig" --uefi-db-cert "$pki/ca.pem" \
            --expect-sha256-list "$work/sums.txt" --timeout 600 "${extra[@]}"; then
        echo "kernel-test: PASS $label"; pass=$((pass+1))
    else
        echo "kernel-test: FAIL $label"; fail=$((fail+1))
    fi
}
check_sig "RSA signature by layerseal sign accepted by the kernel (CA in UEFI db)" sig-rsa pass
check_sig "ECDSA P-384 signature by layerseal sign accepted by the kernel" sig-p384 pass
check_sig "signature by another key with the same subject name refused" sig-foreign refused
check_sig "signature over another root hash refused" sig-other refused
echo "kernel-test: $pass passed, $fail failed"
[ "$fail" = 0 ]
