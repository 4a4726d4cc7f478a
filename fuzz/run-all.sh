#!/bin/sh
# Fuzzes every target for SECONDS (default 600), JOBS at a time (default 2), then minimises
# each corpus. Needs nightly and cargo-fuzz: rustup toolchain install nightly;
# cargo install cargo-fuzz. Logs go to fuzz/logs/, crashes to fuzz/artifacts/.
set -u
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
JOBS=${JOBS:-2}
mkdir -p logs
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v perfkit-fuzz)
cargo +nightly fuzz build -O >/dev/null 2>&1 || { echo "cargo fuzz build failed" >&2; exit 2; }
running=0
for t in $targets; do
    mkdir -p "corpus/$t"
    (
        start=$(date +%s)
        cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" \
            -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
            > "logs/$t.log" 2>&1
        echo "$t: exit $? after $(( $(date +%s) - start )) s" >> logs/summary.txt
    ) &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n 2>/dev/null || wait
        running=$((running - 1))
    fi
done
wait
for t in $targets; do
    cargo +nightly fuzz cmin -O "$t" "corpus/$t" > "logs/$t.cmin.log" 2>&1
done
echo "all done" >> logs/summary.txt
