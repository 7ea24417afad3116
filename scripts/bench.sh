#!/usr/bin/env bash
# Runs the SifStore benchmarks (docs/DESIGN.md#quality-bars) from a Release build. Each prints
# its figures and its ratios to baselines measured in the same run; none
# asserts. Run it on a quiet machine: the figures are times.
#
#   scripts/bench.sh [BUILD_DIR] [-- ARGS...]
#
# BUILD_DIR defaults to build/release (the `release` preset). ARGS go to
# every benchmark (e.g. -- --runs 11). Benchmarks are the executables that
# bench/CMakeLists.txt adds.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build/release
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi

mapfile -t benches < <(sed -n 's/^add_executable(\([A-Za-z0-9_]*\).*/\1/p' bench/CMakeLists.txt)
if [ ${#benches[@]} -eq 0 ]; then
  echo "bench.sh: no benchmarks in bench/CMakeLists.txt" >&2
  exit 1
fi

cmake --preset release -B "$build" >/dev/null
cmake --build "$build" --target sifstore "${benches[@]}"
for b in "${benches[@]}"; do
  echo
  echo "== $b"
  "$build/bench/$b" "$@"
done
