#!/bin/sh
# Install what the tests need, build, and run every test three ways:
#   1. a normal build: the whole suite;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite;
#   3. ThreadSanitizer: the tests labelled "concurrency".
# Exits non-zero if any run fails; the last line is ctest's summary.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh gcc make cmake clang-format
jobs=$(nproc)
status=0

run() { # NAME CMAKE-ARGS CTEST-ARGS
    name=$1 cargs=$2 targs=$3
    echo "=== $name build"
    cmake -S . -B "build-$name" -DIPCX_WERROR=ON $cargs >/dev/null
    cmake --build "build-$name" -j"$jobs" >/dev/null
    echo "=== $name tests"
    (cd "build-$name" && ctest --output-on-failure -j"$jobs" $targs) ||
        status=1
}

echo "=== format check"
if ! clang-format --dry-run --Werror src/*/*.[ch] include/ipcx/*.h \
        tools/*.[ch] tests/*.[ch] 2>&1 | head -20; then :; fi
if ! clang-format --dry-run --Werror src/*/*.[ch] include/ipcx/*.h \
        tools/*.[ch] tests/*.[ch] >/dev/null 2>&1; then
    echo "format check failed: run clang-format -i on the files above"
    status=1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
run asan "-DIPCX_SANITIZE=address" ""
run tsan "-DIPCX_SANITIZE=thread" "-L concurrency"
run normal "-DCMAKE_BUILD_TYPE=RelWithDebInfo" ""
exit $status
