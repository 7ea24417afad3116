#!/usr/bin/env bash
# Runs every SifStore test on a fresh Debian machine: installs the packages,
# then builds and tests each configuration once.
#   default   Debug build: unit, command-line, differential and end-to-end tests
#   sanitize  ASan+UBSan build: every test but the slow end-to-end ones
#   tsan      ThreadSanitizer build of the unit tests (the in-process
#             concurrency tests: threads sharing one store)
#   fuzz      clang libFuzzer targets, each for a bounded time
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

presets=(default sanitize tsan)
if [ -f tests/fuzz/CMakeLists.txt ]; then presets+=(fuzz); fi
for preset in "${presets[@]}"; do
  echo "== cmake --workflow --preset $preset"
  cmake --workflow --preset "$preset"
done
