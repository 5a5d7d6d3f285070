#!/usr/bin/env bash
# The real multi-layer image (debootstrap + umoci, testenv/make-real-image.sh)
# in every file form layerseal reads: the root hashes must agree, platform
# selection must work, and corruption must be named.
#
# Usage: scripts/real-image-test.sh [BIN_DIR]   (default target/release)
# Env: REAL_IMAGE_DIR (default /var/cache/layerseal-real-image; kept between runs)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release}
out=${REAL_IMAGE_DIR:-/var/cache/layerseal-real-image}
pass=0 fail=0
ok() { echo "real-image: PASS $*"; pass=$((pass+1)); }
bad() { echo "real-image: FAIL $*"; fail=$((fail+1)); }

bash "$here/testenv/make-real-image.sh" "$out" >&2
export XDG_CACHE_HOME
XDG_CACHE_HOME=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$work" "$XDG_CACHE_HOME"' EXIT

ls=$bin/layerseal
dv=$bin/dmverity-vhd
ref_json=$("$dv" --tarball "$out/bookworm.docker-archive.tar" roothash)
n=$(printf '%s' "$ref_json" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["layers"]))')
[ "$n" = 4 ] && ok "docker-archive: 4 layers" || bad "docker-archive: $n layers"

same() { # NAME JSON
    if [ "$2" = "$ref_json" ]; then ok "$1: identical roothash JSON"; else bad "$1: differs"; printf '%s\n' "$2"; fi
}
same "dmverity-vhd --tarball oci-archive" "$("$dv" --tarball "$out/bookworm.oci-archive.tar" roothash)"
as_json() { python3 -c 'import json,sys; print(json.dumps({"layers": sys.stdin.read().split()}, indent=2))'; }
same "layerseal oci: layout dir" "$("$ls" roothash --no-cache "oci:$out/oci:bookworm" | as_json)"
same "layerseal oci-archive:" "$("$ls" roothash --no-cache "oci-archive:$out/bookworm.oci-archive.tar" | as_json)"
same "layerseal docker-archive:" "$("$ls" roothash --no-cache "docker-archive:$out/bookworm.docker-archive.tar" | as_json)"
same "zstd layers" "$("$ls" roothash --no-cache "oci:$out/oci:bookworm-zstd" | as_json)"
same "uncompressed layers" "$("$ls" roothash --no-cache "oci:$out/oci:bookworm-plain" | as_json)"
same "cached re-run" "$("$ls" roothash "oci:$out/oci:bookworm" >/dev/null; "$ls" roothash "oci:$out/oci:bookworm" | as_json)"

# Multi-platform index: amd64 and arm64 have different configs.
amd=$("$ls" inspect --json --platform linux/amd64 "oci:$out/oci:multi" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["config_digest"], d["platform"])')
arm=$("$ls" inspect --json --platform linux/arm64 "oci:$out/oci:multi" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["config_digest"], d["platform"])')
if [ "${amd%% *}" != "${arm%% *}" ] && [ "${amd##* }" = linux/amd64 ] && [ "${arm##* }" = linux/arm64/v8 ]; then
    ok "multi: amd64 ($amd) and arm64 ($arm) configs differ"
else bad "multi: amd64=$amd arm64=$arm"; fi
if err=$("$ls" roothash --no-cache --platform linux/s390x "oci-archive:$out/multi.oci-archive.tar" 2>&1); then
    bad "absent platform accepted"
elif [[ $err == *"linux/amd64"* && $err == *"linux/arm64"* ]]; then ok "absent platform lists the available ones"
else bad "absent platform message: $err"; fi

# umoci's buggy insert layers (no end-of-archive blocks) convert as upstream reads them.
"$ls" roothash --no-cache "oci:$out/oci:umoci-insert-bug" > /dev/null && ok "umoci-insert-bug image converts" || bad "umoci-insert-bug"

# A corrupted blob in a copy of the layout: digest mismatch named.
cp -a "$out/oci" "$work/oci"
blob=$(python3 -c 'import json; d=json.load(open("'"$out"'/image-info.json")); print(d["tags"]["bookworm"]["layers"][2]["digest"].split(":")[1])')
chmod u+w "$work/oci/blobs/sha256/$blob"
printf 'X' | dd of="$work/oci/blobs/sha256/$blob" bs=1 seek=1000 conv=notrunc status=none
if err=$("$ls" roothash --no-cache "oci:$work/oci:bookworm" 2>&1); then bad "corrupt blob accepted"
elif [[ $err == *"layer 2"* && ( $err == *"digest mismatch"* || $err == *"corrupt"* ) ]]; then ok "corrupt blob: $err"
else bad "corrupt blob message: $err"; fi
# A truncated docker-archive.
head -c 100000000 "$out/bookworm.docker-archive.tar" > "$work/cut.tar"
if err=$("$dv" --tarball "$work/cut.tar" roothash 2>&1); then bad "truncated archive accepted"
else ok "truncated docker-archive: ${err%%$'\n'*}"; fi

# --- TLS as registries are really set up: a Docker-guide self-signed
# certificate (CA:TRUE, the server's own), and mutual TLS through certs.d.
tls_registry() { # NAME OPTIONS…: start and seed a registry, sets its env
    export REGISTRY_STATE=$work/$1; shift
    "$here/testenv/registry.sh" start --tls "$@" --ttl 600 >/dev/null
    "$here/testenv/registry.sh" seed "$out" >/dev/null 2>&1
    # shellcheck disable=SC1091
    source "$REGISTRY_STATE/env"
}
tls_registry ss-registry --self-signed
img="docker://$REGISTRY_ADDR/real/bookworm:latest"
same "self-signed registry with --ca-file" "$("$ls" roothash --no-cache --ca-file "$REGISTRY_CA" "$img" | as_json)"
same "self-signed registry with --cert-dir" "$("$ls" roothash --no-cache --cert-dir "$REGISTRY_CERT_DIR" "$img" | as_json)"
certsd=/etc/docker/certs.d/$REGISTRY_ADDR
if [ ! -e "$certsd" ]; then
    mkdir -p "$certsd" && cp "$REGISTRY_CA" "$certsd/ca.crt"
    same "self-signed registry with certs.d" "$("$ls" roothash --no-cache "$img" | as_json)"
    rm -rf "$certsd"
fi
same "self-signed registry with --tls-verify=false" "$("$ls" roothash --no-cache --tls-verify=false "$img" | as_json)"
if err=$("$ls" roothash --no-cache "$img" 2>&1); then bad "self-signed registry accepted untrusted"
elif [[ $err == *certificate* ]]; then ok "self-signed registry refused without trust: ${err##*: }"
else bad "self-signed registry, untrusted: $err"; fi
"$here/testenv/registry.sh" stop >/dev/null 2>&1 || true
tls_registry mtls-registry --client-ca
img="docker://$REGISTRY_ADDR/real/bookworm:latest"
certsd=/etc/docker/certs.d/$REGISTRY_ADDR
if [ ! -e "$certsd" ]; then
    mkdir -p "$certsd" && cp "$REGISTRY_CERT_DIR"/{ca.crt,client.cert,client.key} "$certsd/"
    same "client-certificate registry through certs.d" "$("$ls" roothash --no-cache "$img" | as_json)"
    rm -rf "$certsd"
fi
if err=$("$ls" roothash --no-cache --ca-file "$REGISTRY_CA" "$img" 2>&1); then bad "mTLS registry accepted a client without certificate"
elif [[ $err == *"client certificate"* ]]; then ok "mTLS registry without a client certificate: clear error"
else bad "mTLS registry without client certificate: $err"; fi
"$here/testenv/registry.sh" stop >/dev/null 2>&1 || true

# --- dmverity-vhd's rule for a docker-archive listing several images:
# --tarball without -i reads the first element of manifest.json. Built
# here: a 2-layer image (the first two layers) listed before the full one.
python3 - "$out/bookworm.docker-archive.tar" "$work/two-images.tar" <<'PY'
import hashlib, io, json, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as t, tarfile.open(dst, "w") as o:
    manifest = json.load(t.extractfile("manifest.json"))
    full = manifest[0]
    cfg = json.load(t.extractfile(full["Config"]))
    cfg["rootfs"]["diff_ids"] = cfg["rootfs"]["diff_ids"][:2]
    cfg["history"] = [h for h in cfg.get("history", []) if not h.get("empty_layer")][:2]
    small_cfg = json.dumps(cfg).encode()
    small_name = hashlib.sha256(small_cfg).hexdigest() + ".json"
    for m in t.getmembers():
        if m.name != "manifest.json":
            o.addfile(m, t.extractfile(m) if m.isreg() else None)
    info = tarfile.TarInfo(small_name); info.size = len(small_cfg)
    o.addfile(info, io.BytesIO(small_cfg))
    small = {"Config": small_name, "RepoTags": ["small:latest"], "Layers": full["Layers"][:2]}
    data = json.dumps([small, full]).encode()
    info = tarfile.TarInfo("manifest.json"); info.size = len(data)
    o.addfile(info, io.BytesIO(data))
PY
two_json=$("$dv" --tarball "$work/two-images.tar" roothash 2>"$work/two.err")
want_two=$(printf '%s' "$ref_json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"layers": d["layers"][:2]}, indent=2))')
if [ "$two_json" = "$want_two" ] && grep -q "first image" "$work/two.err"; then
    ok "dmverity-vhd --tarball with two images: the first one's 2 root hashes (as upstream), noted on stderr"
else
    bad "dmverity-vhd --tarball with two images: $two_json / $(cat "$work/two.err")"
fi
if "$ls" roothash --no-cache "docker-archive:$work/two-images.tar" >/dev/null 2>&1; then
    bad "layerseal roothash accepted an archive with two images without a name"
else ok "layerseal roothash asks for a name when an archive holds two images"; fi
rm -f "$work/two-images.tar"

# --- EROFS: every real layer byte-for-byte against a live mkfs.erofs 1.9
# (scripts/install-erofs-utils.sh), full and tar-index, and its fsck.
mkfs=/opt/erofs-utils/bin/mkfs.erofs
if [ -x "$mkfs" ]; then
    uuid=0f789282-b20c-5ad9-9dc7-33f9cb926c4b
    blobs=$(python3 - "$out/oci" bookworm <<'PY'
import json, sys, os
root, tag = sys.argv[1], sys.argv[2]
blob = lambda d: os.path.join(root, "blobs", *d.split(":"))
idx = json.load(open(os.path.join(root, "index.json")))
m = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
for l in json.load(open(blob(m["digest"])))["layers"]:
    print(blob(l["digest"]))
PY
)
    i=0
    for b in $blobs; do
        i=$((i+1))
        zcat "$b" > "$work/l.tar"
        "$mkfs" --tar=f --aufs --quiet -Enoinline_data -b4096 -T0 --mkfs-time -U "$uuid" "$work/full.mkfs" < "$work/l.tar"
        "$mkfs" --tar=i --aufs --quiet -b4096 -T0 --mkfs-time -U "$uuid" "$work/idx.mkfs" < "$work/l.tar"
        cat "$work/l.tar" >> "$work/idx.mkfs"
        "$ls" layer "$b" --format erofs --erofs-uuid "$uuid" -o "$work/full.erofs" >/dev/null
        "$ls" layer "$b" --format erofs --erofs-uuid "$uuid" --tar-index -o "$work/idx.erofs" >/dev/null
        if cmp -n "$(stat -c %s "$work/full.mkfs")" "$work/full.mkfs" "$work/full.erofs" \
            && cmp -n "$(stat -c %s "$work/idx.mkfs")" "$work/idx.mkfs" "$work/idx.erofs" \
            && /opt/erofs-utils/bin/fsck.erofs "$work/idx.erofs" >/dev/null 2>&1; then
            ok "layer $i: EROFS full and tar-index identical to mkfs.erofs $("$mkfs" --version | head -1 | awk '{print $3}')"
        else
            bad "layer $i: EROFS differs from mkfs.erofs"
        fi
    done
    rm -f "$work"/l.tar "$work"/*.mkfs "$work"/*.erofs

    # Kata's differ options: `roothash --mkfs-options` for the whole image
    # against what a policy author's machine computes per layer: live
    # mkfs.erofs with those options and the differ's UUID, then
    # veritysetup with containerd's parameters.
    kata="-T0 --mkfs-time --sort=none"
    "$ls" roothash --no-cache --format erofs --mkfs-options "$kata" --json "oci:$out/oci:bookworm" > "$work/kata.json"
    i=0
    for b in $blobs; do
        uuid_l=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][int(sys.argv[2])]["erofs_uuid"])' "$work/kata.json" "$i")
        ours=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][int(sys.argv[2])]["root_hash"])' "$work/kata.json" "$i")
        i=$((i+1))
        zcat "$b" | "$mkfs" --tar=f --aufs --quiet -Enoinline_data -b4096 $kata -U "$uuid_l" "$work/k.erofs"
        n=$(( $(stat -c %s "$work/k.erofs") / 4096 ))
        theirs=$(veritysetup format --hash=sha256 --data-block-size=4096 --hash-block-size=4096 \
            --salt="$(printf '0%.0s' {1..64})" --data-blocks="$n" --hash-offset=$((n*4096)) \
            "$work/k.erofs" "$work/k.erofs" | awk '/^Root hash:/ {print $3}')
        if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then
            ok "layer $i: roothash --mkfs-options \"$kata\" = mkfs.erofs + veritysetup ($ours)"
        else
            bad "layer $i: --mkfs-options root $ours, mkfs.erofs + veritysetup $theirs"
        fi
        rm -f "$work/k.erofs"
    done
else
    echo "SKIPPED: live mkfs.erofs comparison ($mkfs not built)"
fi

# --- Signed root hashes (Notation's dm-verity artifact) in an OCI layout:
# a hard-linked copy (sign only adds files and renames index.json).
pki=$here/crates/layerseal/tests/data/test-pki
cp -al "$out/oci" "$work/signed"
rm "$work/signed/index.json" && cp "$out/oci/index.json" "$work/signed/index.json"
"$ls" roothash --no-cache --format erofs "oci:$out/oci:bookworm" > "$work/erofs-roots.txt"
if "$ls" sign "oci:$work/signed:bookworm" --format erofs --cert "$pki/rsa.pem" --key "$pki/rsa.key" > "$work/signed.txt"; then
    ok "sign --format erofs into the OCI layout"
else bad "sign into the OCI layout"; fi
# An independent reader: index.json -> referrer -> blobs, then openssl.
python3 - "$work/signed" bookworm "$work/sigs" <<'PY' > "$work/sig-roots.txt"
import json, os, sys
root, tag, out = sys.argv[1:]
blob = lambda d: open(os.path.join(root, "blobs", *d.split(":")), "rb").read()
idx = json.load(open(os.path.join(root, "index.json")))
image = next(m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
arts = [json.loads(blob(m["digest"])) for m in idx["manifests"] if m.get("artifactType") == "application/vnd.cncf.notary.signature.dm-verity"]
art = next(a for a in arts if a["subject"]["digest"] == image["digest"])
assert art["annotations"]["io.cncf.notary.dm-verity.signature"] == "true"
assert art["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
layers = json.loads(blob(image["digest"]))["layers"]
assert [l["annotations"]["io.cncf.notary.layer.digest"] for l in art["layers"]] == [l["digest"] for l in layers]
os.makedirs(out, exist_ok=True)
for i, l in enumerate(art["layers"]):
    assert l["mediaType"] == "application/pkcs7-signature"
    assert l["annotations"]["org.opencontainers.image.title"] == f"layer-{i}.pkcs7.sig"
    open(f"{out}/{i}.sig", "wb").write(blob(l["digest"]))
    open(f"{out}/{i}.txt", "w").write(l["annotations"]["io.cncf.notary.dm-verity.root-hash"])
    print(l["annotations"]["io.cncf.notary.dm-verity.root-hash"])
PY
if cmp -s "$work/sig-roots.txt" "$work/erofs-roots.txt"; then
    ok "artifact root hashes = roothash --format erofs ($(wc -l < "$work/sig-roots.txt") layers)"
else bad "artifact root hashes differ from roothash --format erofs"; fi
good=0
for i in 0 1 2 3; do
    openssl smime -verify -binary -inform der -in "$work/sigs/$i.sig" -content "$work/sigs/$i.txt" \
        -CAfile "$pki/ca.pem" -purpose any -out /dev/null 2>/dev/null && good=$((good+1))
done
[ "$good" = 4 ] && ok "openssl smime -verify accepts all 4 signatures against the test CA" || bad "openssl accepted $good of 4"
"$ls" verify-signatures "oci:$work/signed:bookworm" --format erofs --ca "$pki/ca.pem" >/dev/null \
    && ok "verify-signatures from the OCI layout" || bad "verify-signatures from the OCI layout"

# --- Registry: TLS + basic auth (Debian's docker-registry), seeded by skopeo.
export REGISTRY_STATE=$work/registry
trap 'REGISTRY_STATE=$work/registry "$here/testenv/registry.sh" stop >/dev/null 2>&1 || true; kill "${tokpid:-0}" 2>/dev/null || true; rm -rf "$work" "$XDG_CACHE_HOME"' EXIT
"$here/testenv/registry.sh" start --tls --auth --ttl 900 >/dev/null
"$here/testenv/registry.sh" seed "$out" >&2
# shellcheck disable=SC1091
source "$REGISTRY_STATE/env"
cp "$REGISTRY_CA" "$work/registry-ca.crt"   # registry.sh stop deletes its state
REGISTRY_CA=$work/registry-ca.crt
creds=(-u "$REGISTRY_USER" -p "$REGISTRY_PASS")
reg() { "$ls" roothash --no-cache --ca-file "$REGISTRY_CA" "$@"; }
same "registry OCI manifest (TLS, basic auth)" "$(reg "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:latest" | as_json)"
same "registry Docker schema 2" "$(reg "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:v2s2" | as_json)"
same "registry zstd" "$(reg "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:zstd" | as_json)"
same "registry uncompressed" "$(reg "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:plain" | as_json)"
for list in latest v2s2; do
    a=$("$ls" inspect --json --ca-file "$REGISTRY_CA" "${creds[@]}" --platform linux/arm64 "docker://$REGISTRY_ADDR/real/multi:$list" | python3 -c 'import json,sys; print(json.load(sys.stdin)["platform"])')
    [ "$a" = linux/arm64/v8 ] && ok "registry multi:$list selects arm64" || bad "registry multi:$list: $a"
done
mkdir -p "$work/dockercfg"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$REGISTRY_ADDR" "$(printf '%s:%s' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0)" > "$work/dockercfg/config.json"
same "registry with docker config credentials" "$(DOCKER_CONFIG=$work/dockercfg reg "docker://$REGISTRY_ADDR/real/bookworm:latest" | as_json)"
quiet_failures() { # CMD...: its first FAILED line only, and its status
    local o rc=0
    o=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$o" | grep -m1 FAILED || printf '%s\n' "$o"
    return $rc
}
expect_error() { # NAME NEEDLE CMD...
    local name=$1 needle=$2; shift 2
    local err
    if err=$("$@" 2>&1); then bad "$name: accepted"
    elif [[ $err == *"$needle"* ]]; then ok "$name: ${err##*: unauthorized: }"
    else bad "$name: $err"; fi
}
expect_error "registry wrong password" "credentials were refused" reg -u "$REGISTRY_USER" -p wrong "docker://$REGISTRY_ADDR/real/bookworm:latest"
expect_error "registry without credentials" "authentication required" reg "docker://$REGISTRY_ADDR/real/bookworm:latest"
expect_error "registry without its CA" "--ca-file" "$ls" roothash --no-cache "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:latest"
# The CA from a skopeo-style --cert-dir, from docker's certs.d directory for
# the registry, and no verification at all when the user says so.
mkdir -p "$work/certdir" && cp "$REGISTRY_CA" "$work/certdir/ca.crt"
same "registry with --cert-dir" "$("$ls" roothash --no-cache --cert-dir "$work/certdir" "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:latest" | as_json)"
certsd=/etc/docker/certs.d/$REGISTRY_ADDR
if [ ! -e "$certsd" ]; then
    mkdir -p "$certsd" && cp "$REGISTRY_CA" "$certsd/ca.crt"
    same "registry with /etc/docker/certs.d/HOST:PORT/ca.crt" "$("$ls" roothash --no-cache "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:latest" | as_json)"
    rm -rf "$certsd"
fi
same "registry with --tls-verify=false" "$("$ls" roothash --no-cache --tls-verify=false "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:latest" | as_json)"
expect_error "registry unknown tag" "not found" reg "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:nope"
expect_error "registry absent platform" "linux/amd64" reg "${creds[@]}" --platform linux/s390x "docker://$REGISTRY_ADDR/real/multi:latest"
# composefs: the same image id from every source; signatures pushed to the
# registry as referrers of the image and verified from there.
cfs() { "$ls" composefs --repo "$work/cfs" "$@"; }
cfs --hash sha256 init >/dev/null
cid=$(cfs pull "${creds[@]}" --ca-file "$REGISTRY_CA" "docker://$REGISTRY_ADDR/real/bookworm:latest" real)
for src in "oci:$out/oci:bookworm" "docker-archive:$out/bookworm.docker-archive.tar" "oci:$out/oci:bookworm-zstd"; do
    got=$("$ls" composefs --hash sha256 compute-id --image "$src")
    [ "$got" = "$cid" ] && ok "composefs id from $src equals the registry pull" || bad "composefs id from $src: $got != $cid"
done
[ "$(cfs compute-id real)" = "$cid" ] && ok "composefs compute-id from the repository" || bad "composefs compute-id from the repository"
cfs fsck >/dev/null && ok "composefs fsck of the pulled real image" || bad "composefs fsck"
keys=$here/crates/layerseal/tests/data/composefs-sign
cfs sign real --cert "$keys/test-signer.cert.pem" --key "$keys/test-signer.key.pem" >/dev/null
expect_error "composefs verify before the signature is pushed" "no composefs signature" \
    cfs verify real --cert "$keys/test-signer.cert.pem" --registry "docker://$REGISTRY_ADDR/real/bookworm" "${creds[@]}" --ca-file "$REGISTRY_CA"
cfs push-signatures real "docker://$REGISTRY_ADDR/real/bookworm" "${creds[@]}" --ca-file "$REGISTRY_CA" >/dev/null \
    && ok "composefs signatures pushed as referrers" || bad "composefs push-signatures"
if cfs verify real --cert "$keys/test-signer.cert.pem" --registry "docker://$REGISTRY_ADDR/real/bookworm" "${creds[@]}" --ca-file "$REGISTRY_CA" >/dev/null; then
    ok "composefs verify from the registry"
else bad "composefs verify from the registry"; fi
expect_error "composefs verify with another key" "not made by this certificate" \
    cfs verify real --cert "$keys/other-signer.cert.pem" --registry "docker://$REGISTRY_ADDR/real/bookworm" "${creds[@]}" --ca-file "$REGISTRY_CA"
# Sealed (config label + digest annotations, signed inline) and pushed back.
if cfs seal real --cert "$keys/test-signer.cert.pem" --key "$keys/test-signer.key.pem" \
        --push "docker://$REGISTRY_ADDR/real/bookworm:sealed" "${creds[@]}" --ca-file "$REGISTRY_CA" >/dev/null; then
    sid=$("$ls" composefs --hash sha256 compute-id --image "docker://$REGISTRY_ADDR/real/bookworm:sealed" "${creds[@]}" --ca-file "$REGISTRY_CA")
    [ "$sid" = "$cid" ] && ok "composefs sealed image pushed; same id read back from the registry" || bad "sealed image id $sid != $cid"
else bad "composefs seal --push"; fi
# Signed EROFS root hashes pushed to the same TLS + auth registry: Debian's
# docker-registry 2.8 has no referrers API, so they go under the fallback tag.
sreg=(--ca-file "$REGISTRY_CA" "${creds[@]}")
"$ls" sign "docker://$REGISTRY_ADDR/real/bookworm:latest" --push --format erofs \
    --cert "$pki/rsa.pem" --key "$pki/rsa.key" "${sreg[@]}" > "$work/pushed.txt" \
    && ok "sign --push to the TLS + auth registry" || bad "sign --push"
subject=$("$ls" inspect --json "${sreg[@]}" "docker://$REGISTRY_ADDR/real/bookworm:latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest_digest"])')
fallback=$(curl -sf --cacert "$REGISTRY_CA" -u "$REGISTRY_USER:$REGISTRY_PASS" \
    -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "https://$REGISTRY_ADDR/v2/real/bookworm/manifests/${subject/:/-}" \
    | python3 -c 'import json,sys; print(" ".join(m["artifactType"] for m in json.load(sys.stdin)["manifests"]))' || true)
[[ $fallback == *application/vnd.cncf.notary.signature.dm-verity* ]] \
    && ok "artifact listed under the fallback tag ${subject/:/-}" || bad "fallback tag: '$fallback'"
if "$ls" verify-signatures "docker://$REGISTRY_ADDR/real/bookworm:latest" --format erofs --ca "$pki/ca.pem" "${sreg[@]}" > "$work/v.txt"; then
    ok "verify-signatures from the registry (fallback tag): $(grep -c ' ok ' "$work/v.txt") layers"
else bad "verify-signatures from the registry: $(cat "$work/v.txt")"; fi
expect_error "verify-signatures against another CA" "not issued by a trusted CA" \
    quiet_failures "$ls" verify-signatures "docker://$REGISTRY_ADDR/real/bookworm:latest" --format erofs --ca "$pki/impostor.pem" "${sreg[@]}"
"$here/testenv/registry.sh" stop >/dev/null
expect_error "registry stopped" "cannot reach" reg "${creds[@]}" "docker://$REGISTRY_ADDR/real/bookworm:latest"

# --- Bearer-token flow (a minimal token-auth registry over the layout).
python3 "$here/testenv/token-registry.py" "$out/oci" alice s3cret > "$work/tokport" &
tokpid=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$work/tokport" ] && break; sleep 0.3; done
tok="127.0.0.1:$(cat "$work/tokport")/real/bookworm:bookworm"
same "registry bearer token flow" "$("$ls" roothash --no-cache -u alice -p s3cret "docker://$tok" | as_json)"
same "dmverity-vhd roothash from a registry" "$("$dv" roothash -i "$tok" -u alice -p s3cret)"
expect_error "token service refuses a bad password" "refused" "$ls" roothash --no-cache -u alice -p nope "docker://$tok"
kill "$tokpid" 2>/dev/null || true
# The same registry, writable and with the OCI 1.1 referrers API (on a
# hard-linked copy): sign --push indexes through it, no fallback tag.
cp -al "$out/oci" "$work/api"
python3 "$here/testenv/token-registry.py" "$work/api" alice s3cret --writable "$work/api.log" > "$work/apiport" 2> "$work/api.err" &
tokpid=$!
for _ in $(seq 50); do [ -s "$work/apiport" ] && break; sleep 0.2; done
[ -s "$work/apiport" ] || { echo "referrers registry did not start:"; cat "$work/api.err"; } >&2
api="127.0.0.1:$(cat "$work/apiport")/real/bookworm:bookworm"
"$ls" sign "docker://$api" --push --format erofs -u alice -p s3cret \
    --cert "$pki/p256.pem" --key "$pki/p256.key" >/dev/null && ok "sign --push (ECDSA) to a registry with the referrers API" || bad "sign --push to the referrers API registry"
if "$ls" verify-signatures "docker://$api" --format erofs --ca "$pki/ca.pem" -u alice -p s3cret > "$work/v.txt" \
    && grep -q '^GET /v2/real/bookworm/referrers/sha256:' "$work/api.log" \
    && ! grep -q '^PUT /v2/real/bookworm/manifests/sha256-' "$work/api.log"; then
    ok "verify-signatures through the referrers API: $(grep -c ' ok ' "$work/v.txt") layers, no fallback tag written"
else bad "referrers API: $(cat "$work/v.txt"; grep -c . "$work/api.log") requests"; fi
# The fleet cache: one more layer than the artifact covers is computed.
if "$ls" roothash --no-cache --format erofs --from-referrers --ca "$pki/ca.pem" -u alice -p s3cret "docker://$api" > "$work/fr.txt" 2> "$work/fr.err" \
    && cmp -s "$work/fr.txt" "$work/erofs-roots.txt"; then
    ok "roothash --from-referrers: $(tail -1 "$work/fr.err")"
else bad "roothash --from-referrers: $(cat "$work/fr.err")"; fi
kill "$tokpid" 2>/dev/null || true

# --- Docker daemon: load the docker-archive into a private dockerd, export via the API.
export DOCKERD_STATE=$work/dk
if DOCKER_HOST=$("$here/testenv/dockerd.sh" start --ttl 900 2>"$work/dockerd.log"); then
    export DOCKER_HOST
    trap 'DOCKERD_STATE=$work/dk "$here/testenv/dockerd.sh" stop >/dev/null 2>&1 || true; REGISTRY_STATE=$work/registry "$here/testenv/registry.sh" stop >/dev/null 2>&1 || true; rm -rf "$work" "$XDG_CACHE_HOME"' EXIT
    docker load -i "$out/bookworm.docker-archive.tar" >/dev/null
    same "docker-daemon: (layerseal)" "$("$ls" roothash --no-cache docker-daemon:real/bookworm:latest | as_json)"
    did=$("$ls" composefs --hash sha256 compute-id --image docker-daemon:real/bookworm:latest)
    [ "$did" = "$cid" ] && ok "composefs id from docker-daemon: equals the registry pull" || bad "composefs id from docker-daemon: $did != $cid"
    same "dmverity-vhd -d roothash" "$("$dv" -d roothash -i real/bookworm:latest)"
    mkdir -p "$work/dk-out"
    "$dv" -d create -i real/bookworm:latest -o "$work/dk-out" >/dev/null
    n=$(find "$work/dk-out" -name '*.vhd' | wc -l)
    [ "$n" = 4 ] && ok "dmverity-vhd -d create wrote 4 VHDs" || bad "dmverity-vhd -d create wrote $n files"
    expect_error "daemon: image not present" "No such image" "$ls" roothash --no-cache docker-daemon:real/absent:latest
    "$here/testenv/dockerd.sh" stop >/dev/null
    expect_error "daemon not running" "is the daemon running" "$ls" roothash --no-cache docker-daemon:real/bookworm:latest
else
    echo "SKIPPED: Docker daemon checks: dockerd did not start ($(tail -1 "$work/dockerd.log"))"
fi
echo "real-image: $pass passed, $fail failed"
[ "$fail" = 0 ]
