#!/bin/sh
# The long kill -9 tortures (docs/reliability.md), in a Release build:
#   mailbox  tests/test_torture with IPCX_TORTURE_KILLS random SIGKILLs
#            (default 30000, about two minutes on 2 vCPUs) over its nine
#            mailbox scenarios;
#   channel  tests/test_torture_channel with IPCX_TORTURE_CHAN_KILLS
#            (default 160000, about ten minutes on 2 vCPUs) over its three
#            channel scenarios;
#   all      both, one after the other (the default).
# Prints each scenario's figures and the summary lines; exits non-zero if
# any check failed.  IPCX_TORTURE_BUILD: the build directory.
#   scripts/torture.sh channel
#   IPCX_TORTURE_KILLS=20000 scripts/torture.sh mailbox
#   IPCX_TORTURE_SEED=123 IPCX_TORTURE_ONLY=pair-rendezvous scripts/torture.sh mailbox
#   IPCX_TORTURE_ONLY=chan-cap1 scripts/torture.sh channel
set -eu
cd "$(dirname "$0")/.."
which=${1:-all}
case $which in
mailbox) targets=test_torture ;;
channel) targets=test_torture_channel ;;
all) targets="test_torture test_torture_channel" ;;
*)
    echo "usage: scripts/torture.sh [mailbox|channel|all]" >&2
    exit 2
    ;;
esac
scripts/deps.sh gcc make cmake
build=${IPCX_TORTURE_BUILD:-build-torture}
export IPCX_TORTURE_KILLS="${IPCX_TORTURE_KILLS:-30000}"
export IPCX_TORTURE_CHAN_KILLS="${IPCX_TORTURE_CHAN_KILLS:-160000}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIPCX_WERROR=ON >/dev/null
# shellcheck disable=SC2086 # one word per target
cmake --build "$build" -j"$(nproc)" --target $targets >/dev/null
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
status=0
for t in $targets; do
    case $t in
    test_torture) kills=$IPCX_TORTURE_KILLS ;;
    *) kills=$IPCX_TORTURE_CHAN_KILLS ;;
    esac
    echo "=== $t: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr)," \
        "$(nproc) CPUs, $kills kills, commit $commit"
    start=$(date +%s)
    rc=0
    "$build/tests/$t" || rc=$?
    echo "=== $t: $(($(date +%s) - start)) s, exit status $rc"
    [ "$rc" -eq 0 ] || status=$rc
done
exit $status
