#!/usr/bin/env bash
# Holds with a real Slurm: starts a single-node Slurm (slurm-harness.sh),
# builds three builds of a layer with the stand-in builder, and checks that
#
#   - a job submitted held (sbatch --hold, so it stays PENDING) whose build
#     was held with `sifstore check LAYER --hold --job ID` keeps that build
#     through `prune --retain 0` once it is no longer the active one, while
#     the older unheld build goes; `holds` says the job is PENDING;
#   - after the job ends (scancel), `holds` says so and the next
#     `prune --retain 0` removes the build and its hold.
#
# Run by ctest (tests/slurm/CMakeLists.txt), which sets
#   SIFSTORE_EXE      the built sifstore
#   SIFSTORE_STANDIN  the stand-in builder
#   SLURM_WORK        a scratch directory (emptied first)
# Exit status: 0 passed, 1 failed, 77 skipped (Slurm cannot run here; the
# reason is printed).
set -euo pipefail

: "${SIFSTORE_EXE:?}" "${SIFSTORE_STANDIN:?}" "${SLURM_WORK:?}"
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/slurm-harness.sh

rm -rf "$SLURM_WORK"
mkdir -p "$SLURM_WORK"
work=$(cd "$SLURM_WORK" && pwd)
cluster=$work/slurm
store=$work/containers
jid=""

cleanup() {
  local rc=$?
  [ -n "$jid" ] && scancel "$jid" 2>/dev/null
  "$harness" stop "$cluster" || true
  exit $rc
}
trap cleanup EXIT

fail() {
  echo "FAIL (slurm holds): $*" >&2
  exit 1
}
step() { echo "--- $*"; }
sifstore() { "$SIFSTORE_EXE" --root "$store" "$@"; }
active_ts() { basename "$(readlink "$store/app.sif")" .sif | sed 's/^app-//'; }
job_state() { squeue -h -j "$1" -o %T 2>/dev/null || true; }

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
unset SLURM_JOB_ID
command -v squeue >/dev/null || fail "squeue is not on PATH"

build() {
  printf 'Bootstrap: scratch\n\n%%post\n    echo %s\n' "$1" >"$work/app.def"
  sifstore build app --def "$work/app.def" --builder "$SIFSTORE_STANDIN" -q >/dev/null ||
    fail "build $1 failed"
  active_ts
}

step "two builds of app; a held job is given the active one"
ts1=$(build one)
ts2=$(build two)
jid=$(sbatch --parsable --hold -t 5 -o /dev/null --wrap 'sleep 1') || fail "sbatch failed"
echo "job $jid: $(job_state "$jid")"
[ "$(job_state "$jid")" = PENDING ] || fail "job $jid is not PENDING: $(job_state "$jid")"
img=$(sifstore check app --hold --job "$jid") || fail "check --hold failed"
[ "$img" = "$store/app/app-$ts2.sif" ] || fail "check printed $img"
[ -f "$store/app/.app-$ts2.hold.$jid" ] || fail "no hold file for job $jid"

step "a newer build; prune --retain 0 while the job is pending keeps the held build"
ts3=$(build three)
[ "$(job_state "$jid")" = PENDING ] || fail "job $jid is not PENDING: $(job_state "$jid")"
pruned=$(sifstore prune app --retain 0) || fail "prune failed"
echo "pruned: $pruned"
[ "$pruned" = "$ts1" ] || fail "prune removed '$pruned', expected only $ts1"
[ -f "$store/app/app-$ts2.sif" ] || fail "prune removed the build job $jid holds"
[ -f "$store/app/app-$ts3.sif" ] || fail "prune removed the active build"
sifstore holds app
sifstore holds app --json | grep -q "\"why\": \"job $jid is PENDING\"" ||
  fail "holds does not say that job $jid is PENDING"
[ "$(job_state "$jid")" = PENDING ] || fail "job $jid left PENDING during the prune"

step "the job ends (scancel); the next prune removes the build and its hold"
scancel "$jid"
for _ in $(seq 1 50); do
  case $(job_state "$jid") in
    PENDING | COMPLETING) sleep 0.2 ;;
    *) break ;;
  esac
done
echo "job $jid: $(job_state "$jid")"
sifstore holds app
sifstore holds app --json | grep -q '"state": "dead"' || fail "the hold of job $jid is not dead"
jid_done=$jid
jid=""
pruned=$(sifstore prune app --retain 0) || fail "prune after the job failed"
echo "pruned: $pruned"
[ "$pruned" = "$ts2" ] || fail "prune removed '$pruned', expected $ts2"
[ ! -e "$store/app/.app-$ts2.hold.$jid_done" ] || fail "the hold file is left"
[ "$(active_ts)" = "$ts3" ] || fail "the active build changed"
sifstore fsck || fail "fsck after the prunes"
echo "PASS (slurm holds)"
