#!/usr/bin/env bash
# Whole-image benchmark on the real debootstrap image (testenv/make-real-image.sh):
#
#   bench/real-image-bench.sh [RUNS]
#
#   layerseal roothash oci-archive:…     (peer: gzip -dc of the same layer blobs, one after another)
#   layerseal roothash docker-archive:…, the local TLS+auth registry, and a cached re-run
# Prints median wall time, peak RSS and the ratio to gzip -dc.
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
