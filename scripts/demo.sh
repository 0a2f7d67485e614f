#!/bin/sh
# Build ipcx and run its demonstration: the seeds' bounded-buffer
# producer-consumer as real processes through one mailbox.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh gcc make cmake
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec build/tools/ipcx demo "$@"
