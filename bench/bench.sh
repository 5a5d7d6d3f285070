#!/usr/bin/env bash
# Benchmark layerseal against a peer on the same input, in the same run.
#
#   bench/bench.sh [RUNS]
#
# Input: the 300 MiB corpus layer (huge.tar), generated once into
# bench/work/. Compared:
#   layerseal layer huge.tar                 (= dmverity-vhd hashlayer: tar -> ext4 -> root hash)
#   layerseal layer huge.tar -o out.vhd --vhd (= create --dir: also writes the VHD)
#   veritysetup format huge.tar hash.img     (peer: only hashes the tar bytes, one thread)
#   layerseal layer --format erofs [--tar-index] (EROFS for containerd; peers: veritysetup
#                                              format, with 512-byte blocks for tar-index)
#   layerseal fsverity-digest huge.tar       (peer: fsverity-utils' fsverity digest)
# Prints median wall time, peak RSS and the ratio ours / peer.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
work=$here/bench/work
mkdir -p "$work"
command -v veritysetup >/dev/null || { echo "bench: needs veritysetup (apt-get install cryptsetup-bin)"; exit 3; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time (apt-get install time)"; exit 3; }
if [ ! -f "$work/huge.tar" ]; then
    echo "bench: generating the corpus (300 MiB) into $work"
    python3 "$here/bench/corpus-gen.py" "$work/corpus" --big >/dev/null
    mv "$work/corpus/huge.tar" "$work/huge.tar"
    rm -rf "$work/corpus"
fi
(cd "$here" && cargo build --release -q)
bin=$here/target/release/layerseal
cat "$work/huge.tar" > /dev/null   # warm the page cache for everyone

# measure NAME CMD...: run RUNS times, record wall seconds and max RSS (KiB).
declare -A WALL RSS
measure() {
    local name=$1; shift
    local walls=() rss=0
    for _ in $(seq "$runs"); do
        rm -f "$work/out.vhd" "$work/hash.img"
        local start end r
        start=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$work/rss" "$@" > /dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
        end=$(date +%s.%N)
        walls+=("$(echo "$end - $start" | bc)")
        r=$(tail -1 "$work/rss"); [ "$r" -gt "$rss" ] && rss=$r
    done
    WALL[$name]=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    RSS[$name]=$rss
    printf '%-28s median %6.3f s   peak RSS %6d KiB   (%s runs)\n' "$name" "${WALL[$name]}" "$rss" "$runs"
}

echo "bench: input $(du -h "$work/huge.tar" | cut -f1) huge.tar, $(nproc) cores"
zero_salt=0000000000000000000000000000000000000000000000000000000000000000
uuid=13ece3d3-c867-5cbc-b800-071646c89d65
measure "veritysetup format" veritysetup format "$work/huge.tar" "$work/hash.img"
measure "veritysetup format 512" veritysetup format --data-block-size=512 --hash-block-size=512 \
    --salt=$zero_salt "$work/huge.tar" "$work/hash.img"
measure "layerseal layer (hash only)" "$bin" layer "$work/huge.tar"
measure "layerseal layer -o VHD" "$bin" layer "$work/huge.tar" -o "$work/out.vhd" --vhd
measure "erofs (hash only)" "$bin" layer "$work/huge.tar" --format erofs --erofs-uuid $uuid
measure "erofs tar-index (hash only)" "$bin" layer "$work/huge.tar" --format erofs --tar-index --erofs-uuid $uuid
have_fsverity=0
if command -v fsverity >/dev/null; then
    have_fsverity=1
    measure "fsverity digest" fsverity digest "$work/huge.tar"
fi
measure "layerseal fsverity-digest" "$bin" fsverity-digest "$work/huge.tar"
rm -f "$work/out.vhd" "$work/hash.img"
ratio() { # OURS PEER
    printf 'ratio %-28s %.2f x %s\n' "$1" "$(echo "${WALL[$1]} / ${WALL[$2]}" | bc -l)" "$2"
}
ratio "layerseal layer (hash only)" "veritysetup format"
ratio "layerseal layer -o VHD" "veritysetup format"
ratio "erofs (hash only)" "veritysetup format"
ratio "erofs tar-index (hash only)" "veritysetup format 512"
[ "$have_fsverity" = 1 ] && ratio "layerseal fsverity-digest" "fsverity digest"
true
