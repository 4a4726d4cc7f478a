#!/usr/bin/env bash
# Heap profilers' cost on real work, in one session: a C program (benches/programs/wordcount.c,
# counting the words of a generated text), sqlite3 (C, nobody here wrote it: inserts and an
# index in an in-memory database) and a Rust program (heap-workload, the workload of the
# criterion group heap_profile_overhead), each run bare, under `perfkit heap --sampled`
# (every 512 KiB on average), under valgrind massif and under heaptrack. perfkit bench runs
# the variants of a program interleaved, so each meets the same machine; the script prints
# each one's mean wall time and its ratio to the bare program.
#
#   benches/heap_vs_tools.sh [RUNS]
#
# Needs gcc, valgrind, heaptrack (apt-get install heaptrack), sqlite3 and python3; builds
# perfkit and heap-workload in release mode. Target (docs/benchmarks.md): perfkit's ratio at
# most 1.3.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
for tool in gcc valgrind heaptrack sqlite3 python3; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 2; }
done

cargo build --release --quiet -p perfkit-cli --bin perfkit
cargo build --release --quiet -p perfkit-benches --bin heap-workload
PERFKIT="$PWD/target/release/perfkit"
WORKLOAD="$PWD/target/release/heap-workload"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

gcc -O2 -g -o "$WORK/wordcount" benches/programs/wordcount.c
# 4 MB of text: words of 2–11 letters from a small alphabet, a few hundred thousand distinct.
python3 - "$WORK/words.txt" <<'PY'
import random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    for _ in range(60_000):
        f.write(" ".join("".join(rng.choice("abcdefgh") for _ in range(rng.randint(2, 11)))
                         for _ in range(10)) + "\n")
PY
cat > "$WORK/sqlite.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000)
INSERT INTO t SELECT i, printf('name-%d-%x', i, i * 7919), i * 0.5 FROM n;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(length(name)) FROM t WHERE name LIKE 'name-1%';
SQL

echo "perfkit $("$PERFKIT" --version | cut -d' ' -f2), $(valgrind --version), heaptrack $(heaptrack --version 2>&1 | grep -o '[0-9][0-9.]*' | head -1); $RUNS runs each"
# Runs PROGRAM bare and under each profiler, interleaved; prints the ratios.
compare() {
    local name="$1"; shift
    local program
    program="$(printf '%q ' "$@")"
    "$PERFKIT" bench --style none --runs "$RUNS" --warmup 1 --export-json "$WORK/$name.json" \
        -n bare "$program" \
        -n "perfkit heap --sampled" "$PERFKIT heap --sampled -q --report /dev/null -- $program" \
        -n "valgrind massif" "valgrind -q --tool=massif --massif-out-file=$WORK/massif.out $program" \
        -n heaptrack "heaptrack -o $WORK/heaptrack $program" \
        >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    python3 - "$WORK/$name.json" "$name" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
bare = results[0]["mean"]
print(f"{sys.argv[2]}:")
for r in results:
    print(f"  {r['command']:<24} {r['mean']:8.3f} s   {r['mean'] / bare:6.2f}x bare")
PY
}
compare "C (wordcount)" "$WORK/wordcount" "$WORK/words.txt" 3
compare "C (sqlite3)" sqlite3 :memory: ".read $WORK/sqlite.sql"
compare "Rust (heap-workload)" "$WORKLOAD" 200
