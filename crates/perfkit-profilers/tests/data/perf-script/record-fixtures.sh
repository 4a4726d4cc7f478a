#!/bin/sh
# Records the perf script fixtures in this directory from the programs in src/ (see README.md).
# Run as root on a machine with perf, gcc, g++, rustc, python3, node, a JDK and perl:
#   sh record-fixtures.sh /tmp/work
# Each file is cut after at most LIMIT bytes, at the end of a complete sample.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?give a scratch directory}
LIMIT=${LIMIT:-200000}
mkdir -p "$work"
cd "$work"
cp "$here"/src/* .
gcc -O2 -g -fno-omit-frame-pointer -pthread -o threads threads.c
g++ -O2 -g -fno-omit-frame-pointer -o tmpl tmpl.cpp
rustc -C opt-level=2 -C force-frame-pointers=yes -g -o rec rec.rs
javac Hot.java

# cut FILE: keeps whole samples (up to a blank line, or whole lines when samples have no
# blank lines between them) within LIMIT bytes.
cut_to_limit() {
    python3 - "$1" "$LIMIT" <<'PY'
import sys
path, limit = sys.argv[1], int(sys.argv[2])
data = open(path, 'rb').read()
if len(data) > limit:
    end = data.rfind(b'\n\n', 0, limit)
    end = end + 2 if end > 0 else data.rfind(b'\n', 0, limit) + 1
    data = data[:end]
open(path, 'wb').write(data)
PY
}

# script NAME DATA [perf script options...]
script() {
    name=$1 data=$2
    shift 2
    perf script -i "$data" "$@" > "$here/$name.txt" 2>/dev/null
    cut_to_limit "$here/$name.txt"
}

perf record -q -F 499 -g -o threads.data ./threads >/dev/null
script c-threads-names threads.data -F comm,pid,tid,time,event,ip,sym,dso --no-inline
script c-threads-no-time threads.data -F comm,pid,event,ip,sym,dso --no-inline
script c-threads-tid-only threads.data -F comm,tid,time,period,event,ip,sym,dso,symoff --no-inline

perf record -q -F 499 --call-graph dwarf,8192 -o tmpl.data ./tmpl >/dev/null
script cpp-dwarf-default tmpl.data --no-inline
script cpp-dwarf-no-demangle tmpl.data --no-inline --no-demangle
script cpp-dwarf-hide-call-graph tmpl.data --no-inline -G

perf record -q -e page-faults -c 50 -g -o faults.data ./tmpl >/dev/null
script cpp-page-faults faults.data --no-inline

perf record -q -F 499 -e cpu-clock,task-clock -g -o rec2.data ./rec >/dev/null
script rust-two-events rec2.data --no-inline
perf record -q -F 499 -g -o rec.data ./rec >/dev/null
script rust-fp-srcline rec.data -F +srcline --no-inline
perf record -q -F 499 --call-graph dwarf,8192 -o recd.data ./rec >/dev/null
script rust-dwarf-inline recd.data --inline

perf record -q -F 499 --call-graph dwarf,16384 -o py.data python3 hot.py >/dev/null
script python-dwarf py.data --no-inline
perf record -q -F 499 -o pyn.data python3 hot.py >/dev/null
script python-no-call-graph pyn.data -F +period --no-inline

perf record -q -F 499 -g -o node.data node --perf-basic-prof --interpreted-frames-native-stack hot.js >/dev/null
script node-jit-map node.data --no-inline
rm -f /tmp/perf-*.map

perf record -q -F 499 -g --sample-cpu -o java.data java -XX:+PreserveFramePointer -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit Hot >/dev/null
script java-jit-map java.data --no-inline
script java-jit-map-cpu-period java.data -F comm,pid,tid,cpu,time,period,event,ip,sym,dso --no-inline
rm -f /tmp/perf-*.map
script java-no-map java.data --no-inline

perf record -q -F 499 --call-graph dwarf -o perl.data perl hot.pl >/dev/null
script perl-dwarf perl.data --no-inline

perf record -q -F 999 -o sh.data sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'
script shell-no-call-graph sh.data --no-inline

perf record -q -F 499 -g -o dd.data dd if=/dev/zero of=/dev/null bs=64k count=300000 2>/dev/null
script kernel-dd dd.data --no-inline

perf record -q -F 199 -g -a -o all.data -- sh -c './rec >/dev/null & python3 hot.py >/dev/null & wait'
script system-wide all.data --no-inline
