#!/bin/sh
# The long kill -9 torture (docs/reliability.md): tests/test_torture with
# IPCX_TORTURE_KILLS random SIGKILLs (default 30000, about two minutes on
# 2 vCPUs) spread over its nine mailbox scenarios, in a Release build.
# Prints each scenario's figures and the summary line; exits non-zero if
# any check failed.  IPCX_TORTURE_BUILD: the build directory.
#   IPCX_TORTURE_KILLS=20000 scripts/torture.sh
#   IPCX_TORTURE_SEED=123 IPCX_TORTURE_ONLY=pair-rendezvous scripts/torture.sh
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh gcc make cmake
build=${IPCX_TORTURE_BUILD:-build-torture}
export IPCX_TORTURE_KILLS="${IPCX_TORTURE_KILLS:-30000}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DIPCX_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target test_torture >/dev/null
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
echo "=== $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sr), $(nproc) CPUs," \
    "$IPCX_TORTURE_KILLS kills, commit $commit"
start=$(date +%s)
status=0
"$build/tests/test_torture" || status=$?
echo "=== $(($(date +%s) - start)) s, exit status $status"
exit $status
