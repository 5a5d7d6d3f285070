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
# Prints median wall time, peak RSS and the ratio ours / veritysetup.
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
measure "veritysetup format" veritysetup format "$work/huge.tar" "$work/hash.img"
measure "layerseal layer (hash only)" "$bin" layer "$work/huge.tar"
measure "layerseal layer -o VHD" "$bin" layer "$work/huge.tar" -o "$work/out.vhd" --vhd
rm -f "$work/out.vhd" "$work/hash.img"
peer=${WALL["veritysetup format"]}
for n in "layerseal layer (hash only)" "layerseal layer -o VHD"; do
    printf 'ratio %-28s %.2f x veritysetup\n' "$n" "$(echo "${WALL[$n]} / $peer" | bc -l)"
done
