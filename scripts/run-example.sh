#!/usr/bin/env bash
# Builds the example project (examples/) on a fresh Debian machine: installs
# the packages, builds and installs sifstore into build/example/prefix,
# configures examples/ with find_package(SifStore) and runs ninja, then ninja
# again, which must have nothing to do (else the script fails). Then shows
# each layer's builds and what its active lock records, and runs the
# application inside its image, printing its output.
#
# The layers are real Debian 12 images: the base is bootstrapped from the
# Debian mirror the machine's apt sources name, the others install Debian,
# pip and npm packages on top. Without Apptainer on PATH the example builds
# with SifStore's stand-in builder (tests/standin, as root: debootstrap and
# chroot), and says so. Run it again to see that an unchanged project builds
# nothing; edit examples/app/hello.py and run it again to see the app layer,
# and only it, rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD
build=$root_dir/build/example

scripts/install-deps.sh

echo "== building and installing sifstore into $build/prefix"
cmake -S . -B "$build/sifstore" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DSIFSTORE_BUILD_TESTS=OFF -DSIFSTORE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build/sifstore" -j2 --target sifstore
cmake --install "$build/sifstore" --prefix "$build/prefix" >/dev/null
sifstore=$build/prefix/bin/sifstore

echo "== configuring examples/ (find_package(SifStore) from $build/prefix)"
cmake -S examples -B "$build/project" -G Ninja -DCMAKE_PREFIX_PATH="$build/prefix"

echo "== ninja: builds the layers whose inputs changed"
ninja -C "$build/project"
echo "== ninja again: nothing changed"
second=$(ninja -C "$build/project" 2>&1) || {
  echo "$second"
  exit 1
}
echo "$second"
# Nothing but "ninja: no work to do." (after the directory Ninja enters).
if [ "$(grep -v '^ninja: Entering directory' <<<"$second")" != "ninja: no work to do." ]; then
  echo "run-example.sh: the second ninja did work: an unchanged project must build nothing" >&2
  exit 1
fi

store=$build/project/containers
for layer in base python app; do
  echo
  echo "== $layer: $store/$layer.sif -> $(readlink "$store/$layer.sif")"
  "$sifstore" --root "$store" list "$layer"
  lock=$store/$(readlink "$store/$layer.sif")
  lock=${lock%.sif}.lock
  # The lock's sections: [pip] name==version, [dpkg] name=version, [node] JSON.
  awk -v lock="$lock" '
    /^#/ || /^[[:space:]]*$/ { next }
    /^\[.*\]$/ { section = substr($0, 2, length($0) - 2); next }
    section == "node" && /"version"/ { count["node"]++; next }
    section == "pip" || section == "dpkg" { count[section]++ }
    END {
      printf "lock %s: %d dpkg, %d pip, %d node packages\n", lock,
        count["dpkg"], count["pip"], count["node"]
    }' "$lock"
done

echo
echo "== the application, run inside its image (ctest -V: the command and its output)"
ctest --test-dir "$build/project" -V
