#!/bin/sh
# The benchmark, in one command: install what it compares (from Debian),
# build it (Release, -O2), run every mechanism and metric, and write
#   bench/results/results-<date>.json   the raw numbers and the machine
#   bench/results/chart.svg              latency and throughput per mechanism
#   BENCHMARKS.md                        the tables, ratios and targets
#
# Usage: bench/run.sh [--quick] [--no-wait]
#   --quick    short runs of everything (under a minute); writes
#              bench/results/quick.md and quick.json, leaves BENCHMARKS.md
#   --no-wait  do not wait for the machine to be quiet first
#
# A full run first waits (up to 15 minutes) for the 1-minute load average to
# drop below 0.5, since this is a 2-CPU machine that others share; the load
# is recorded either way.  iceoryx's RouDi daemon is started for the run and
# stopped by its pid.  Exit status: 0 if every run succeeded, 1 if any
# failed (lost or damaged messages, a stall), 2 on a setup problem.
set -eu
cd "$(dirname "$0")/.."
quick=0
wait_quiet=1
for arg in "$@"; do
    case $arg in
    --quick) quick=1 ;;
    --no-wait) wait_quiet=0 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

scripts/deps.sh gcc make cmake pkg-config python3 gnuplot-nox \
    libzmq3-dev libnng-dev libiceoryx-binding-c-dev iceoryx

load1() { cut -d' ' -f1 /proc/loadavg; }
quiet() { awk -v l="$(load1)" 'BEGIN { exit !(l < 0.5) }'; }
waited="not waited for (--quick or --no-wait)"
if [ "$quick" -eq 0 ] && [ "$wait_quiet" -eq 1 ]; then
    tries=0
    until quiet || [ "$tries" -ge 30 ]; do
        echo "=== waiting for a quiet machine: load $(load1)"
        sleep 30
        tries=$((tries + 1))
    done
    if quiet; then
        waited="quiet (1-min load < 0.5) after $((tries * 30)) s of waiting"
    else
        waited="never quiet within 15 minutes: ran anyway"
    fi
fi

# Build after the wait, and note what was built: the tree may change.
echo "=== build (Release, -O2)"
cmake -S bench -B bench/build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build bench/build -j"$(nproc)" >/dev/null
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
git diff --quiet HEAD -- src include CMakeLists.txt 2>/dev/null ||
    commit="$commit + uncommitted changes in src/, include/ or CMakeLists.txt"
load_before=$(cat /proc/loadavg)

# iceoryx needs its daemon; ours, with the pools in bench/roudi.toml, and
# without its process monitoring: under full load a benchmark process's
# keep-alive thread can miss RouDi's 1.5 s deadline, and RouDi then tears
# down that live process's ports, which stalls the run.  Every process
# here deregisters when it exits.
roudi_pid=""
roudi_log="bench/build/roudi.log"
stop_roudi() {
    if [ -n "$roudi_pid" ]; then
        kill "$roudi_pid" 2>/dev/null || true
        wait "$roudi_pid" 2>/dev/null || true
        roudi_pid=""
    fi
}
trap stop_roudi EXIT INT TERM
iox-roudi -c bench/roudi.toml -m off -l warning >"$roudi_log" 2>&1 &
roudi_pid=$!
IPCX_BENCH_IOX=0
for _ in $(seq 50); do
    if grep -q "RouDi is ready" "$roudi_log"; then
        IPCX_BENCH_IOX=1
        break
    fi
    kill -0 "$roudi_pid" 2>/dev/null || break
    sleep 0.1
done
[ "$IPCX_BENCH_IOX" -eq 1 ] || echo "=== RouDi did not start: iceoryx n/a"
export IPCX_BENCH_IOX

mkdir -p bench/results
day=$(date -u +%Y-%m-%d)
if [ "$quick" -eq 1 ]; then
    raw=bench/build/quick.ndjson
    json=bench/results/quick.json
    md=bench/results/quick.md
    chart=bench/results/quick.svg
    cmd="bench/run.sh --quick"
    set -- --quick
else
    raw=bench/build/full.ndjson
    json=bench/results/results-$day.json
    md=BENCHMARKS.md
    chart=bench/results/chart.svg
    cmd="bench/run.sh"
    set --
fi

echo "=== run ($cmd)"
start=$(date +%s)
status=0
bench/build/ipcx-bench "$@" --out "$raw" || status=$?
stop_roudi
load_after=$(cat /proc/loadavg)
echo "=== $(($(date +%s) - start)) s; report"

ver() { dpkg-query -W -f='${Version}' "$1"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
clock=/sys/devices/system/clocksource/clocksource0/current_clocksource
virt=$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor: *//p')
versions="ZeroMQ $(ver libzmq3-dev), NNG $(ver libnng-dev)"
versions="$versions, iceoryx $(ver libiceoryx-binding-c-dev)"
python3 bench/report.py --raw "$raw" --json "$json" --md "$md" \
    --chart "$chart" --gnuplot-dir bench/build \
    --meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --meta "command=$cmd" \
    --meta "nproc=$(nproc)" \
    --meta "cpu=$cpu" \
    --meta "virt=${virt:-none}" \
    --meta "kernel=$(uname -r)" \
    --meta "os=Debian $(cat /etc/debian_version 2>/dev/null || echo '?')" \
    --meta "compiler=$(cc --version | head -1)" \
    --meta "commit=$commit" \
    --meta "clocksource=$(cat $clock 2>/dev/null || echo '?')" \
    --meta "spin=${IPCX_SPIN_NS:-default (20000 ns)}" \
    --meta "load_before=$load_before" \
    --meta "load_after=$load_after" \
    --meta "quiet=$waited" \
    --meta "seconds=$(($(date +%s) - start))" \
    --meta "versions=$versions"
echo "=== wrote $md, $json, $chart"
if [ "$status" -ne 0 ]; then
    echo "=== SOME RUNS FAILED: see the errors in $md" >&2
    exit 1
fi
