#!/usr/bin/env bash
# End-to-end tests of add_sif_layer() (cmake/SifStore.cmake): each case
# writes a small CMake project, configures it with the module, runs `ninja`
# and checks the store and what Ninja did. The builder is the stand-in
# (tests/standin/apptainer) or, where only timing or scale matters, a wrapper
# around it.
#
#   e2e.sh CASE     run by ctest (tests/e2e/CMakeLists.txt), which sets
#     SIFSTORE_EXE         the built sifstore
#     SIFSTORE_SOURCE_DIR  the SifStore sources (add_subdirectory, FetchContent)
#     SIFSTORE_BUILD_DIR   SifStore's build tree (its SifStoreConfig.cmake; cmake --install)
#     SIFSTORE_STANDIN     the stand-in builder
#     E2E_WORK             a scratch directory for this case (emptied first)
#     CMAKE, NINJA         the programs to run
#
# Cases: build_order incremental retain_clean standalone parallel errors
#        scale find_package add_subdirectory fetchcontent example interrupt products reuse
set -euo pipefail

case_name=${1:?usage: e2e.sh CASE}
: "${SIFSTORE_EXE:?}" "${SIFSTORE_SOURCE_DIR:?}" "${SIFSTORE_BUILD_DIR:?}"
: "${SIFSTORE_STANDIN:?}" "${E2E_WORK:?}"
CMAKE=${CMAKE:-cmake}
NINJA=${NINJA:-ninja}

rm -rf "$E2E_WORK"
mkdir -p "$E2E_WORK"
cd "$E2E_WORK"
proj=$E2E_WORK/proj
build=$proj/build
store=$build/containers

fail() {
  echo "FAIL ($case_name): $*" >&2
  exit 1
}
step() { echo "--- $*"; }

# --- the fixture project ---------------------------------------------------
#
#   base    scratch; %files files/motd.txt and the directory files/conf.d;
#           ARGS fill its {{ hello_version }}; RETAIN 2
#   mid     FROM base; BUILDER is a two-word command line with a blank in a word
#   top     FROM mid; VERIFY
#   other   scratch, independent; DEPENDS extra.txt; LAUNCHER logs its runs;
#           RETAIN 1
#   lazy    scratch (other.def), EXCLUDE_FROM_ALL

write_fixture() {
  mkdir -p "$proj/files/conf.d"
  echo "welcome" >"$proj/files/motd.txt"
  echo "a=1" >"$proj/files/conf.d/a.conf"
  echo "extra" >"$proj/extra.txt"
  cat >"$proj/base.def" <<'EOF'
Bootstrap: scratch

%files
    files/motd.txt /etc/motd
    files/conf.d /etc/example.d

%post
    apt-get install -y hello={{ hello_version }}
EOF
  cat >"$proj/mid.def" <<'EOF'
Bootstrap: localimage
From: base.sif

%post
    pip install six==1.16.0
EOF
  cat >"$proj/top.def" <<'EOF'
Bootstrap: localimage
From: mid.sif

%post
    pip install attrs==23.1.0
EOF
  cat >"$proj/other.def" <<'EOF'
Bootstrap: scratch

%post
    apt-get install -y curl=7.88.1-10
EOF
  cat >"$proj/launcher.sh" <<EOF
#!/bin/sh
echo "\$*" >>"$proj/launcher.log"
exec "\$@"
EOF
  chmod +x "$proj/launcher.sh"
}

# A copy of the SifStore sources (tracked and untracked, not ignored files)
# in $E2E_WORK/sifstore-src, so that edits in the checkout during the test
# do not reach it.
snapshot_sources() {
  local src=$E2E_WORK/sifstore-src
  mkdir -p "$src"
  if git -C "$SIFSTORE_SOURCE_DIR" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$SIFSTORE_SOURCE_DIR" && git ls-files -z --cached --others --exclude-standard |
      xargs -0 cp --parents -t "$src" 2>/dev/null) || true
  else  # an unpacked release: everything but build trees
    (cd "$SIFSTORE_SOURCE_DIR" && tar cf - --exclude='./build*' --exclude=./out .) | (cd "$src" && tar xf -)
  fi
  if [ ! -f "$src/CMakeLists.txt" ] || [ ! -f "$src/cmake/SifStore.cmake" ]; then
    fail "could not copy the sources"
  fi
}

# The lines that bring SifStore in, for each way of using it.
prologue() {
  case $1 in
    module) echo 'find_package(SifStore REQUIRED)' ;;
    install) echo 'find_package(SifStore 0.1 REQUIRED)' ;;
    subdir)
      echo "add_subdirectory(\"$E2E_WORK/sifstore-src\" sifstore)"
      echo 'include(SifStore)'
      ;;
    fetch)
      echo 'include(FetchContent)'
      echo "FetchContent_Declare(SifStore GIT_REPOSITORY \"file://$E2E_WORK/sifstore-src\" GIT_TAG main)"
      echo 'FetchContent_MakeAvailable(SifStore)'
      echo 'include(SifStore)'
      ;;
  esac
}

# Every layer has REBUILD: these cases touch inputs to see Ninja run a build
# and count the builds it made; reuse of a build of the same inputs (which
# would print "reused" instead) is case_reuse's.
fixture_layers() {
  cat <<EOF
set(SIFSTORE_BUILDER "$SIFSTORE_STANDIN")
add_sif_layer(base DEF base.def RETAIN 2 ARGS hello_version=2.10-3 REBUILD)
add_sif_layer(mid DEF mid.def FROM base REBUILD
  BUILDER env "SIFSTORE_STANDIN_VERSION=9.9 e2e" "$SIFSTORE_STANDIN")
add_sif_layer(top DEF top.def FROM mid VERIFY REBUILD)
add_sif_layer(other DEF other.def DEPENDS extra.txt LAUNCHER "$proj/launcher.sh" RETAIN 1 REBUILD)
add_sif_layer(lazy DEF other.def EXCLUDE_FROM_ALL REBUILD)
EOF
}

# write_project MODE [BODY]: the project's CMakeLists.txt (BODY defaults to
# the fixture's layers).
write_project() {
  local mode=$1 body=${2:-}
  [ -n "$body" ] || body=$(fixture_layers)
  {
    echo 'cmake_minimum_required(VERSION 3.20)'
    echo 'project(e2e LANGUAGES NONE)'
    prologue "$mode"
    echo "$body"
  } >"$proj/CMakeLists.txt"
}

configure() {
  local mode=$1
  shift
  local args=(-S "$proj" -B "$build" -G Ninja)
  case $mode in
    module) args+=(-DSifStore_DIR="$SIFSTORE_BUILD_DIR") ;;
    install) args+=(-DCMAKE_PREFIX_PATH="$E2E_WORK/prefix") ;;
    subdir | fetch) args+=(-DCMAKE_BUILD_TYPE=) ;;
  esac
  "$CMAKE" "${args[@]}" "$@" >"$E2E_WORK/configure.log" 2>&1 ||
    {
      cat "$E2E_WORK/configure.log"
      fail "configure failed"
    }
}

# run_ninja ARGS...: runs ninja in the build tree; its output is in $out.
out=""
run_ninja() {
  if ! out=$("$NINJA" -C "$build" "$@" 2>&1); then
    echo "$out"
    fail "ninja $* failed"
  fi
  echo "$out" | sed 's/^/  | /'
  echo "$out" | sed -n 's/^sifstore: built \([^:]*\):.*/\1/p' >>"$E2E_WORK/built.log"
}

# The layers a ninja run built, in the order they finished.
built() { echo "$out" | sed -n 's/^sifstore: built \(.*\)-[0-9]\{4\}-[0-9]\{4\}-[0-9]\{6\}:.*/\1/p' | xargs; }

expect_built() {
  local got
  got=$(built)
  [ "$got" = "$*" ] || fail "expected the builds '$*', ninja built '$got'"
}
# Same, in any order.
expect_built_set() {
  local got want
  got=$(built | tr ' ' '\n' | sort | xargs)
  want=$(echo "$@" | tr ' ' '\n' | sort | xargs)
  [ "$got" = "$want" ] || fail "expected the builds {$want}, ninja built {$got}"
}
expect_no_work() {
  [ "$(echo "$out" | tail -n 1)" = "ninja: no work to do." ] ||
    fail "expected 'ninja: no work to do.', got: $out"
  grep -q "Building SIF layer" <<<"$out" && fail "a no-op ninja built a layer"
  return 0
}
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
no_builds() {
  grep -q "Building SIF layer" <<<"$out" && fail "expected no build: $out"
  return 0
}

builds() { "$SIFSTORE_EXE" --root "$store" list "$1" --json | grep -c '"ts":' || true; }
active() { readlink "$store/$1.sif"; }
all_ts() { "$SIFSTORE_EXE" --root "$store" list "$1" --json | sed -n 's/.*"ts": "\(.*\)".*/\1/p'; }
# The builds of BASE that the builds of LAYER were built FROM (their locks say so).
pinned_by() { cat "$store/$1"/*.lock | sed -n "s|^# base-image: $store/$2/$2-\(.*\)\.sif\$|\1|p" | sort -u; }
newest_ts() { "$SIFSTORE_EXE" --root "$store" list "$1" --json | sed -n 's/.*"ts": "\(.*\)".*/\1/p' | head -n 1; }
# Every timestamped artifact of the store, with its size and mtime.
history() { (cd "$store" && find . -mindepth 2 -type f ! -name '.*' -printf '%p %s %T@\n' | sort); }
# Every stable pointer of the store and what it names.
pointers() { (cd "$store" && find . -maxdepth 1 -type l -printf '%p -> %l\n' | sort); }
# The pointer trio of each layer agrees, and `sifstore check` passes.
expect_store_sound() {
  local layer ts
  for layer in "$@"; do
    ts=$(active "$layer" | sed -n "s|^$layer/$layer-\(.*\)\.sif\$|\1|p")
    [ -n "$ts" ] || fail "$layer has no latest pointer naming a build: $(pointers)"
    [ "$(readlink "$store/$layer.lock")" = "$layer/$layer-$ts.lock" ] || fail "$layer.lock disagrees with $layer.sif"
    [ "$(readlink "$store/$layer.def")" = "$layer/$layer-$ts.def" ] || fail "$layer.def disagrees with $layer.sif"
    "$SIFSTORE_EXE" --root "$store" check "$layer" >/dev/null 2>&1 || fail "sifstore check $layer fails"
  done
  "$SIFSTORE_EXE" --root "$store" fsck | grep -i pointer && fail "fsck finds pointer problems"
  return 0
}

expect_counts() {  # expect_counts base=N mid=N ...
  local pair
  for pair in "$@"; do
    local layer=${pair%=*} want=${pair#*=} got
    got=$(builds "$layer")
    [ "$got" = "$want" ] || fail "$layer: expected $want builds, found $got"
  done
}

# The usual start: the fixture, configured in MODE and built once.
start() {
  local mode=${1:-module}
  write_fixture
  write_project "$mode"
  configure "$mode"
  step "first build"
  run_ninja
}

# --- cases -----------------------------------------------------------------

case_build_order() {
  start module
  # base before mid before top; other anywhere.
  local order
  order=$(built | tr ' ' '\n' | grep -v '^other$' | xargs)
  [ "$order" = "base mid top" ] || fail "dependency order: built '$order'"
  expect_built_set base mid top other
  expect_counts base=1 mid=1 top=1 other=1
  # Each FROM build started from the base's active build, and says so.
  grep -q "^# base-image: $store/base/base-$(newest_ts base).sif\$" "$store/$(active mid | sed 's/\.sif$/.lock/')" ||
    fail "mid's lock does not name base's build"
  grep -q "^# base-image: $store/mid/mid-$(newest_ts mid).sif\$" "$store/$(active top | sed 's/\.sif$/.lock/')" ||
    fail "top's lock does not name mid's build"
  # ARGS were rendered and recorded, BUILDER's words survived the trip.
  grep -q '^hello=2.10-3$' "$store/$(active base | sed 's/\.sif$/.lock/')" || fail "ARGS not applied"
  grep -q '^# build-args: {"hello_version":"2.10-3"}$' "$store/$(active base | sed 's/\.sif$/.lock/')" ||
    fail "ARGS not recorded in the lock"
  grep -q '^# builder-version: apptainer version 9.9 e2e$' "$store/$(active mid | sed 's/\.sif$/.lock/')" ||
    fail "BUILDER with a blank in a word did not reach sifstore intact"
  # VERIFY ran the round trip; the LAUNCHER ran other's build, once.
  [ -f "$store/$(active top | sed 's/\.sif$/.verified/')" ] || fail "VERIFY: top is not marked verified"
  [ "$(grep -c " build other " "$proj/launcher.log")" = 1 ] || fail "LAUNCHER did not run other's build once"
  grep -q " build base " "$proj/launcher.log" && fail "LAUNCHER ran another layer's build"
  # The registered output is the stamp; the three stable pointers are phony
  # outputs of it (Ninja never runs, interrupts or cleans a phony edge).
  local ext
  for ext in sif lock def; do
    [ "$(readlink "$store/top.$ext")" = "top/top-$(newest_ts top).$ext" ] || fail "top.$ext does not name the newest build"
    grep -q "input: phony" <<<"$("$NINJA" -C "$build" -t query containers/top.$ext)" ||
      fail "containers/top.$ext is not a phony output"
  done
  grep -q "input: CUSTOM_COMMAND" <<<"$("$NINJA" -C "$build" -t query CMakeFiles/sifstore/top.stamp)" ||
    fail "the stamp is not the output of the build command"
  grep -q "^sifstore: built top-$(newest_ts top): " "$build/CMakeFiles/sifstore/top.stamp" ||
    fail "the stamp does not name the build"

  step "second ninja"
  run_ninja
  expect_no_work

  step "EXCLUDE_FROM_ALL: lazy is built on request only"
  expect_counts lazy=0
  run_ninja sif-lazy
  expect_built lazy

  step "ninja sif-mid builds nothing when up to date; a fresh tree builds only mid's chain"
  run_ninja sif-mid
  no_builds
  rm -rf "$store" "$build"
  configure module
  run_ninja sif-mid
  expect_built base mid
}

case_incremental() {
  start module
  step "touch a %files source of base: base and the layers FROM it"
  touch "$proj/files/motd.txt"
  run_ninja
  expect_built base mid top
  run_ninja
  expect_no_work

  step "a new file in a %files directory of base"
  echo "b=2" >"$proj/files/conf.d/b.conf"
  run_ninja
  expect_built base mid top

  step "touch mid.def: mid and top"
  touch "$proj/mid.def"
  run_ninja
  expect_built mid top

  step "edit top.def: top only"
  echo "    pip install six==1.16.0" >>"$proj/top.def"
  run_ninja
  expect_built top

  step "touch a DEPENDS file of other: other only"
  touch "$proj/extra.txt"
  run_ninja
  expect_built other
  run_ninja
  expect_no_work
  expect_counts base=3 mid=4 top=5 other=2

  step "re-running CMake (CMakeLists.txt touched) builds no layer"
  touch "$proj/CMakeLists.txt"
  run_ninja
  grep -q "Re-running CMake" <<<"$out" || fail "CMake did not re-run"
  no_builds

  step "a failing build: ninja fails, latest stays, the next ninja tries again"
  local before
  before=$(active top)
  cp "$proj/top.def" "$proj/top.def.good"
  echo "    standin-fail 3" >>"$proj/top.def"
  local i
  for i in 1 2; do
    if out=$("$NINJA" -C "$build" 2>&1); then
      fail "ninja succeeded with a failing build: $out"
    fi
    echo "$out" | sed 's/^/  | /'
    grep -q "sifstore: error: build of top failed: .* (log: $store/top/top-.*\.build\.log)" <<<"$out" ||
      fail "the failure does not name the build log"
    [ "$(active top)" = "$before" ] || fail "a failed build moved top's latest"
  done
  mv "$proj/top.def.good" "$proj/top.def"
  run_ninja
  expect_built top
  run_ninja
  expect_no_work
}

case_retain_clean() {
  start module
  step "RETAIN 2: the active build, the two newest others, and those a kept mid build was FROM"
  local i
  for i in 1 2 3 4; do
    touch "$proj/files/motd.txt"
    run_ninja sif-base
    expect_built base
  done
  # Prune's rule, from every base build ninja made: the active build and
  # those a mid build was FROM are kept and not counted; of the others the
  # two newest stay.
  expect_kept_base() {
    local want="" got ts count=0 active_ts pinned
    active_ts=$(active base | sed 's|^base/base-\(.*\)\.sif$|\1|')
    pinned=$(pinned_by mid base)
    for ts in $(sed -n 's/^base-//p' "$E2E_WORK/built.log" | sort -r); do
      if [ "$ts" = "$active_ts" ] || grep -qx "$ts" <<<"$pinned"; then
        want+=" $ts"
      elif [ $count -lt 2 ]; then
        want+=" $ts"
        count=$((count + 1))
      fi
    done
    want=$(echo "$want" | tr ' ' '\n' | sort | xargs)
    got=$(all_ts base | sort | xargs)
    [ "$got" = "$want" ] || fail "base keeps {$got}, expected {$want}"
    echo "  base keeps $(echo "$got" | wc -w) builds: $got"
  }
  expect_counts base=4 mid=1  # the first base build is what mid was built FROM
  expect_kept_base
  [ "$(active base)" = "base/base-$(newest_ts base).sif" ] || fail "base's latest is not its newest build"

  step "ninja clean keeps every timestamped build"
  run_ninja  # mid, top on the newest base
  local before after before_pointers
  before=$(history)
  before_pointers=$(pointers)
  for layer in base mid top other; do
    [ "$(active $layer)" = "$layer/$layer-$(newest_ts $layer).sif" ] || fail "$layer not pointed at its newest build"
  done
  run_ninja clean
  after=$(history)
  [ "$before" = "$after" ] || fail "ninja clean changed the history: $(diff <(echo "$before") <(echo "$after"))"
  local n
  n=$(echo "$before" | grep -c '\.sif ')
  echo "  $n timestamped SIFs kept"
  # It removes the stamps (Ninja's outputs), never a pointer.
  [ "$before_pointers" = "$(pointers)" ] || fail "ninja clean moved or removed pointers: $(pointers)"
  for layer in base mid top other; do
    [ -e "$build/CMakeFiles/sifstore/$layer.stamp" ] && fail "ninja clean left $layer's stamp"
  done
  "$SIFSTORE_EXE" --root "$store" check top >/dev/null || fail "check fails after ninja clean"

  step "sif-point-latest does nothing: the pointers are there"
  run_ninja sif-point-latest
  no_builds
  [ "$before_pointers" = "$(pointers)" ] || fail "sif-point-latest moved pointers"
  step "after clean the next ninja builds every layer again, history intact"
  run_ninja
  expect_built_set base mid top other
  expect_counts mid=3 top=3 other=2
  expect_kept_base
  after=$(history)
  echo "$before" | while read -r line; do
    case $line in
      ./base/* | ./other/*) ;;  # pruned by RETAIN
      *) grep -qxF "$line" <<<"$after" || fail "lost after clean and rebuild: $line" ;;
    esac
  done
}

case_standalone() {
  start module
  touch "$proj/files/motd.txt"
  run_ninja
  touch "$proj/files/motd.txt"
  run_ninja
  expect_counts base=3 mid=3 top=3

  step "sif-other-prune prunes to RETAIN without building"
  other_build() {
    "$SIFSTORE_EXE" --root "$store" build other --def "$proj/other.def" --retain 10 -q \
      --builder "$SIFSTORE_STANDIN" --rebuild >/dev/null
  }
  other_build
  other_build
  expect_counts other=3
  run_ninja sif-other-prune
  no_builds
  expect_counts other=2

  step "sif-prune prunes every layer (config.yaml retain 1 for layers without RETAIN)"
  other_build
  printf 'images:\n  retain: 1\n' >"$store/config.yaml"
  run_ninja sif-prune
  no_builds
  # top: the active build and one more. mid: the active build, the one top's
  # second build was FROM (kept like a GC root, not counted), and one more.
  # base: RETAIN 2 wins over config.yaml. other: RETAIN 1.
  expect_counts base=3 mid=3 top=2 other=2

  step "sif-base-point-latest points at the newest build without building"
  local newest
  newest=$(newest_ts base)
  "$SIFSTORE_EXE" --root "$store" rollback base >/dev/null
  [ "$(active base)" != "base/base-$newest.sif" ] || fail "rollback did not move base"
  run_ninja sif-base-point-latest
  no_builds
  [ "$(active base)" = "base/base-$newest.sif" ] || fail "sif-base-point-latest: base -> $(active base)"
  run_ninja sif-base-point-latest
  grep -q "already names the newest build" <<<"$out" || fail "second point-latest should do nothing"

  step "sif-list shows every layer's builds"
  run_ninja sif-list
  for layer in base mid top other; do
    grep -q "^$layer ($store/$layer.sif):" <<<"$out" || fail "sif-list: no $layer"
    grep -q "^\*  $(newest_ts $layer)" <<<"$out" || fail "sif-list: $layer's active build not shown"
  done

  step "sif-verify verifies every layer's active build"
  run_ninja sif-verify
  for layer in base mid top other; do
    [ -f "$store/$(active $layer | sed 's/\.sif$/.verified/')" ] || fail "sif-verify: $layer not verified"
  done
}

# Two independent layers whose builds take a second each; a builder wrapper
# records when each build starts and ends.
case_parallel() {
  mkdir -p "$proj"
  for layer in p1 p2; do
    printf 'Bootstrap: scratch\n\n%%post\n    apt-get install -y hello=2.10-3\n' >"$proj/$layer.def"
  done
  cat >"$proj/timed-builder" <<EOF
#!/bin/sh
# Logs "<layer> <start> <end>" for each build, then answers as the stand-in.
if [ "\$1" = build ]; then
  for last; do :; done
  layer=\$(basename "\$(dirname "\$last")")
  start=\$(date +%s.%N)
  SIFSTORE_STANDIN_HANG=1 "$SIFSTORE_STANDIN" "\$@"
  status=\$?
  echo "\$layer \$start \$(date +%s.%N)" >>"$proj/intervals.log"
  exit \$status
fi
exec "$SIFSTORE_STANDIN" "\$@"
EOF
  chmod +x "$proj/timed-builder"
  # Did the builds of p1 and p2 overlap in time?
  overlapped() {
    awk '{ s[NR] = $2; e[NR] = $3 } END { exit !(NR == 2 && s[1] < e[2] && s[2] < e[1]) }' "$proj/intervals.log"
  }
  run_both() {
    rm -f "$proj/intervals.log"
    touch "$proj/p1.def" "$proj/p2.def"
    run_ninja -j2
    expect_built_set p1 p2
    sed 's/^/  interval: /' "$proj/intervals.log"
  }

  step "-j2: two layers build at the same time"
  write_project module "set(SIFSTORE_BUILDER \"$proj/timed-builder\")
add_sif_layer(p1 DEF p1.def REBUILD)
add_sif_layer(p2 DEF p2.def REBUILD)"
  configure module
  run_both
  overlapped || fail "the builds of p1 and p2 did not overlap under -j2"

  step "-j2 with a JOB_POOL of 1: one at a time"
  write_project module "set(SIFSTORE_BUILDER \"$proj/timed-builder\")
set_property(GLOBAL APPEND PROPERTY JOB_POOLS one_image=1)
add_sif_layer(p1 DEF p1.def JOB_POOL one_image REBUILD)
add_sif_layer(p2 DEF p2.def JOB_POOL one_image REBUILD)"
  configure module
  run_both
  overlapped && fail "JOB_POOL one_image=1 let p1 and p2 build at the same time"

  step "SIFSTORE_USES_TERMINAL: the builder's output streams, one build at a time"
  write_project module "set(SIFSTORE_BUILDER \"$proj/timed-builder\")
set(SIFSTORE_USES_TERMINAL ON)
add_sif_layer(p1 DEF p1.def REBUILD)
add_sif_layer(p2 DEF p2.def REBUILD)"
  configure module
  run_both
  overlapped && fail "console pool builds overlapped"
  grep -q "INFO:    Starting build" <<<"$out" || fail "the builder's output did not reach the terminal"
  return 0
}

# Ctrl-C, a kill and a dropped session while builds run: Ninja deletes the
# outputs of a command it interrupts (it has a depfile), and those are only
# stamps. slow and other build at once (-j2), each builder holding until the
# test lets it go or ninja interrupts it; waits is built FROM slow and waits
# on it.
case_interrupt() {
  mkdir -p "$proj"
  printf 'Bootstrap: scratch\n\n%%post\n    apt-get install -y hello=2.10-3\n' >"$proj/slow.def"
  printf 'Bootstrap: scratch\n\n%%post\n    apt-get install -y curl=7.88.1-10\n' >"$proj/other.def"
  printf 'Bootstrap: localimage\nFrom: slow.sif\n\n%%post\n    pip install six==1.16.0\n' >"$proj/waits.def"
  cat >"$proj/held-builder" <<EOF
#!/bin/sh
# While $proj/hold exists, a build says it started and waits (up to 60 s).
if [ "\$1" = build ] && [ -e "$proj/hold" ]; then
  for last; do :; done
  layer=\$(basename "\$(dirname "\$last")")
  touch "$proj/running.\$layer"
  i=0
  while [ -e "$proj/hold" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
fi
exec "$SIFSTORE_STANDIN" "\$@"
EOF
  chmod +x "$proj/held-builder"
  write_project module "set(SIFSTORE_BUILDER \"$proj/held-builder\")
add_sif_layer(slow DEF slow.def REBUILD)
add_sif_layer(other DEF other.def REBUILD)
add_sif_layer(waits DEF waits.def FROM slow REBUILD)"
  configure module
  step "first build"
  run_ninja
  expect_built_set slow other waits
  touch "$proj/slow.def" "$proj/other.def"
  run_ninja
  expect_built_set slow other waits
  expect_store_sound slow other waits

  # interrupted SIGNAL LAYERS...: ninja -j2 runs until the builders of
  # LAYERS have started, gets SIGNAL, and stops; nothing was published.
  interrupted() {
    local sig=$1 layer pid status i
    shift
    rm -f "$proj"/running.*
    touch "$proj/hold"
    # A background job of a script ignores SIGINT; ninja and the builds get
    # the default dispositions back.
    env --default-signal=INT,TERM,HUP "$NINJA" -C "$build" -j2 >"$E2E_WORK/ninja.log" 2>&1 &
    pid=$!
    for layer in "$@"; do
      for i in $(seq 600); do
        [ -e "$proj/running.$layer" ] && break
        sleep 0.1
      done
      [ -e "$proj/running.$layer" ] || fail "the build of $layer did not start: $(cat "$E2E_WORK/ninja.log")"
    done
    kill -s "$sig" "$pid"
    status=0
    wait "$pid" || status=$?
    rm -f "$proj/hold"
    sed 's/^/  | /' "$E2E_WORK/ninja.log"
    [ "$status" != 0 ] || fail "ninja was not interrupted by SIG$sig"
    grep -q "interrupted" "$E2E_WORK/ninja.log" || fail "ninja did not say it was interrupted"
    grep -q "^sifstore: built" "$E2E_WORK/ninja.log" && fail "a build was published"
    return 0
  }

  local sig before
  for sig in INT TERM HUP; do
    step "SIG$sig while slow and other build and waits waits on slow"
    touch "$proj/slow.def" "$proj/other.def"
    before=$(pointers)
    interrupted "$sig" slow other
    [ "$(pointers)" = "$before" ] || fail "SIG$sig moved pointers:
$before
->
$(pointers)"
    expect_store_sound slow other waits
    [ -e "$build/CMakeFiles/sifstore/slow.stamp" ] && fail "the interrupted build's stamp is left"
  done
  step "the next ninja builds what is missing, then nothing"
  run_ninja -j2
  expect_built_set slow other waits
  expect_store_sound slow other waits
  run_ninja
  expect_no_work

  step "after a rollback, an interrupted rebuild leaves the rolled-back pointer"
  "$SIFSTORE_EXE" --root "$store" rollback slow >/dev/null
  "$SIFSTORE_EXE" --root "$store" rollback other >/dev/null
  expect_store_sound slow other waits
  before=$(pointers)
  [ "$(active slow)" != "slow/slow-$(newest_ts slow).sif" ] || fail "rollback did not move slow"
  touch "$proj/slow.def" "$proj/other.def"
  interrupted INT slow other
  [ "$(pointers)" = "$before" ] || fail "an interrupted rebuild moved the rolled-back pointers"
  expect_store_sound slow other waits

  step "SIGINT at other points of the builds: every pointer trio names a whole build"
  local n delay
  for n in 1 2 3 4 5 6 7 8; do
    touch "$proj/slow.def" "$proj/other.def"
    delay=$(awk -v n=$n 'BEGIN { printf "%.2f", n * 0.25 }')
    env --default-signal=INT,TERM,HUP "$NINJA" -C "$build" -j2 >"$E2E_WORK/ninja.log" 2>&1 &
    sleep "$delay"
    kill -s INT $! 2>/dev/null || true
    wait $! || true
    echo "  after ${delay} s: $(grep -c '^sifstore: built' "$E2E_WORK/ninja.log") builds published"
    expect_store_sound slow other waits
  done
  run_ninja -j2
  expect_store_sound slow other waits
  run_ninja
  expect_no_work
}

# A rule that reads a layer's lock through $<TARGET_PROPERTY:...,SIFSTORE_LOCK>
# (listed in its DEPENDS): it reruns when the layer is rebuilt, not otherwise.
# install_sif_layer(): `cmake --install` puts each image with its lock and
# locked def in the prefix, as regular files.
case_products() {
  write_fixture
  write_project module "$(fixture_layers)
add_custom_command(OUTPUT top-packages.txt
  COMMAND \"\${CMAKE_COMMAND}\" -E copy \$<TARGET_PROPERTY:sif-top,SIFSTORE_LOCK> top-packages.txt
  COMMAND \"\${CMAKE_COMMAND}\" -E echo \"uses \$<TARGET_PROPERTY:sif-top,SIFSTORE_DEF>\"
  DEPENDS \$<TARGET_PROPERTY:sif-top,SIFSTORE_LOCK>
  COMMENT \"Reading the lock of top\"
  VERBATIM)
add_custom_target(report ALL DEPENDS top-packages.txt)
file(GENERATE OUTPUT properties.txt CONTENT \"\$<TARGET_PROPERTY:sif-mid,SIFSTORE_IMAGE>
\$<TARGET_PROPERTY:sif-mid,SIFSTORE_LOCK>
\$<TARGET_PROPERTY:sif-mid,SIFSTORE_DEF>
\$<TARGET_PROPERTY:sif-mid,SIFSTORE_STAMP>
\")
install_sif_layer(base DESTINATION share/images)
install_sif_layer(mid DESTINATION share/images COMPONENT images)
install_sif_layer(top DESTINATION \"$E2E_WORK/absolute dest\")"
  configure module
  [ "$(cat "$build/properties.txt")" = "$store/mid.sif
$store/mid.lock
$store/mid.def
$build/CMakeFiles/sifstore/mid.stamp" ] || fail "target properties: $(cat "$build/properties.txt")"

  step "first build: the rule runs after top"
  run_ninja
  grep -q "Reading the lock of top" <<<"$out" || fail "the rule did not run"
  cmp -s "$build/top-packages.txt" "$store/$(active top | sed 's/\.sif$/.lock/')" || fail "the rule read another lock"
  run_ninja
  expect_no_work

  step "other rebuilt: the rule does not run"
  touch "$proj/extra.txt"
  run_ninja
  expect_built other
  grep -q "Reading the lock of top" <<<"$out" && fail "the rule ran though top was not rebuilt"

  step "top rebuilt (through its base): the rule runs and reads the new lock"
  touch "$proj/mid.def"
  run_ninja
  expect_built mid top
  grep -q "Reading the lock of top" <<<"$out" || fail "the rule did not run after top was rebuilt"
  cmp -s "$build/top-packages.txt" "$store/top/top-$(newest_ts top).lock" || fail "the rule read an old lock"
  run_ninja
  expect_no_work

  step "cmake --install: each image with its lock and locked def, regular files"
  local prefix=$E2E_WORK/prefix layer ext dir
  "$CMAKE" --install "$build" --prefix "$prefix" >"$E2E_WORK/install.log" 2>&1 || {
    cat "$E2E_WORK/install.log"
    fail "cmake --install failed"
  }
  sed 's/^/  | /' "$E2E_WORK/install.log"
  for layer in base mid top; do
    dir=$prefix/share/images
    [ $layer = top ] && dir="$E2E_WORK/absolute dest"
    for ext in sif lock def; do
      [ -f "$dir/$layer.$ext" ] && [ ! -L "$dir/$layer.$ext" ] || fail "no regular file $dir/$layer.$ext"
      cmp -s "$dir/$layer.$ext" "$store/$layer/$layer-$(newest_ts $layer).$ext" ||
        fail "$dir/$layer.$ext is not the active build's"
    done
  done
  grep -qx "$prefix/share/images/mid.lock" "$build/install_manifest.txt" || fail "not in the install manifest"

  step "a component, and DESTDIR"
  rm -rf "$E2E_WORK/dd"
  DESTDIR=$E2E_WORK/dd "$CMAKE" --install "$build" --prefix /opt/e2e --component images >/dev/null
  [ "$(cd "$E2E_WORK/dd" && find . -type f | sort | xargs)" = "./opt/e2e/share/images/mid.def ./opt/e2e/share/images/mid.lock ./opt/e2e/share/images/mid.sif" ] ||
    fail "component images under DESTDIR: $(cd "$E2E_WORK/dd" && find . | xargs)"

  step "after a rollback, the install ships the rolled-back build"
  "$SIFSTORE_EXE" --root "$store" rollback top >/dev/null
  "$CMAKE" --install "$build" --prefix "$prefix" >/dev/null
  cmp -s "$E2E_WORK/absolute dest/top.lock" "$store/$(active top | sed 's/\.sif$/.lock/')" ||
    fail "install did not follow the rollback"

  step "install of a layer without a latest pointer fails, naming what to do"
  rm -f "$store/base.sif"
  if "$CMAKE" --install "$build" --prefix "$prefix" >"$E2E_WORK/install.log" 2>&1; then
    fail "install without base.sif succeeded"
  fi
  grep -q "install_sif_layer(base): .*base.sif is not a latest pointer" <<<"$(tr -s ' \n' ' ' <"$E2E_WORK/install.log")" ||
    fail "unexpected install error: $(cat "$E2E_WORK/install.log")"

  step "bad install_sif_layer() calls fail at configure time"
  local body want
  while IFS='|' read -r body want; do
    write_project module "$(fixture_layers)
$body"
    if "$CMAKE" -S "$proj" -B "$build" >"$E2E_WORK/configure.log" 2>&1; then
      fail "configure accepted: $body"
    fi
    grep -qF -- "$want" <<<"$(tr -s ' \n' ' ' <"$E2E_WORK/configure.log")" ||
      fail "configure of '$body' did not say: $want: $(cat "$E2E_WORK/configure.log")"
    echo "  ok: $want"
  done <<'EOF'
install_sif_layer(nope DESTINATION share)|install_sif_layer(nope): layer 'nope' is not declared
install_sif_layer(base)|install_sif_layer(base): DESTINATION <dir> is required
install_sif_layer(base DESTINATION)|install_sif_layer(base): DESTINATION needs a value
install_sif_layer(base DESTINATION share EXTRA)|install_sif_layer(base): unknown argument(s): EXTRA
EOF
}

# Each bad call must fail at configure time with a message naming the argument.
case_errors() {
  write_fixture
  local n=0
  bad() {  # bad EXPECTED-MESSAGE CMAKE-BODY
    local want=$1 body=$2
    n=$((n + 1))
    write_project module "set(SIFSTORE_BUILDER \"$SIFSTORE_STANDIN\")
$body"
    rm -rf "$build"
    if "$CMAKE" -S "$proj" -B "$build" -G Ninja -DSifStore_DIR="$SIFSTORE_BUILD_DIR" \
      >"$E2E_WORK/configure.log" 2>&1; then
      fail "configure accepted: $body"
    fi
    # CMake wraps long messages: compare with the line breaks and indentation removed.
    grep -qF -- "$want" <<<"$(tr -s ' \n' ' ' <"$E2E_WORK/configure.log")" || {
      cat "$E2E_WORK/configure.log"
      fail "configure of '$body' did not say: $want"
    }
    echo "  ok: $want"
  }
  bad "add_sif_layer(base): DEF <file.def> is required" 'add_sif_layer(base)'
  bad "add_sif_layer(base): DEF needs a value" 'add_sif_layer(base DEF)'
  bad "add_sif_layer(base): DEF file not found: $proj/nope.def" 'add_sif_layer(base DEF nope.def)'
  bad "add_sif_layer(base): DEF file not found: $proj/files" 'add_sif_layer(base DEF files)'
  bad "add_sif_layer(base): RETAIN must be a non-negative integer, got '-1'" 'add_sif_layer(base DEF base.def RETAIN -1)'
  bad "add_sif_layer(base): RETAIN must be a non-negative integer, got 'two'" 'add_sif_layer(base DEF base.def RETAIN two)'
  bad "add_sif_layer(base): ARGS takes <key>=<value> (key: letters, digits, _ as in {{ key }}), not '--fakeroot'" \
    'add_sif_layer(base DEF base.def ARGS --fakeroot)'
  bad "add_sif_layer(base): ARGS takes <key>=<value> (key: letters, digits, _ as in {{ key }}), not 'a-b=1'" \
    'add_sif_layer(base DEF base.def ARGS a-b=1)'
  bad "add_sif_layer(base): unknown argument(s): DEFS base.def" 'add_sif_layer(base DEFS base.def)'
  bad "add_sif_layer(base): unknown argument(s): VERIFIED" 'add_sif_layer(base DEF base.def VERIFIED)'
  bad "add_sif_layer: the first argument is the layer name, not the keyword DEF" 'add_sif_layer(DEF base.def)'
  bad "add_sif_layer(-base): invalid layer name '-base'" 'add_sif_layer(-base DEF base.def)'
  bad "add_sif_layer(a/b): invalid layer name 'a/b'" 'add_sif_layer(a/b DEF base.def)'
  # A layer name ending in a store file's suffix (layer x.sif would be where
  # layer x has its pointer).
  local suffix
  for suffix in .sif .lock .def .verified .unverified .keep .build.log .rough.def; do
    bad "add_sif_layer(x$suffix): invalid layer name 'x$suffix': it ends in '${suffix/.rough/}'" \
      "add_sif_layer(x$suffix DEF base.def)"
  done
  bad "add_sif_layer(base): RETAIN 99999999999999999999 is out of range (0 to 2147483647)" 'add_sif_layer(base DEF base.def RETAIN 99999999999999999999)'
  bad "add_sif_layer(prune): the layer name 'prune' is taken by the target sif-prune" 'add_sif_layer(prune DEF base.def)'
  bad "add_sif_layer(base): KEYIDX goes with SIGN" 'add_sif_layer(base DEF base.def KEYIDX 1)'
  bad "add_sif_layer(base): KEYIDX must be a non-negative integer, got 'x'" 'add_sif_layer(base DEF base.def SIGN KEYIDX x)'
  bad "add_sif_layer(base): layer 'base' is already declared" 'add_sif_layer(base DEF base.def)
add_sif_layer(base DEF base.def)'
  bad "add_sif_layer(mid): FROM names layer 'nope', which is not declared" 'add_sif_layer(mid DEF mid.def FROM nope)'
  bad "add_sif_layer(mid): FROM names layer 'base', which is not declared: declare it with add_sif_layer(base ...) before" \
    'add_sif_layer(mid DEF mid.def FROM base)
add_sif_layer(base DEF base.def)'
  bad "add_sif_layer(mid): FROM names the layer itself" 'add_sif_layer(mid DEF mid.def FROM mid)'
  bad "add_sif_layer(other2): with FROM, the DEF must say \`Bootstrap: localimage\`" 'add_sif_layer(base DEF base.def)
add_sif_layer(other2 DEF other.def FROM base)'
  bad "add_sif_layer(mid): FROM layer 'base' is in ROOT $build/containers, this layer in ROOT $build/elsewhere" \
    'add_sif_layer(base DEF base.def)
add_sif_layer(mid DEF mid.def FROM base ROOT elsewhere)'
  bad "add_sif_layer(base) in $proj/CMakeLists.txt: JOB_POOL 'nopool' is not defined" 'add_sif_layer(base DEF base.def JOB_POOL nopool)'
  # A single-value keyword without a value, or with an empty string, would
  # mean its default. (A list keyword may be empty: see below.)
  local kw
  for kw in ROOT FROM RETAIN JOB_POOL KEYIDX; do
    bad "add_sif_layer(base): $kw needs a value" "add_sif_layer(base DEF base.def $kw)"
    bad "add_sif_layer(base): $kw needs a value" "add_sif_layer(base DEF base.def $kw VERIFY)"
    bad "add_sif_layer(base): $kw needs a value" "add_sif_layer(base DEF base.def $kw \${unset_variable} VERIFY)"
    bad "add_sif_layer(base): $kw needs a value, not an empty string" "add_sif_layer(base DEF base.def $kw \"\")"
    bad "add_sif_layer(base): $kw needs a value, not an empty string" \
      "add_sif_layer(base DEF base.def $kw \"\${unset_variable}\" VERIFY)"
    bad "add_sif_layer(base): $kw needs a value, not an empty string" \
      "add_sif_layer(base DEF base.def $kw \"\" BUILD_ARGS \${unset_variable})"
  done
  bad "add_sif_layer(base): DEF needs a value" 'add_sif_layer(base DEF)'
  bad "add_sif_layer(base): DEF needs a value" 'add_sif_layer(base DEF ${unset_variable} VERIFY)'
  bad "add_sif_layer(base): DEF needs a value, not an empty string" 'add_sif_layer(base DEF "")'
  bad 'add_sif_layer(base): unknown argument(s): "" (the keywords are' 'add_sif_layer(base "" DEF base.def)'
  bad 'add_sif_layer(base): unknown argument(s): REBUILT (the keywords are DEF ROOT FROM DEPENDS RETAIN VERIFY EXCLUDE_FROM_ALL BUILDER ARGS BUILD_ARGS LAUNCHER JOB_POOL TAKE_OVER REBUILD SIGN KEYIDX)' 'add_sif_layer(base DEF base.def REBUILT)'
  bad 'add_sif_layer(base): unknown argument(s): "" (the keywords are' 'add_sif_layer(base DEF base.def "")'
  # A single-value keyword given twice: the last would win.
  for kw in DEF ROOT RETAIN JOB_POOL; do
    bad "add_sif_layer(base): $kw is given more than once" "add_sif_layer(base DEF base.def $kw 1 $kw 2)"
  done
  bad "add_sif_layer(mid): FROM is given more than once" 'add_sif_layer(base DEF base.def)
add_sif_layer(mid DEF mid.def FROM base FROM base)'
  # A list keyword with an empty list does not hide an error after it.
  bad "add_sif_layer(base): unknown argument(s): VERIFIED" \
    'add_sif_layer(base DEF base.def VERIFIED BUILD_ARGS ${unset_variable})'
  bad "add_sif_layer(base): FROM needs a value" 'add_sif_layer(base DEF base.def BUILD_ARGS ${unset_variable} FROM)'
  bad "add_sif_layer(base): RETAIN needs a value" 'add_sif_layer(base DEF base.def DEPENDS "" RETAIN)'
  echo "  $n bad calls refused at configure time"

  step "a list keyword given an empty list is the same as leaving it out"
  local empty base_build
  for kw in DEPENDS BUILDER ARGS BUILD_ARGS LAUNCHER; do
    for empty in "$kw" "$kw \${unset_variable}" "$kw \"\"" "$kw \"\${unset_variable}\"" "$kw \"\" \"\"" \
      "$kw \${unset_variable} VERIFY"; do
      write_project module "set(SIFSTORE_BUILDER \"$SIFSTORE_STANDIN\")
set(SIFSTORE_LAUNCHER \"$proj/launcher.sh\")
add_sif_layer(base DEF base.def $empty)"
      rm -rf "$build"
      configure module
      base_build=$(grep -- " build base " "$build/build.ninja") || fail "$empty: no build command for base"
      # The defaults: the project's builder and launcher, no --build-arg or --builder-arg.
      grep -qF -- "--builder=$SIFSTORE_STANDIN " <<<"$base_build" ||
        fail "$empty: base's build does not use SIFSTORE_BUILDER: $base_build"
      grep -qF -- "$proj/launcher.sh " <<<"$base_build" ||
        fail "$empty: base's build does not use SIFSTORE_LAUNCHER: $base_build"
      if grep -qE -- "--build(er)?-arg" <<<"$base_build"; then
        fail "$empty: base's build has a --build-arg or --builder-arg: $base_build"
      fi
      echo "  ok: add_sif_layer(base DEF base.def $empty)"
    done
  done
  step "empty strings in a list are dropped, the other words kept"
  write_project module "set(SIFSTORE_BUILDER \"$SIFSTORE_STANDIN\")
add_sif_layer(base DEF base.def BUILD_ARGS \"\" --fakeroot \"\${unset_variable}\" DEPENDS \"\" extra.txt
  ARGS \"\" hello_version=1 \"\")"
  rm -rf "$build"
  configure module
  base_build=$(grep -- " build base " "$build/build.ninja") || fail "no build command for base"
  grep -qF -- "--builder-arg=--fakeroot " <<<"$base_build" || fail "base's build lacks --fakeroot: $base_build"
  [ "$(grep -o -- "--builder-arg=[^ ]*" <<<"$base_build" | wc -l)" = 1 ] ||
    fail "base's build has other --builder-arg words: $base_build"
  grep -qF -- "--build-arg=hello_version=1 " <<<"$base_build" || fail "base's build lacks its ARGS: $base_build"
  [ "$(grep -o -- "--build-arg=[^ ]*" <<<"$base_build" | wc -l)" = 1 ] ||
    fail "base's build has other --build-arg words: $base_build"

  step "a correct call with every keyword still configures"
  write_project module "set_property(GLOBAL APPEND PROPERTY JOB_POOLS two=2)
add_sif_layer(base DEF base.def ROOT containers RETAIN 2 JOB_POOL two
  BUILDER \"$SIFSTORE_STANDIN\" ARGS hello_version=2.10-3 DEPENDS extra.txt TAKE_OVER REBUILD SIGN KEYIDX 1)
add_sif_layer(mid DEF mid.def FROM base VERIFY EXCLUDE_FROM_ALL VERIFY
  LAUNCHER \"$proj/launcher.sh\" BUILD_ARGS --fakeroot ARGS x=1 BUILD_ARGS --notest DEPENDS extra.txt)"
  rm -rf "$build"
  configure module
  local mid_build word
  mid_build=$(grep -- " build mid " "$build/build.ninja") || fail "no build command for mid"
  for word in "launcher.sh" "--from base" "--builder-arg=--fakeroot" "--builder-arg=--notest" "--build-arg=x=1" "--verify"; do
    grep -qF -- "$word" <<<"$mid_build" || fail "mid's build command lacks '$word': $mid_build"
  done
  grep -qF -- "--retain 2" <<<"$(grep -- " build base " "$build/build.ninja")" || fail "base's build lacks --retain 2"
  grep -qF -- "--take-over" <<<"$(grep -- " build base " "$build/build.ninja")" || fail "base's build lacks --take-over"
  if grep -qF -- "--take-over" <<<"$mid_build"; then fail "mid's build has --take-over without TAKE_OVER"; fi
  grep -qF -- "--sign --keyidx 1" <<<"$(grep -- " build base " "$build/build.ninja")" || fail "base's build lacks --sign --keyidx 1"
  if grep -qF -- "--sign" <<<"$mid_build"; then fail "mid's build has --sign without SIGN"; fi
  grep -qF -- "--rebuild" <<<"$(grep -- " build base " "$build/build.ninja")" || fail "base's build lacks --rebuild"
  if grep -qF -- "--rebuild" <<<"$mid_build"; then fail "mid's build has --rebuild without REBUILD"; fi

  step "two projects on one ROOT with the same layer name"
  local shared=$E2E_WORK/shared-store proj_a=$E2E_WORK/proj-a proj_b=$E2E_WORK/proj-b p
  for p in "$proj_a" "$proj_b"; do
    mkdir -p "$p"
    printf 'Bootstrap: scratch\n\n%%post\n    apt-get install -y hello=2.10-3\n' >"$p/app.def"
    {
      echo 'cmake_minimum_required(VERSION 3.20)'
      echo 'project(e2e LANGUAGES NONE)'
      prologue module
      echo "add_sif_layer(app DEF app.def ROOT \"$shared\" BUILDER \"$SIFSTORE_STANDIN\")"
    } >"$p/CMakeLists.txt"
    "$CMAKE" -S "$p" -B "$p/build" -G Ninja -DSifStore_DIR="$SIFSTORE_BUILD_DIR" \
      >"$E2E_WORK/configure.log" 2>&1 || fail "configure of $p failed"
  done
  "$NINJA" -C "$proj_a/build" >"$E2E_WORK/a.log" 2>&1 || {
    cat "$E2E_WORK/a.log"
    fail "project A's build failed"
  }
  local before_b
  before_b=$(cd "$shared" && find . -printf '%p %s %T@\n' | sort)
  if "$NINJA" -C "$proj_b/build" >"$E2E_WORK/b.log" 2>&1; then
    fail "project B built over project A's layer"
  fi
  grep -qF "sifstore: error: layer 'app' of $shared is built from $proj_a/app.def, not from $proj_b/app.def" \
    "$E2E_WORK/b.log" || {
    cat "$E2E_WORK/b.log"
    fail "project B's build does not name both definitions"
  }
  grep -qF -- "--take-over" "$E2E_WORK/b.log" || fail "project B's error does not say how to take over"
  [ "$(cd "$shared" && find . -printf '%p %s %T@\n' | sort)" = "$before_b" ] ||
    fail "project B's refused build changed the store"
  "$NINJA" -C "$proj_a/build" >"$E2E_WORK/a.log" 2>&1 || fail "project A's next ninja failed"
  grep -q "no work to do" "$E2E_WORK/a.log" || fail "project A rebuilt: $(cat "$E2E_WORK/a.log")"
}

# 100 layers (ten chains of ten, each FROM the one before): a no-op ninja
# runs nothing. The builder copies a prepared image, so the first build is
# quick.
case_scale() {
  mkdir -p "$proj"
  printf 'Bootstrap: scratch\n\n%%post\n    apt-get install -y hello=2.10-3\n' >"$proj/template.def"
  (cd "$proj" && "$SIFSTORE_STANDIN" build template.sif template.def >/dev/null 2>&1) ||
    fail "the stand-in could not build the template image"
  cat >"$proj/copy-builder" <<EOF
#!/bin/sh
# "build [flags] OUT DEF" copies a prepared image to OUT.
case "\$1" in
  --version) echo "apptainer version 0-copy" ;;
  build) while [ \$# -gt 2 ]; do shift; done; cp "$proj/template.sif" "\$1" ;;
  *) exit 1 ;;
esac
EOF
  chmod +x "$proj/copy-builder"
  printf 'Bootstrap: scratch\n' >"$proj/scratch.def"
  printf 'Bootstrap: localimage\nFrom: base.sif\n' >"$proj/on-base.def"
  local body="set(SIFSTORE_BUILDER \"$proj/copy-builder\")" chain i
  for chain in 0 1 2 3 4 5 6 7 8 9; do
    body+=$'\n'"add_sif_layer(l${chain}0 DEF scratch.def)"
    for i in 1 2 3 4 5 6 7 8 9; do
      body+=$'\n'"add_sif_layer(l${chain}${i} DEF on-base.def FROM l${chain}$((i - 1)))"
    done
  done
  write_project module "$body"
  configure module
  local t0 t1
  t0=$(date +%s.%N)
  out=$("$NINJA" -C "$build" -j2 2>&1) || {
    echo "$out"
    fail "first build of 100 layers failed"
  }
  t1=$(date +%s.%N)
  [ "$(built | wc -w)" = 100 ] || fail "expected 100 builds, got $(built | wc -w)"
  echo "  first build of 100 layers: $(seconds "$t0" "$t1") s"
  t0=$(date +%s.%N)
  out=$(cd "$build" && "$NINJA" 2>&1)
  t1=$(date +%s.%N)
  [ "$out" = "ninja: no work to do." ] || fail "no-op ninja over 100 layers: $out"
  echo "  no-op ninja over 100 layers: $(seconds "$t0" "$t1") s: $out"
  out=$(cd "$build" && "$NINJA" -n -d explain 2>&1)
  grep -q "is dirty" <<<"$out" && fail "ninja -d explain finds dirty outputs: $out"
  step "edit the def of the 90 layers built FROM another: those 90 are out of date"
  printf '\n' >>"$proj/on-base.def"
  out=$("$NINJA" -C "$build" -n 2>&1)
  [ "$(echo "$out" | grep -c 'Building SIF layer')" = 90 ] || fail "expected 90 layers to rebuild: $out"
  return 0
}

# The example project (examples/, the README's main command) as a new user
# meets it: configured through find_package as root and as a normal user,
# with an Apptainer stub on PATH, with and without extra builder words
# (SIFSTORE_EXAMPLE_BUILD_ARGS). The stub records its argv and builds
# nothing: a normal user's `apptainer build` gets --fakeroot, root's does
# not. Root without apptainer on PATH gets the stand-in builder. No Debian
# mirror is needed (-DSIFSTORE_EXAMPLE_MIRROR).
case_example() {
  # Everything the normal user reads or writes is below $top, which it can
  # reach (E2E_WORK may be in a directory only root can enter).
  local top=$E2E_WORK nobody=65534 as_nobody=""
  if [ "$(id -u)" = 0 ]; then
    if setpriv --reuid=$nobody --regid=$nobody --clear-groups true 2>/dev/null; then
      as_nobody="setpriv --reuid=$nobody --regid=$nobody --clear-groups"
      if ! $as_nobody test -x "$E2E_WORK"; then
        top=$(mktemp -d /tmp/sifstore-e2e-example.XXXXXX)
        trap 'rm -rf "$top"' EXIT
      fi
    else
      echo "  SKIP (part): setpriv cannot switch to uid $nobody; the normal-user configure is not tested"
    fi
  fi
  step "cmake --install SifStore into a prefix; copy the example and the stand-in to $top"
  chmod 755 "$top"
  "$CMAKE" --install "$SIFSTORE_BUILD_DIR" --prefix "$top/prefix" >/dev/null
  mkdir -p "$top/src/tests/standin" "$top/stub-bin"
  cp -R "$SIFSTORE_SOURCE_DIR/examples" "$top/src/examples"
  cp "$SIFSTORE_SOURCE_DIR/tests/standin/apptainer" "$top/src/tests/standin/apptainer"
  local standin=$top/src/tests/standin/apptainer stub=$top/stub-bin/apptainer
  # The stub: records each call's argv (one line, each word in brackets) in
  # $top/apptainer.log, and the definition it is given in $top/apptainer.def,
  # and builds nothing.
  printf '%s\n' '#!/bin/sh' \
    'log=$(dirname "$0")/../apptainer.log' \
    'line=""' \
    'for word in "$@"; do line="$line[$word]"; last=$word; done' \
    'echo "$line" >>"$log"' \
    'case "$last" in *.def) cat "$last" >"$(dirname "$0")/../apptainer.def" ;; esac' \
    'case "$1" in' \
    '  --version) echo "apptainer version 0.0.0-e2e-stub" ;;' \
    '  *) echo "apptainer stub: cannot $1" >&2; exit 1 ;;' \
    'esac' >"$stub"
  : >"$top/apptainer.log"
  : >"$top/apptainer.def"
  chmod 666 "$top/apptainer.log" "$top/apptainer.def"
  chmod -R a+rX "$top/prefix" "$top/src" "$top/stub-bin"
  chmod 755 "$stub"

  local mirror=http://mirror.invalid/debian extra="--disable-cache;--build-arg=e2e_note=hello"
  # example_configure WHO ARGS NAME: configures the example in $top/NAME as
  # WHO (root or nobody) with SIFSTORE_EXAMPLE_BUILD_ARGS=ARGS; PATH starts
  # with the stub's directory unless NAME ends in -nostub. The log is
  # $top/NAME.log.
  example_configure() {
    local who=$1 args=$2 name=$3 run="" path="$top/stub-bin:$PATH"
    if [ "$who" = nobody ]; then run=$as_nobody; fi
    case $name in *-nostub) path=$PATH ;; esac
    mkdir -p "$top/$name"
    if [ "$who" = nobody ]; then chown $nobody:$nobody "$top/$name"; fi
    $run env HOME="$top/$name" PATH="$path" "$CMAKE" -S "$top/src/examples" -B "$top/$name/build" \
      -G Ninja -DCMAKE_MAKE_PROGRAM="$NINJA" -DCMAKE_PREFIX_PATH="$top/prefix" \
      -DSIFSTORE_EXAMPLE_MIRROR=$mirror "-DSIFSTORE_EXAMPLE_BUILD_ARGS=$args" \
      >"$top/$name.log" 2>&1
  }
  # The configure log with CMake's line wrapping undone.
  example_log() { tr -s ' \n' ' ' <"$top/$1.log"; }
  # layer_command NAME LAYER: the command that builds LAYER in $top/NAME.
  layer_command() {
    grep -- " build $2 " "$top/$1/build/build.ninja" || fail "$1: no build command for $2"
  }

  local who args name layer cmd calls run word
  for who in root nobody; do
    if [ "$who" = root ] && [ "$(id -u)" != 0 ]; then
      echo "  SKIP (part): not root; the root configure is not tested"
      continue
    fi
    if [ "$who" = nobody ] && [ -z "$as_nobody" ]; then continue; fi
    run=""
    if [ "$who" = nobody ]; then run=$as_nobody; fi
    for args in "" "$extra"; do
      name=$who-plain
      if [ -n "$args" ]; then name=$who-extra; fi
      step "as $who, SIFSTORE_EXAMPLE_BUILD_ARGS='$args', the stub on PATH ($name)"
      example_configure "$who" "$args" "$name" || {
        cat "$top/$name.log"
        fail "$name: configure failed"
      }
      grep -qF "Building the images with Apptainer: $stub" <<<"$(example_log "$name")" ||
        fail "$name: configure did not choose the stub: $(cat "$top/$name.log")"
      for layer in base python app; do
        cmd=$(layer_command "$name" $layer)
        grep -qF -- "$stub" <<<"$cmd" || fail "$name: $layer is not built with the stub: $cmd"
        if [ "$who" = nobody ]; then
          grep -q -- "--fakeroot" <<<"$cmd" || fail "$name: $layer's build lacks --fakeroot: $cmd"
        elif grep -q -- "--fakeroot" <<<"$cmd"; then
          fail "$name: root's build of $layer has --fakeroot: $cmd"
        fi
        if [ -n "$args" ]; then
          for word in --disable-cache --build-arg=e2e_note=hello; do
            grep -qF -- "$word" <<<"$cmd" || fail "$name: $layer's build lacks $word: $cmd"
          done
        elif grep -qF -- "--disable-cache" <<<"$cmd"; then
          fail "$name: $layer's build has words not asked for: $cmd"
        fi
      done
      # Ninja plans the three builds.
      out=$($run "$NINJA" -C "$top/$name/build" -n 2>&1) || fail "$name: ninja -n failed: $out"
      [ "$(grep -c 'Building SIF layer' <<<"$out")" = 3 ] || fail "$name: ninja -n does not plan 3 builds: $out"
      # What Apptainer is asked to do: the build of base runs the stub, which
      # records its argv and fails.
      : >"$top/apptainer.log"
      if out=$($run env HOME="$top/$name" "$NINJA" -C "$top/$name/build" sif-base 2>&1); then
        fail "$name: a build with the stub succeeded: $out"
      fi
      calls=$(grep '^\[build\]' "$top/apptainer.log") || fail "$name: the stub was not run to build base: $out"
      echo "  | apptainer $calls"
      # The mirror (ARGS) is rendered by sifstore into the def the builder
      # gets: Apptainer 1.1 has no --build-arg.
      grep -qxF "MirrorURL: $mirror" "$top/apptainer.def" ||
        fail "$name: the stub's def does not name the mirror: $(cat "$top/apptainer.def")"
      if grep -qF "mirror=" <<<"$calls"; then fail "$name: the mirror reached the builder's command line: $calls"; fi
      grep -q '^\[build\].*\[[^]]*\.sif\]\[[^]]*\.def\]$' <<<"$calls" ||
        fail "$name: the stub did not get 'build ... OUT.sif DEF.def': $calls"
      if [ "$who" = nobody ]; then
        grep -qF "[build][--fakeroot]" <<<"$calls" || fail "$name: apptainer build without --fakeroot: $calls"
      elif grep -qF "[--fakeroot]" <<<"$calls"; then
        fail "$name: root's apptainer build has --fakeroot: $calls"
      fi
      if [ -n "$args" ]; then
        grep -qF "[--disable-cache][--build-arg=e2e_note=hello]" <<<"$calls" ||
          fail "$name: the stub did not get the extra words: $calls"
      elif grep -qF "[--disable-cache]" <<<"$calls"; then
        fail "$name: the stub got words not asked for: $calls"
      fi
    done
  done

  if [ "$(id -u)" != 0 ]; then return 0; fi
  if command -v apptainer >/dev/null 2>&1; then
    echo "  SKIP (part): apptainer is installed here; the stand-in choice is not tested"
    return 0
  fi
  step "as root without apptainer on PATH: the stand-in builder"
  example_configure root "" root-nostub || {
    cat "$top/root-nostub.log"
    fail "root-nostub: configure failed"
  }
  grep -qF "apptainer is not on PATH: building the images with SifStore's stand-in builder $standin" \
    <<<"$(example_log root-nostub)" ||
    fail "root-nostub: configure did not choose the stand-in: $(cat "$top/root-nostub.log")"
  for layer in base python app; do
    cmd=$(layer_command root-nostub $layer)
    grep -qF -- "--builder=$standin" <<<"$cmd" || fail "root-nostub: $layer is not built with the stand-in: $cmd"
    if grep -q -- "--fakeroot" <<<"$cmd"; then fail "root-nostub: $layer's build has --fakeroot: $cmd"; fi
  done
  if [ -n "$as_nobody" ]; then
    step "as a normal user without apptainer on PATH: a clear error"
    if example_configure nobody "" nobody-nostub; then
      fail "nobody-nostub: configure without apptainer succeeded as a normal user"
    fi
    grep -qF "apptainer is not on PATH, and SifStore's stand-in builder" <<<"$(example_log nobody-nostub)" ||
      fail "nobody-nostub: configure did not say why: $(cat "$top/nobody-nostub.log")"
  fi
  return 0
}

# The fixture through each way of bringing SifStore in.
check_mode() {
  local mode=$1 exe_pattern=$2
  start "$mode"
  expect_built_set base mid top other
  grep -q -- "$exe_pattern --root" "$build/build.ninja" ||
    fail "the builds do not run $exe_pattern"
  run_ninja
  expect_no_work
  touch "$proj/mid.def"
  run_ninja
  expect_built mid top
  # The helper script of the point-latest targets comes with the module.
  "$SIFSTORE_EXE" --root "$store" rollback top >/dev/null
  run_ninja sif-point-latest
  no_builds
  [ "$(active top)" = "top/top-$(newest_ts top).sif" ] || fail "sif-point-latest did not restore top"
}

case_find_package() {
  step "cmake --install SifStore into a prefix"
  "$CMAKE" --install "$SIFSTORE_BUILD_DIR" --prefix "$E2E_WORK/prefix" >/dev/null
  [ -f "$E2E_WORK/prefix/lib/cmake/SifStore/SifStoreConfig.cmake" ] || fail "no installed SifStoreConfig.cmake"
  [ -f "$E2E_WORK/prefix/lib/cmake/SifStore/SifStoreConfigVersion.cmake" ] || fail "no installed version file"
  check_mode install "$E2E_WORK/prefix/bin/sifstore"

  step "the version file refuses an incompatible version"
  write_project install 'find_package(SifStore 99 QUIET)
if(SifStore_FOUND)
  message(FATAL_ERROR "SifStore 99 found")
endif()'
  rm -rf "$build"
  configure install
  step "the installed package is relocatable"
  mv "$E2E_WORK/prefix" "$E2E_WORK/moved"
  write_project install 'find_package(SifStore 0.1 REQUIRED)
message(STATUS "sifstore: ${SifStore_EXECUTABLE}")'
  rm -rf "$build"
  configure install -DCMAKE_PREFIX_PATH="$E2E_WORK/moved"
  grep -q "sifstore: $E2E_WORK/moved/bin/sifstore" "$E2E_WORK/configure.log" || fail "not relocated"
  step "the relocated sifstore loads its modules from beside itself (lib/sifstore)"
  printf 'Bootstrap: docker\nFrom: 127.0.0.1:9/sifstore/none:1\n' >"$E2E_WORK/docker.def"
  local out
  out=$(LD_DEBUG=files "$E2E_WORK/moved/bin/sifstore" --root "$E2E_WORK/modstore" build x \
    --def "$E2E_WORK/docker.def" --builder /bin/false 2>&1) && fail "a build from a closed port passed"
  grep -q "file=$E2E_WORK/moved/bin/../lib/sifstore/sifstore-http.so" <<<"$out" ||
    fail "the HTTP module was not loaded from the moved prefix: $(grep -i 'error\|sifstore-http' <<<"$out")"
  grep -q "cannot resolve docker://127.0.0.1:9/sifstore/none:1" <<<"$out" ||
    fail "no registry error: $(grep error <<<"$out")"
}

case_add_subdirectory() {
  snapshot_sources
  check_mode subdir "$build/sifstore/tool/sifstore"
  step "a change to sifstore rebuilds sifstore and no image"
  echo "// changed" >>"$E2E_WORK/sifstore-src/tool/main.cpp"
  run_ninja
  grep -q "Linking CXX executable sifstore/tool/sifstore" <<<"$out" || fail "sifstore was not rebuilt"
  no_builds
  # The subproject's sifstore is an order-only input of the builds
  # ("|| sifstore"): it is built first, and rebuilding it rebuilds no image.
  local inputs
  inputs=$("$NINJA" -C "$build" -t query CMakeFiles/sifstore/base.stamp | sed -n '/input:/,/outputs:/p')
  echo "$inputs" | sed 's/^/  | /'
  grep -q '^    || .*sifstore' <<<"$inputs" || fail "sifstore is not an order-only input"
  grep -v '^    ||' <<<"$inputs" | grep -q 'tool/sifstore' &&
    fail "the images depend on the sifstore file, not only on its build order"
  return 0
}

# FetchContent from a file:// git repository of the sources. The project is
# fetched and configured for real; to keep the suite short it is not built
# (add_subdirectory, which FetchContent_MakeAvailable calls, runs the same
# commands for real): the commands that build sif-top must link the fetched
# sifstore first, then build base, mid, top in order with it.
case_fetchcontent() {
  step "a git repository of the SifStore sources (file://)"
  snapshot_sources
  local src=$E2E_WORK/sifstore-src
  git -C "$src" init -q -b main
  git -C "$src" add -A
  git -C "$src" -c user.name=e2e -c user.email=e2e@localhost commit -q -m "SifStore sources"

  write_fixture
  write_project fetch
  configure fetch
  [ -f "$build/_deps/sifstore-src/cmake/SifStore.cmake" ] || fail "FetchContent did not fetch SifStore"
  local exe="$build/_deps/sifstore-build/tool/sifstore"
  grep -q -- "$exe --root" "$build/build.ninja" || fail "the builds do not run the fetched sifstore"
  local targets
  targets=$("$NINJA" -C "$build" -t targets all)
  for target in sif-base sif-mid sif-top sif-other sif-base-prune sif-base-point-latest \
    sif-prune sif-point-latest sif-list sif-verify; do
    grep -q "^$target:" <<<"$targets" || fail "no target $target"
  done
  # The commands that build sif-top from scratch, in order.
  out=$("$NINJA" -C "$build" -t commands sif-top 2>&1)
  local plan
  plan=$(echo "$out" | sed -n "s|.* -o [^ ]*tool/sifstore .*|sifstore|p; s|^cd .* && $exe --root .* build \([a-z]*\) .*|\1|p" | xargs)
  echo "  plan: $plan"
  [ "$plan" = "sifstore base mid top" ] || fail "ninja -t commands sif-top plans '$plan': $out"
}

# Input-addressed reuse: a second build directory (fresh configure, same
# sources, same shared ROOT) builds nothing with the builder; a changed
# %files source rebuilds that layer and the layers FROM it; REBUILD builds anew.
case_reuse() {
  write_fixture
  local shared=$E2E_WORK/shared-store runs=$E2E_WORK/builder-runs.log
  cat >"$proj/builder.sh" <<EOF
#!/bin/sh
if [ "\$1" = build ]; then echo "\$*" >>"$runs"; fi
exec "$SIFSTORE_STANDIN" "\$@"
EOF
  chmod +x "$proj/builder.sh"
  write_project module "set(SIFSTORE_BUILDER \"$proj/builder.sh\")
add_sif_layer(base DEF base.def ROOT \"$shared\" ARGS hello_version=2.10-3 \${EXTRA})
add_sif_layer(mid DEF mid.def ROOT \"$shared\" FROM base \${EXTRA})
add_sif_layer(other DEF other.def ROOT \"$shared\" \${EXTRA})"
  builder_runs() { if [ -f "$runs" ]; then wc -l <"$runs" | tr -d ' '; else echo 0; fi; }
  reused() { echo "$out" | sed -n 's/^sifstore: reused \(.*\)-[0-9]\{4\}-[0-9]\{4\}-[0-9]\{6\} .*/\1/p' | sort | xargs; }
  local one=$proj/build1 two=$proj/build2 three=$proj/build3 t0 t1
  store=$shared
  step "build directory 1: three layers built"
  build=$one
  configure module
  run_ninja
  expect_built_set base mid other
  [ "$(builder_runs)" = 3 ] || fail "expected 3 builder runs, saw $(builder_runs)"
  run_ninja
  expect_no_work

  step "build directory 2 (fresh configure, same sources, same ROOT): zero builder runs"
  build=$two
  configure module
  t0=$(date +%s.%N)
  run_ninja
  t1=$(date +%s.%N)
  [ "$(builder_runs)" = 3 ] || fail "the second build directory ran the builder: $(cat "$runs")"
  [ -z "$(built)" ] || fail "the second build directory built $(built)"
  [ "$(reused)" = "base mid other" ] || fail "expected base mid other reused, got '$(reused)'"
  echo "  reuse of 3 layers in a fresh build directory: $(seconds "$t0" "$t1") s"
  run_ninja
  expect_no_work
  expect_store_sound base mid other
  expect_counts base=1 mid=1 other=1

  step "a changed %files source: that layer and the layers FROM it, nothing else"
  echo "welcome back" >"$proj/files/motd.txt"
  run_ninja
  expect_built_set base mid
  [ "$(builder_runs)" = 5 ] || fail "expected 5 builder runs, saw $(builder_runs)"
  run_ninja
  expect_no_work
  step "build directory 1 catches up by reuse"
  build=$one
  run_ninja
  [ -z "$(built)" ] || fail "build directory 1 built $(built)"
  [ "$(reused)" = "base mid" ] || fail "expected base mid reused, got '$(reused)'"
  [ "$(builder_runs)" = 5 ] || fail "build directory 1 ran the builder"
  run_ninja
  expect_no_work

  step "REBUILD builds anew"
  build=$three
  configure module -DEXTRA=REBUILD
  run_ninja
  expect_built_set base mid other
  [ "$(builder_runs)" = 8 ] || fail "expected 8 builder runs, saw $(builder_runs)"
  expect_counts base=3 mid=3 other=2
}

case "$case_name" in
  build_order | incremental | retain_clean | standalone | parallel | errors | scale | \
    find_package | add_subdirectory | fetchcontent | example | interrupt | products | reuse)
    "case_$case_name"
    ;;
  *) fail "unknown case" ;;
esac
echo "PASS ($case_name)"
