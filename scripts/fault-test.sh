#!/usr/bin/env bash
# Registries that misbehave: the real image (testenv/make-real-image.sh)
# pulled through testenv/fault-proxy.py, one fault at a time, in front of a
# plain-HTTP registry on loopback. Recoverable faults must still give the
# reference root hashes; the rest must end with the documented error.
#
# Usage: scripts/fault-test.sh [BIN_DIR]   (default target/release)
# Env: REAL_IMAGE_DIR (as real-image-test.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release}
out=${REAL_IMAGE_DIR:-/var/cache/layerseal-real-image}
ls=$bin/layerseal
pass=0 fail=0
ok() { echo "fault-test: PASS $*"; pass=$((pass+1)); }
bad() { echo "fault-test: FAIL $*"; fail=$((fail+1)); }

bash "$here/testenv/make-real-image.sh" "$out" >&2
work=$(mktemp -d)
export REGISTRY_STATE=$work/registry
proxy_pid=0
cleanup() {
    [ "$proxy_pid" = 0 ] || kill "$proxy_pid" 2>/dev/null || true
    "$here/testenv/registry.sh" stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
"$here/testenv/registry.sh" start --ttl 900 >/dev/null
"$here/testenv/registry.sh" seed "$out" >&2
# shellcheck disable=SC1091
source "$REGISTRY_STATE/env"
ref=$("$bin/dmverity-vhd" --tarball "$out/bookworm.docker-archive.tar" roothash |
    python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["layers"]))')

# start_proxy MODE [--basic U:P]: sets $proxy_addr
start_proxy() {
    local mode=$1; shift
    rm -f "$work/port" "$work/proxy.log"
    python3 "$here/testenv/fault-proxy.py" --upstream "$REGISTRY_ADDR" --fault "$mode" \
        --port-file "$work/port" --log "$work/proxy.log" --ttl 300 "$@" &
    proxy_pid=$!
    for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
    proxy_addr=127.0.0.1:$(cat "$work/port")
    touch "$work/proxy.log"
}
stop_proxy() { kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; proxy_pid=0; }

pull() { # extra args…; prints root hashes, stderr to $work/err
    "$ls" roothash --no-cache --plain-http --read-timeout 3 "$@" "docker://$proxy_addr/real/bookworm:latest" 2>"$work/err"
}

# Recoverable: the reference root hashes, and the proxy saw the fault.
for mode in none reset:200000 stall:200000:8 status:500:2 status:502:2 status:503:3 retry-after:2:1; do
    start_proxy "$mode"
    t0=$(date +%s.%N)
    got=$(pull || true)
    t1=$(date +%s.%N)
    events=$(wc -l < "$work/proxy.log")
    if [ "$got" = "$ref" ] && { [ "$mode" = none ] || [ "$events" -gt 0 ]; }; then
        ok "$mode: reference root hashes ($events fault events, $(python3 -c "print(f'{$t1 - $t0:.1f}')") s)"
    else
        bad "$mode: got [$got] events $events: $(head -c 400 "$work/err")"
    fi
    stop_proxy
done

# A redirect to another host for blobs: followed, and the credentials the
# first host asked for are not sent along.
start_proxy redirect --basic tester:secret
got=$(pull -u tester -p secret || true)
if [ "$got" = "$ref" ] && grep -q "other-host GET" "$work/proxy.log" \
        && ! grep -q "authorization=yes" "$work/proxy.log"; then
    ok "redirect to another host: followed, no credentials sent there"
else
    bad "redirect: got [$got]; $(grep -c other-host "$work/proxy.log") other-host requests; $(head -c 300 "$work/err")"
fi
stop_proxy

# Not recoverable: the error after the last retry names the registry,
# repository, digest and cause.
start_proxy always:503
if pull >/dev/null; then bad "always 503: accepted"
elif grep -q "real/bookworm" "$work/err" && grep -q "sha256:" "$work/err" && grep -q "503" "$work/err"; then
    ok "always 503: $(head -c 200 "$work/err")"
else bad "always 503: $(head -c 300 "$work/err")"; fi
stop_proxy
start_proxy corrupt:5000
if pull >/dev/null; then bad "corrupt blob: accepted"
elif grep -q "digest mismatch\|corrupt" "$work/err"; then ok "corrupt blob: $(head -c 200 "$work/err")"
else bad "corrupt blob: $(head -c 300 "$work/err")"; fi
stop_proxy

start_proxy huge-manifest
if pull >/dev/null; then bad "huge manifest: accepted"
elif grep -q "MiB any manifest needs" "$work/err"; then ok "huge manifest refused: $(head -c 200 "$work/err")"
else bad "huge manifest: $(head -c 300 "$work/err")"; fi
stop_proxy

echo "fault-test: $pass passed, $fail failed"
[ "$fail" = 0 ]
