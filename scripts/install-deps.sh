#!/usr/bin/env bash
# Installs the Debian packages SifStore needs to build and test, when any is
# missing. Safe to run again: it does nothing when all are present.
set -euo pipefail

packages=(
  cmake ninja-build g++ clang libclang-rt-14-dev pkg-config git python3
  libboost-program-options-dev
  libgtest-dev
  libyaml-cpp-dev nlohmann-json3-dev libssl-dev libsquashfs-dev
  squashfs-tools siftool debootstrap
  # librpm reads the RPM database of an image (static capture of [rpm]); rpm,
  # dnf and createrepo-c build the RPM repositories and roots the tests use.
  librpm-dev rpm dnf createrepo-c
  # db5.3_load writes the Berkeley DB rpm database the tests read with bdb_ro.
  db5.3-util
  # libcurl: the registry client that pins `Bootstrap: docker` bases (core/registry).
  libcurl4-openssl-dev
  # Registry tests only (tests/registry): a real OCI registry, skopeo to push and
  # pull, umoci to make and unpack test images, htpasswd for basic auth, and
  # busybox-static as the root filesystem of the test images.
  docker-registry skopeo umoci apache2-utils busybox-static
  # python3-jsonschema checks the SBOM output against the CycloneDX schemas.
  python3-jsonschema
)
# npm fetches the CycloneDX schemas (below). A machine whose Node.js comes
# from another source ships its own npm, which Debian's npm package conflicts
# with: install Debian's only when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "sifstore: installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The official CycloneDX JSON schemas, for the SBOM validation test
# (scripts/validate-cyclonedx.py): npm's @cyclonedx/cyclonedx-library ships
# them. Best effort: the test is skipped with a message without them.
cdx="${XDG_CACHE_HOME:-$HOME/.cache}/sifstore-cyclonedx"
if command -v npm >/dev/null 2>&1 &&
  [ ! -f "$cdx/node_modules/@cyclonedx/cyclonedx-library/res/schema/bom-1.5.SNAPSHOT.schema.json" ]; then
  mkdir -p "$cdx"
  (cd "$cdx" && npm install --silent --no-audit --no-fund @cyclonedx/cyclonedx-library) ||
    echo "sifstore: warning: could not fetch the CycloneDX schemas (npm); the SBOM schema test will be skipped"
fi

