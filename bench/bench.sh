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
#   layerseal layer --format erofs --mkfs-options "-T0 --mkfs-time --sort=none"
#                                            (Kata's differ setting, streamed; peers: veritysetup
#                                             format, and mkfs.erofs 1.9 alone when built)
#   layerseal fsverity-digest huge.tar       (peer: fsverity-utils' fsverity digest)
#   layerseal composefs pull / compute-id --image of the OCI image [usrbase, huge.tar]
#                                            (peer: fsverity digest of the same files,
#                                             extracted beforehand, untimed)
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
[ -f "$work/huge.tar.gz" ] || gzip -1 -c "$work/huge.tar" > "$work/huge.tar.gz"
(cd "$here" && cargo build --release -q)
bin=$here/target/release/layerseal
cat "$work/huge.tar" > /dev/null   # warm the page cache for everyone

# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
before_each() { rm -f "$work/out.vhd" "$work/hash.img"; }

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
measure "erofs --sort=none (hash only)" "$bin" layer "$work/huge.tar" --format erofs --erofs-uuid $uuid \
    --mkfs-options "-T0 --mkfs-time --sort=none"
measure "erofs --sort=none gzip (hash only)" "$bin" layer "$work/huge.tar.gz" --format erofs --erofs-uuid $uuid \
    --mkfs-options "-T0 --mkfs-time --sort=none"
if [ -x /opt/erofs-utils/bin/mkfs.erofs ]; then
    measure "mkfs.erofs 1.9 --sort=none" sh -c "/opt/erofs-utils/bin/mkfs.erofs --tar=f --aufs --quiet \
        -Enoinline_data -b4096 -T0 --mkfs-time --sort=none -U $uuid '$work/mkfs.erofs' < '$work/huge.tar'"
    rm -f "$work/mkfs.erofs"
fi
have_fsverity=0
if command -v fsverity >/dev/null; then
    have_fsverity=1
    measure "fsverity digest" fsverity digest "$work/huge.tar"
fi
measure "layerseal fsverity-digest" "$bin" fsverity-digest "$work/huge.tar"
# composefs: import into a fresh repository + image id, and the id alone,
# against fsverity-utils digesting the extracted files (the work floor).
if [ "$have_fsverity" = 1 ]; then
    rm -rf "$work/extracted" "$work/layout" && mkdir -p "$work/extracted"
    tar -xf "$work/huge.tar" -C "$work/extracted"
    mapfile -t files < <(find "$work/extracted" -type f -size +64c | sort)
    python3 - "$work/usrbase.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo("usr/"); i.type = tarfile.DIRTYPE; i.mode = 0o755; i.mtime = 1700000000
    t.addfile(i)
PY
    python3 "$here/scripts/make-oci-layout.py" "$work/layout" "$work/usrbase.tar" "$work/huge.tar"
    measure "fsverity digest (extracted)" fsverity digest "${files[@]}"
    measure "composefs pull (import+id)" sh -c "rm -rf '$work/cfs' && '$bin' composefs --repo '$work/cfs' --hash sha256 init && '$bin' composefs --repo '$work/cfs' pull 'oci:$work/layout:t' t"
    measure "composefs compute-id --image" "$bin" composefs --hash sha256 compute-id --image "oci:$work/layout:t"
    rm -rf "$work/cfs" "$work/extracted"
fi
rm -f "$work/out.vhd" "$work/hash.img"
ratio "layerseal layer (hash only)" "veritysetup format"
ratio "layerseal layer -o VHD" "veritysetup format"
ratio "erofs (hash only)" "veritysetup format"
ratio "erofs tar-index (hash only)" "veritysetup format 512"
ratio "erofs --sort=none (hash only)" "veritysetup format"
if [ -x /opt/erofs-utils/bin/mkfs.erofs ]; then
    ratio "erofs --sort=none (hash only)" "mkfs.erofs 1.9 --sort=none"
fi
if [ "$have_fsverity" = 1 ]; then
    ratio "layerseal fsverity-digest" "fsverity digest"
    ratio "composefs pull (import+id)" "fsverity digest (extracted)"
    ratio "composefs compute-id --image" "fsverity digest (extracted)"
fi
true
