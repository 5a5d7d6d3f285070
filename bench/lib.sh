# Shared by the bench scripts (sourced): timing and ratios.
# Needs: $runs, $work (scratch dir). A script may define `before_each`
# (run before every timed run, untimed) to reset its outputs.
declare -A WALL RSS

# measure NAME CMD...: run RUNS times, record the median wall seconds and
# the peak RSS (KiB), and print them.
measure() {
    local name=$1; shift
    local walls=() rss=0 start end r
    for _ in $(seq "$runs"); do
        if declare -F before_each >/dev/null; then before_each; fi
        start=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$work/rss" "$@" > /dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
        end=$(date +%s.%N)
        walls+=("$(echo "$end - $start" | bc)")
        r=$(tail -1 "$work/rss"); [ "$r" -gt "$rss" ] && rss=$r
    done
    WALL[$name]=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    RSS[$name]=$rss
    printf '%-34s median %6.3f s   peak RSS %6d KiB   (%s runs)\n' "$name" "${WALL[$name]}" "$rss" "$runs"
}

# ratio OURS PEER: our median over the peer's.
ratio() {
    printf 'ratio %-34s %.2f x %s\n' "$1" "$(echo "${WALL[$1]} / ${WALL[$2]}" | bc -l)" "$2"
}
