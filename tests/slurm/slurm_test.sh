#!/usr/bin/env bash
# Layer builds as Slurm jobs: starts a real single-node Slurm
# (slurm-harness.sh), builds tests/slurm/project with `ninja -j2` and
# SIFSTORE_LAUNCHER=srun, and checks that
#
#   - every layer was built by a Slurm job of its own: the builder
#     (slurm-builder, around the stand-in) logged SLURM_JOB_ID into the
#     layer's build log, and Slurm's job record says that job COMPLETED;
#     a layer's own LAUNCHER (a job name) and BUILD_ARGS (--fakeroot) reach
#     the job; the store is consistent (fsck exits 0);
#   - a second ninja runs no job; editing a def rebuilds that layer and the
#     one built FROM it, as two jobs;
#   - a build that fails inside its job fails the layer (ninja fails, the job
#     is FAILED, nothing is published);
#   - a job cancelled with scancel fails the layer the same way (the job is
#     CANCELLED, the builder is gone, nothing is published, no debris);
#   - at the end fsck reports only the logs of those two builds, and after
#     fsck --repair exits 0.
#
# Run by ctest (tests/slurm/CMakeLists.txt), which sets
#   SIFSTORE_EXE        the built sifstore
#   SIFSTORE_BUILD_DIR  SifStore's build tree (its SifStoreConfig.cmake)
#   SIFSTORE_STANDIN    the stand-in builder
#   SLURM_WORK          a scratch directory (emptied first)
#   CMAKE, NINJA        the programs to run
# Exit status: 0 passed, 1 failed, 77 skipped (Slurm cannot run here; the
# reason is printed).
set -euo pipefail

: "${SIFSTORE_EXE:?}" "${SIFSTORE_BUILD_DIR:?}" "${SIFSTORE_STANDIN:?}" "${SLURM_WORK:?}"
CMAKE=${CMAKE:-cmake}
NINJA=${NINJA:-ninja}
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/slurm-harness.sh

rm -rf "$SLURM_WORK"
mkdir -p "$SLURM_WORK"
work=$(cd "$SLURM_WORK" && pwd)
cluster=$work/slurm
project=$work/project
build=$work/build
store=$build/containers
jobcomp=$cluster/jobcomp.txt
background=""

cleanup() {
  local rc=$?
  if [ -n "$background" ] && kill -0 "$background" 2>/dev/null; then
    kill -TERM "$background" 2>/dev/null || true
    wait "$background" 2>/dev/null || true
  fi
  "$harness" stop "$cluster" || true
  exit $rc
}
trap cleanup EXIT

fail() {
  echo "FAIL (slurm): $*" >&2
  exit 1
}
step() { echo "--- $*"; }
sifstore() { "$SIFSTORE_EXE" --root "$store" "$@"; }

# --- the cluster -------------------------------------------------------------

step "starting a single-node Slurm in $cluster"
rc=0
"$harness" start "$cluster" || rc=$?
if [ $rc -eq 77 ]; then
  echo "SKIPPED: Slurm cannot run on this machine (see above)"
  exit 77
fi
[ $rc -eq 0 ] || fail "slurm-harness.sh start failed (exit $rc)"
# shellcheck disable=SC1091
source "$cluster/slurm.env"
unset SIFSTORE_STANDIN_HANG SIFSTORE_STANDIN_FAIL SIFSTORE_STANDIN_FAIL_AT SIFSTORE_STANDIN_LOG

jobs_recorded() { if [ -f "$jobcomp" ]; then wc -l <"$jobcomp"; else echo 0; fi; }
# The completion record of one job (jobcomp/filetxt: one line per job).
job_record() { grep -E "^JobId=$1 " "$jobcomp" || true; }
job_state() { job_record "$1" | sed -n 's/.* JobState=\([A-Z_]*\).*/\1/p'; }
# Waits (at most 20 s) until Slurm has recorded the end of a job.
wait_job_record() {
  for _ in $(seq 1 100); do
    [ -n "$(job_state "$1")" ] && return 0
    sleep 0.2
  done
  fail "Slurm recorded no end of job $1 in $jobcomp"
}
# The Slurm job id a build log names (the builder prints it), or "".
job_of_log() {
  sed -n 's/^slurm-builder: SLURM_JOB_ID=\([0-9][0-9]*\) .*/\1/p' "$1" | head -n 1
}
active_ts() {
  local target
  target=$(readlink "$store/$1.sif") || fail "layer $1 has no latest pointer"
  basename "$target" .sif | sed "s/^$1-//"
}

# --- the project, every build through srun ------------------------------------

step "configuring tests/slurm/project with SIFSTORE_LAUNCHER=srun"
cp -R "$here/project" "$project"
"$CMAKE" -S "$project" -B "$build" -G Ninja -DCMAKE_MAKE_PROGRAM="$NINJA" \
  -DSifStore_DIR="$SIFSTORE_BUILD_DIR" \
  "-DSIFSTORE_LAUNCHER=srun;-n1;-c1;--quiet" \
  "-DSIFSTORE_BUILDER=$here/slurm-builder;$SIFSTORE_STANDIN" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log"; fail "configure failed"; }

step "ninja -j2: four layers, four jobs"
timeout 300 "$NINJA" -C "$build" -j2 >"$work/ninja1.log" 2>&1 ||
  { cat "$work/ninja1.log"; fail "ninja failed"; }
cat "$work/ninja1.log"

declare -A job_of
for layer in base tools app other; do
  ts=$(active_ts $layer)
  log=$store/$layer/$layer-$ts.build.log
  [ -f "$log" ] || fail "no build log $log"
  id=$(job_of_log "$log")
  [ -n "$id" ] || { cat "$log"; fail "$layer: the build log names no Slurm job"; }
  grep -q "SLURMD_NODENAME=localhost" "$log" || fail "$layer: not built on node localhost"
  wait_job_record "$id"
  [ "$(job_state "$id")" = COMPLETED ] ||
    fail "$layer: job $id is not COMPLETED: $(job_record "$id")"
  job_of[$layer]=$id
  echo "$layer-$ts: Slurm job $id, $(job_state "$id")"
done
ids=$(printf '%s\n' "${job_of[@]}" | sort -u | wc -l)
[ "$ids" -eq 4 ] || fail "four layers, but $ids distinct jobs: ${job_of[*]}"
job_record "${job_of[other]}" | grep -q " Name=sifstore-other " ||
  fail "other's LAUNCHER (--job-name) did not reach its job: $(job_record "${job_of[other]}")"
grep -q "args=build --fakeroot " "$store/base/base-$(active_ts base).build.log" ||
  fail "base's BUILD_ARGS --fakeroot did not reach the builder in the job"
[ -f "$store/app/app-$(active_ts app).verified" ] || fail "app's VERIFY left no .verified"
sifstore fsck >"$work/fsck1.log" 2>&1 || { cat "$work/fsck1.log"; fail "fsck after the build"; }

step "a second ninja runs no job"
before=$(jobs_recorded)
timeout 120 "$NINJA" -C "$build" -j2 >"$work/ninja2.log" 2>&1 || fail "second ninja failed"
grep -q "no work to do" "$work/ninja2.log" || { cat "$work/ninja2.log"; fail "second ninja did work"; }
[ "$(jobs_recorded)" -eq "$before" ] || fail "second ninja ran Slurm jobs"

step "editing tools.def rebuilds tools and app: two jobs"
base_ts=$(active_ts base) other_ts=$(active_ts other) tools_ts=$(active_ts tools)
sleep 1  # a newer mtime than the last build's outputs
# A change of content: a def only touched has the same input key, and its
# build would reuse the published one without a job.
echo "# edited" >>"$project/tools.def"
timeout 300 "$NINJA" -C "$build" -j2 >"$work/ninja3.log" 2>&1 ||
  { cat "$work/ninja3.log"; fail "ninja after editing tools.def failed"; }
if [ "$(active_ts base)" != "$base_ts" ] || [ "$(active_ts other)" != "$other_ts" ]; then
  fail "editing tools.def rebuilt base or other"
fi
[ "$(active_ts tools)" != "$tools_ts" ] || fail "editing tools.def did not rebuild tools"
for layer in tools app; do
  id=$(job_of_log "$store/$layer/$layer-$(active_ts $layer).build.log")
  [ -n "$id" ] || fail "$layer's rebuild names no job"
  wait_job_record "$id"
  [ "$(job_state "$id")" = COMPLETED ] || fail "$layer's rebuild: job $id $(job_state "$id")"
  echo "$layer-$(active_ts $layer): Slurm job $id, COMPLETED"
done
[ "$(jobs_recorded)" -eq $((before + 2)) ] ||
  fail "expected 2 more jobs, got $(($(jobs_recorded) - before))"

# --- a build that fails in its job ---------------------------------------------

step "a build that fails inside its job fails the layer"
if timeout 120 "$NINJA" -C "$build" sif-fails >"$work/ninja-fails.log" 2>&1; then
  cat "$work/ninja-fails.log"
  fail "ninja sif-fails succeeded"
fi
grep -q "build of fails failed" "$work/ninja-fails.log" ||
  { cat "$work/ninja-fails.log"; fail "no 'build of fails failed' message"; }
shopt -s nullglob
logs=("$store"/fails/fails-*.build.log)
[ ${#logs[@]} -eq 1 ] || fail "expected one build log of fails, found ${#logs[@]}"
id=$(job_of_log "${logs[0]}")
[ -n "$id" ] || fail "the failed build's log names no job"
wait_job_record "$id"
[ "$(job_state "$id")" = FAILED ] || fail "the failed build's job $id is $(job_state "$id")"
sifs=("$store"/fails/*.sif)
if [ ${#sifs[@]} -ne 0 ] || [ -e "$store/fails.sif" ] || [ -L "$store/fails.sif" ]; then
  fail "a failed build published something: ${sifs[*]}"
fi
echo "fails: Slurm job $id, FAILED; nothing published"

# --- a cancelled job -------------------------------------------------------------

step "scancel of a build's job fails the layer"
SIFSTORE_STANDIN_HANG=300 SIFSTORE_STANDIN_LOG=$work/standin-hangs.log \
  timeout 300 "$NINJA" -C "$build" sif-hangs >"$work/ninja-hangs.log" 2>&1 &
background=$!
id=""
for _ in $(seq 1 300); do
  id=$(squeue -h -n sifstore-hangs -t R -o %i 2>/dev/null | head -n 1)
  partial=("$store"/hangs/.hangs-*.build.log.partial)
  if [ -n "$id" ] && [ ${#partial[@]} -eq 1 ] && grep -q "sleeping" "${partial[0]}"; then
    break
  fi
  id=""
  kill -0 $background 2>/dev/null || { cat "$work/ninja-hangs.log"; fail "ninja sif-hangs ended early"; }
  sleep 0.2
done
[ -n "$id" ] || fail "the hangs build never reached its builder in a running job"
grep -q "SLURM_JOB_ID=$id " "${partial[0]}" || fail "the hanging build is not in job $id"
builder_pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$work/standin-hangs.log" | tail -n 1)
[ -n "$builder_pid" ] || fail "no builder pid in $work/standin-hangs.log"
scancel "$id"
rc=0
for _ in $(seq 1 300); do
  kill -0 $background 2>/dev/null || break
  sleep 0.2
done
kill -0 $background 2>/dev/null && fail "ninja sif-hangs still runs 60 s after scancel"
wait $background || rc=$?
background=""
[ $rc -ne 0 ] || { cat "$work/ninja-hangs.log"; fail "ninja sif-hangs succeeded after scancel"; }
wait_job_record "$id"
[ "$(job_state "$id")" = CANCELLED ] || fail "job $id is $(job_state "$id"), not CANCELLED"
for _ in $(seq 1 50); do
  kill -0 "$builder_pid" 2>/dev/null || break
  sleep 0.2
done
kill -0 "$builder_pid" 2>/dev/null && fail "the builder (pid $builder_pid) outlived its cancelled job"
sifs=("$store"/hangs/*.sif)
if [ ${#sifs[@]} -ne 0 ] || [ -e "$store/hangs.sif" ] || [ -L "$store/hangs.sif" ]; then
  fail "a cancelled build published something: ${sifs[*]}"
fi
leftover=()
for f in "$store"/hangs/.*; do
  case ${f##*/} in . | .. | .sifstore-lock) ;; *) leftover+=("${f##*/}") ;; esac
done
[ ${#leftover[@]} -eq 0 ] || fail "the cancelled build left debris: ${leftover[*]}"
echo "hangs: Slurm job $id, CANCELLED (ninja exit $rc); builder gone, nothing published, no debris"

# --- the store at the end -------------------------------------------------------

step "fsck: only the logs of the failed and the cancelled build"
sifstore fsck --json >"$work/fsck2.json" || true
python3 - "$work/fsck2.json" <<'EOF' || fail "fsck found more than the two logs: $(cat "$work/fsck2.json")"
import json, re, sys
findings = json.load(open(sys.argv[1]))["findings"]
layers = sorted(re.search(r"/(\w+)-\d{4}-\d{4}-\d{6}\.build\.log$", f["path"]).group(1)
                for f in findings if f["problem"].startswith("orphan"))
sys.exit(0 if layers == ["fails", "hangs"] and len(findings) == 2 else 1)
EOF
sifstore fsck --repair >/dev/null || true
sifstore fsck || fail "fsck after fsck --repair"
for layer in base tools app other; do sifstore list $layer >/dev/null || fail "list $layer"; done

echo "PASS (slurm): jobs base=${job_of[base]} tools=${job_of[tools]} app=${job_of[app]} other=${job_of[other]}; $(jobs_recorded) jobs recorded"
