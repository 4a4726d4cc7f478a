#!/usr/bin/env bash
# perfkit bench against hyperfine on the same command, in one session: each tool benchmarks
# `true` (or the command given) without a shell, with the same run and warm-up counts, in
# alternating turns so that both meet the same machine. Prints each turn's means and the
# ratio perfkit/hyperfine, then the median ratio.
#
#   benches/bench_vs_hyperfine.sh [TURNS] [RUNS] [COMMAND...]
#   HYPERFINE=/path/to/hyperfine benches/bench_vs_hyperfine.sh 6 2000
#
# Needs hyperfine (cargo install hyperfine, or apt-get install hyperfine) and python3; builds
# perfkit in release mode. Target (docs/benchmarks.md): the median ratio at most 1.05, that
# is perfkit's per-run measurement costs no more than 5% over hyperfine's on the smallest
# command there is.
set -euo pipefail
cd "$(dirname "$0")/.."
TURNS="${1:-6}"
RUNS="${2:-2000}"
shift $(( $# > 2 ? 2 : $# ))
COMMAND=("$@")
[ ${#COMMAND[@]} -gt 0 ] || COMMAND=(true)
HYPERFINE="${HYPERFINE:-$(command -v hyperfine || true)}"
[ -n "$HYPERFINE" ] || { echo "hyperfine is needed: cargo install hyperfine (or set HYPERFINE)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed (apt-get install python3)" >&2; exit 2; }

cargo build --release --quiet -p perfkit-cli --bin perfkit
PERFKIT="$PWD/target/release/perfkit"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
TEXT="${COMMAND[*]}"

echo "$("$HYPERFINE" --version), perfkit $("$PERFKIT" --version | cut -d' ' -f2): '$TEXT', $RUNS runs a turn"
mean() {
    # The mean wall time in seconds: hyperfine 1's results[].mean, or hyperfine 2's summary.
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["mean"] if "mean" in r else r["summary"]["time_wall_clock"]["mean"])
PY
}
ratios=()
for turn in $(seq 1 "$TURNS"); do
    # Alternate which tool goes first.
    order=(hyperfine perfkit)
    (( turn % 2 == 0 )) && order=(perfkit hyperfine)
    for tool in "${order[@]}"; do
        if [ "$tool" = hyperfine ]; then
            # hyperfine warns about outliers on standard error even with --style none.
            "$HYPERFINE" -N --style none --warmup 50 --runs "$RUNS" \
                --export-json "$WORK/h.json" "$TEXT" >/dev/null 2>"$WORK/err" \
                || { cat "$WORK/err" >&2; exit 1; }
        else
            "$PERFKIT" bench -N --style none --warmup 50 --runs "$RUNS" --output null \
                --export-json "$WORK/p.json" "$TEXT" >/dev/null
        fi
    done
    h=$(mean "$WORK/h.json")
    p=$(mean "$WORK/p.json")
    ratio=$(python3 -c "print(f'{$p / $h:.4f}')")
    ratios+=("$ratio")
    printf 'turn %d: hyperfine %.1f µs, perfkit %.1f µs, perfkit/hyperfine %s\n' \
        "$turn" "$(python3 -c "print($h*1e6)")" "$(python3 -c "print($p*1e6)")" "$ratio"
done
python3 -c "
import statistics, sys
r = sorted(float(x) for x in sys.argv[1:])
print(f'median perfkit/hyperfine over {len(r)} turns: {statistics.median(r):.4f} (min {r[0]:.4f}, max {r[-1]:.4f}); target <= 1.05')
" "${ratios[@]}"
