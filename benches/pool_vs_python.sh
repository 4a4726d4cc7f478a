#!/usr/bin/env bash
# perfkit pool against Python's multiprocessing.Pool on the same 1,000,000 tasks: square an
# integer, 2 workers. Each side reads the integers from one file and writes the squares to
# /dev/null; wall time includes starting the interpreter or perfkit and its workers.
#
#   benches/pool_vs_python.sh [TASKS]        (needs python3; builds perfkit in release mode)
#
# Prints tasks/s for Python at chunksize 1 and 1,000 and for perfkit pool (framed protocol,
# a worker written with perfkit_pool::worker::serve_into), and perfkit's ratio to Python's
# best. Target (docs/benchmarks.md): perfkit pool >= 3x Python's best configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS="${1:-1000000}"
command -v python3 >/dev/null || { echo "python3 is needed (apt-get install python3)" >&2; exit 2; }

cargo build --release --quiet -p perfkit-cli -p perfkit-benches --bin perfkit --bin pool-worker
PERFKIT="$PWD/target/release/perfkit"
WORKER="$PWD/target/release/pool-worker"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
seq 1 "$TASKS" > "$WORK/tasks.txt"

cat > "$WORK/pool.py" <<'PY'
import multiprocessing, sys

def square(n):
    return n * n

if __name__ == "__main__":
    chunksize = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        numbers = [int(line) for line in f]
    with multiprocessing.Pool(2) as pool:
        squares = pool.map(square, numbers, chunksize=chunksize)
    with open("/dev/null", "w") as out:
        out.write("\n".join(map(str, squares)))
        out.write("\n")
PY

now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])):.0f}')" "$TASKS" "$1" "$2"; }

declare -A RATES
for chunk in 1 1000; do
    start=$(now); python3 "$WORK/pool.py" "$chunk" "$WORK/tasks.txt"; end=$(now)
    RATES["python_chunksize_$chunk"]=$(rate "$start" "$end")
    echo "python multiprocessing.Pool chunksize $chunk: ${RATES[python_chunksize_$chunk]} tasks/s"
done
start=$(now); "$PERFKIT" pool --framed --workers 2 -- "$WORKER" --square < "$WORK/tasks.txt" > /dev/null; end=$(now)
RATES[perfkit]=$(rate "$start" "$end")
echo "perfkit pool --framed: ${RATES[perfkit]} tasks/s"
best=$(( RATES[python_chunksize_1] > RATES[python_chunksize_1000] ? RATES[python_chunksize_1] : RATES[python_chunksize_1000] ))
python3 -c "import sys; print(f'perfkit pool / best Python: {int(sys.argv[1]) / int(sys.argv[2]):.2f}x')" "${RATES[perfkit]}" "$best"
