#!/usr/bin/env bash
# Whole-image benchmark on the real debootstrap image (testenv/make-real-image.sh):
#
#   bench/real-image-bench.sh [RUNS]
#
#   layerseal roothash oci-archive:…     (peer: gzip -dc of the same layer blobs, one after another)
#   layerseal roothash docker-archive:…, the local TLS+auth registry, and a cached re-run
#   layerseal sign --format erofs (peer: per layer, as Notation's dm-verity flow does it:
#       gzip -dc | mkfs.erofs 1.9 -T0 --mkfs-time, veritysetup format, openssl smime -sign)
# Prints median wall time, peak RSS and the ratio to the peers.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
out=${REAL_IMAGE_DIR:-/var/cache/layerseal-real-image}
[ -x /usr/bin/time ] || { echo "bench: needs GNU time (apt-get install time)"; exit 3; }
bash "$here/testenv/make-real-image.sh" "$out" >/dev/null 2>&1
(cd "$here" && cargo build --release -q)
ls=$here/target/release/layerseal
work=$(mktemp -d)
export XDG_CACHE_HOME=$work/cache
export REGISTRY_STATE=$work/registry
trap '"$here/testenv/registry.sh" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"

blobs=$(python3 - "$out/oci" bookworm <<'PY'
import json, os, sys
root, tag = sys.argv[1], sys.argv[2]
blob = lambda d: os.path.join(root, "blobs", *d.split(":"))
idx = json.load(open(os.path.join(root, "index.json")))
m = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
print(" ".join(blob(l["digest"]) for l in json.load(open(blob(m["digest"])))["layers"]))
PY
)
# shellcheck disable=SC2086
cat $blobs "$out/bookworm.oci-archive.tar" "$out/bookworm.docker-archive.tar" > /dev/null
echo "bench: real image, $(echo $blobs | wc -w) gzip layers ($(du -ch $blobs | tail -1 | cut -f1)), $(nproc) cores"
# shellcheck disable=SC2086
measure "gzip -dc (layer blobs)" sh -c "gzip -dc $blobs > /dev/null"
measure "roothash oci-archive" "$ls" roothash --no-cache "oci-archive:$out/bookworm.oci-archive.tar"
measure "roothash docker-archive" "$ls" roothash --no-cache "docker-archive:$out/bookworm.docker-archive.tar"
"$ls" roothash "oci-archive:$out/bookworm.oci-archive.tar" > /dev/null
measure "roothash oci-archive (cached)" "$ls" roothash "oci-archive:$out/bookworm.oci-archive.tar"
"$here/testenv/registry.sh" start --tls --auth --ttl 900 >/dev/null
"$here/testenv/registry.sh" seed "$out" >/dev/null 2>&1
# shellcheck disable=SC1091
source "$REGISTRY_STATE/env"
measure "roothash registry (TLS, auth)" "$ls" roothash --no-cache --ca-file "$REGISTRY_CA" \
    -u "$REGISTRY_USER" -p "$REGISTRY_PASS" "docker://$REGISTRY_ADDR/real/bookworm:latest"
ratio "roothash oci-archive" "gzip -dc (layer blobs)"
ratio "roothash docker-archive" "gzip -dc (layer blobs)"
ratio "roothash registry (TLS, auth)" "gzip -dc (layer blobs)"

# Signing: layerseal sign against the per-layer tool chain, same keys.
mkfs=/opt/erofs-utils/bin/mkfs.erofs
pki=$here/crates/layerseal/tests/data/test-pki
if [ -x "$mkfs" ]; then
    cat > "$work/peer-sign.sh" <<'SH'
#!/bin/sh
# per layer: EROFS image, dm-verity tree, PKCS#7 over the root hash
set -e
mkfs=$1 pki=$2 out=$3; shift 3
i=0
for b in "$@"; do
    gzip -dc "$b" | "$mkfs" --tar=f --aufs --quiet -Enoinline_data -b4096 -T0 --mkfs-time \
        -U 0f789282-b20c-5ad9-9dc7-33f9cb926c4b "$out/l.erofs"
    n=$(( $(stat -c %s "$out/l.erofs") / 4096 ))
    veritysetup format --data-blocks="$n" --hash-offset=$((n * 4096)) \
        --salt=0000000000000000000000000000000000000000000000000000000000000000 \
        "$out/l.erofs" "$out/l.erofs" | awk '/^Root hash:/ {printf "%s", $3}' > "$out/$i.roothash"
    openssl smime -sign -binary -noattr -md sha256 -outform der -in "$out/$i.roothash" \
        -signer "$pki/rsa.pem" -inkey "$pki/rsa.key" -out "$out/$i.sig"
    rm -f "$out/l.erofs"
    i=$((i + 1))
done
SH
    mkdir -p "$work/peer"
    # shellcheck disable=SC2086
    measure "mkfs.erofs+veritysetup+openssl" sh "$work/peer-sign.sh" "$mkfs" "$pki" "$work/peer" $blobs
    before_each() { rm -rf "$work/sigs"; }
    measure "sign --format erofs" "$ls" sign --no-cache --format erofs "oci:$out/oci:bookworm" \
        --cert "$pki/rsa.pem" --key "$pki/rsa.key" -o "$work/sigs"
    unset -f before_each
    ratio "sign --format erofs" "mkfs.erofs+veritysetup+openssl"
else
    echo "bench: sign comparison SKIPPED (mkfs.erofs 1.9 not built: scripts/install-erofs-utils.sh)"
fi
