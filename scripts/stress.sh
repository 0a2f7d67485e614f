#!/bin/sh
# The long lost-wakeup stress (docs/reliability.md), in a Release build:
# tests/test_stress_wakeup for IPCX_STRESS_SECONDS (default 600: ten
# minutes) over all its variants (mailbox and channel ping-pong and
# bursts, 4 senders and 2 receivers on one mailbox; capacities 0, 1, 2,
# 64 and unbounded; two CPUs and one; IPCX_SPIN_NS default and 0; under
# busy-loop load).  Prints each variant's runs, messages, longest run and
# longest wait, and the summary lines; exits non-zero if any run stalled
# (2 s without finishing, or one operation blocked 0.9 s, not counting
# time the whole machine stalled) or failed.
# IPCX_STRESS_BUILD: the build directory.
#   scripts/stress.sh
#   IPCX_STRESS_SECONDS=3600 scripts/stress.sh
#   IPCX_STRESS_ONLY='mbox-multi cap=2' IPCX_STRESS_SEED=0x1234 scripts/stress.sh
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh gcc make cmake
build=${IPCX_STRESS_BUILD:-build-stress}
export IPCX_STRESS_SECONDS="${IPCX_STRESS_SECONDS:-600}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIPCX_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target test_stress_wakeup >/dev/null
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
echo "=== test_stress_wakeup: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr)," \
    "$(nproc) CPUs, $IPCX_STRESS_SECONDS s, commit $commit"
start=$(date +%s)
rc=0
"$build/tests/test_stress_wakeup" || rc=$?
echo "=== test_stress_wakeup: $(($(date +%s) - start)) s, exit status $rc"
exit $rc
