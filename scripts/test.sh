#!/bin/sh
# Install what the tests need, build, and run every test four ways:
#   1. AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite;
#   2. ThreadSanitizer: the tests labelled "concurrency";
#   3. libFuzzer (clang, ASan): each fuzz target for IPCX_FUZZ_SECONDS
#      (default 20) over its seed corpus;
#   4. a normal build: the whole suite.
# Exits non-zero if any run fails; the last line is ctest's summary.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh gcc make cmake clang-format clang libclang-rt-14-dev
jobs=$(nproc)
status=0

run() { # NAME CMAKE-ARGS CTEST-ARGS [CC]
    name=$1 cargs=$2 targs=$3 cc=${4:-gcc}
    echo "=== $name build"
    CC=$cc cmake -S . -B "build-$name" -DIPCX_WERROR=ON $cargs >/dev/null
    cmake --build "build-$name" -j"$jobs" >/dev/null
    echo "=== $name tests"
    (cd "build-$name" && ctest --output-on-failure -j"$jobs" $targs) ||
        status=1
}

echo "=== format check"
sources="src/*/*.[ch] include/ipcx/*.h tools/*.[ch] tests/*.[ch] fuzz/*.[ch]"
# shellcheck disable=SC2086 # the globs are meant to expand
if ! clang-format --dry-run --Werror $sources >/dev/null 2>&1; then
    clang-format --dry-run --Werror $sources 2>&1 | head -20
    echo "format check failed: run clang-format -i on the files above"
    status=1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
run asan "-DIPCX_SANITIZE=address" ""
run tsan "-DIPCX_SANITIZE=thread" "-L concurrency"
run fuzz "-DIPCX_FUZZ=ON -DIPCX_SANITIZE=address -DBUILD_TESTING=OFF \
    -DIPCX_FUZZ_SECONDS=${IPCX_FUZZ_SECONDS:-20}" "-L fuzz" clang
run normal "-DCMAKE_BUILD_TYPE=RelWithDebInfo" ""
exit $status
