#!/usr/bin/env bash
# A store shared by a team (config.yaml `store.shared: group`): two users of
# one group build, roll back, prune and clear each other's holds and markers
# in one store; a third user outside the group gets permission errors that
# name the file and the right missing, and changes nothing.
#
# The users are made with groupadd/useradd, but never in the machine's own
# /etc: the test runs itself again in a private mount namespace (unshare
# -m) where a copy of /etc is bind-mounted over /etc; the users exist only
# in that copy, which goes with the namespace and the scratch directory.
# The host's account files (and /home, /var/mail) are compared before and
# after. The users run
# sifstore with setpriv (--reuid --regid --init-groups), the layers are
# built by the stand-in builder.
#
# Run by ctest (tests/shared/CMakeLists.txt), which sets
#   SIFSTORE_EXE      the built sifstore
#   SIFSTORE_STANDIN  the stand-in builder
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or a tool missing).
set -euo pipefail

: "${SIFSTORE_EXE:?}" "${SIFSTORE_STANDIN:?}"
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

fail() {
  echo "FAIL (shared): $*" >&2
  exit 1
}
skip() {
  echo "SKIPPED: $*"
  exit 77
}
step() { echo "--- $*"; }

# The account files the test must leave as they are.
account_files() {
  local f
  for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/subuid /etc/subgid; do
    [ -e "$f" ] && sha256sum "$f"
  done
  ls -la /etc | grep -E ' (passwd|group|shadow|gshadow|subuid|subgid)[-+.]?' || true
  ls -la /home /var/mail 2>/dev/null || true
}

outer() {
  [ "$(id -u)" -eq 0 ] || skip "making users needs root (uid is $(id -u))"
  local t
  for t in unshare mount useradd groupadd userdel groupdel setpriv python3 mksquashfs siftool; do
    command -v "$t" >/dev/null || skip "$t is missing"
  done
  local work before after rc=0
  work=$(mktemp -d /tmp/sifstore-shared.XXXXXX)
  chmod 755 "$work"
  # shellcheck disable=SC2064  # expanded now: the path to remove
  trap "rm -rf '$work'" EXIT
  before=$(account_files)
  unshare --mount --propagation private -- bash "$self" --inner "$work" || rc=$?
  after=$(account_files)
  if [ "$before" != "$after" ]; then
    diff <(echo "$before") <(echo "$after") >&2 || true
    fail "the machine's own account files changed"
  fi
  echo "the host's account files are unchanged"
  [ $rc -eq 0 ] || fail "the test in the private namespace failed (exit $rc)"
  echo "PASS (shared)"
}

inner() {
  local work=$1
  # A private copy of /etc: useradd writes /etc/passwd+ and renames it, so
  # the whole directory is copied, not single files.
  cp -a /etc "$work/etc"
  mount --bind "$work/etc" /etc
  # Where /etc/default/useradd asks for mail spools, they go to a tmpfs.
  [ -d /var/mail ] && mount -t tmpfs -o mode=2775 tmpfs /var/mail
  # Names of this run (globals: the EXIT trap reads them).
  p="sfs$$"
  team="${p}team" outsider_group="${p}out"
  ua="${p}a" ub="${p}b" uc="${p}c"
  cleanup() {
    local rc=$?
    userdel "$ua" 2>/dev/null || true
    userdel "$ub" 2>/dev/null || true
    userdel "$uc" 2>/dev/null || true
    groupdel "$team" 2>/dev/null || true
    groupdel "$outsider_group" 2>/dev/null || true
    umount /var/mail 2>/dev/null || true
    umount /etc 2>/dev/null || true
    exit $rc
  }
  trap cleanup EXIT
  groupadd "$team"
  groupadd "$outsider_group"
  # -M: no home, -l: no lastlog/faillog entries (outside /etc), -N -g: the
  # primary group given.
  useradd -M -l -N -g "$team" -s /bin/sh "$ua"
  useradd -M -l -N -g "$team" -s /bin/sh "$ub"
  useradd -M -l -N -g "$outsider_group" -s /bin/sh "$uc"
  id "$ua" && id "$ub" && id "$uc"

  local store=$work/store src=$work/src
  # The programs, where the users can run them whatever the build tree's
  # own permissions (a build under /root).
  mkdir -p "$work/bin" "$work/lib/sifstore"
  install -m 755 "$SIFSTORE_EXE" "$work/bin/sifstore"
  # ... with its modules, where it looks for them (core/module.h).
  install -m 644 "$(dirname "$SIFSTORE_EXE")"/../lib/sifstore/*.so "$work/lib/sifstore/"
  install -m 755 "$SIFSTORE_STANDIN" "$work/bin/apptainer"
  SIFSTORE_EXE=$work/bin/sifstore SIFSTORE_STANDIN=$work/bin/apptainer
  # The store as a team's administrator makes it: group-owned, setgid,
  # group-writable, readable by others; config.yaml asks for group sharing.
  mkdir "$store" "$src"
  chgrp "$team" "$store" "$src"
  chmod 2775 "$store" "$src"
  printf 'store:\n  shared: group\n' >"$store/config.yaml"
  local u
  for u in "$ua" "$ub" "$uc"; do
    mkdir -p "$work/home/$u/tmp"
    chown -R "$u" "$work/home/$u"
  done
  # The definition, rewritten by its owners between builds: its path stays
  # (a layer is built from one definition).
  def=$src/app.def
  write_def() { printf 'Bootstrap: scratch\n\n%%post\n    echo %s\n' "$1" >"$def"; chmod 664 "$def"; }

  # as USER UMASK ARGS...: sifstore as USER (its groups from the copied
  # /etc/group), with a clean environment (plus $extra_env).
  extra_env=()
  as() {
    local user=$1 mask=$2
    shift 2
    setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- \
      env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work/home/$user" \
      TMPDIR="$work/home/$user/tmp" APPTAINER_TMPDIR="$work/home/$user/tmp" "${extra_env[@]}" \
      sh -c 'umask "$1"; shift; exec "$@"' umask "$mask" \
      "$SIFSTORE_EXE" --root "$store" "$@"
  }
  build() { as "$1" "$2" build app --def "$def" --builder "$SIFSTORE_STANDIN" -q; }
  active() { readlink "$store/app.sif"; }
  ts_of() { basename "$1" .sif | sed 's/^app-//'; }

  step "A (umask 022) builds app"
  write_def one
  build "$ua" 022 || fail "A's build failed"
  ts1=$(ts_of "$(active)")
  step "B (umask 077) builds app in A's layer directory, taking A's lock and moving A's pointers"
  write_def two
  build "$ub" 077 || fail "B's build of A's layer failed"
  ts2=$(ts_of "$(active)")
  [ "$ts2" != "$ts1" ] || fail "B's build did not make a new build"
  step "A builds again"
  write_def three
  build "$ua" 022 || fail "A's build after B's failed"
  ts3=$(ts_of "$(active)")
  [ "$(find "$store/app" -maxdepth 1 -name 'app-*.sif' | wc -l)" -eq 3 ] || fail "not three builds"

  step "what they made: group-writable files, setgid group directories"
  ls -la "$store" "$store/app"
  local bad
  bad=$(find "$store" -mindepth 1 ! -type l ! -name config.yaml \( ! -perm -g=rw -o ! -group "$team" \) -print)
  [ -z "$bad" ] || fail "not group-readable and -writable, or not the team's: $bad"
  bad=$(find "$store" -mindepth 1 -type d ! -perm -2070 -print)
  [ -z "$bad" ] || fail "directories not setgid and group-searchable: $bad"
  # B's umask keeps others out of what B made; A's lets them read (images
  # are executable, as apptainer makes them).
  [ "$(stat -c %U "$store/app/app-$ts2.sif")" = "$ub" ] || fail "B's image is not B's"
  [ "$(stat -c %a "$store/app/app-$ts2.sif")" = 770 ] || fail "B's image: $(stat -c %a "$store/app/app-$ts2.sif")"
  [ "$(stat -c %a "$store/app/app-$ts1.sif")" = 775 ] || fail "A's image: $(stat -c %a "$store/app/app-$ts1.sif")"

  step "B rolls back A's layer (to B's build), A checks it and holds it for a while"
  as "$ub" 077 rollback app || fail "B's rollback of A's pointers failed"
  [ "$(active)" = "app/app-$ts2.sif" ] || fail "rollback: $(active)"
  as "$ua" 022 check app --hold --until 10s >/dev/null || fail "A's check --hold failed"
  hold=$(find "$store/app" -name ".app-$ts2.hold.*" -printf '%f\n')
  [ -n "$hold" ] || fail "no hold file"
  [ "$(stat -c %U "$store/app/$hold")" = "$ua" ] || fail "the hold is not A's"
  step "A points latest back at A's newest build, moving B's pointers"
  as "$ua" 022 point-latest app "$ts3" || fail "A's point-latest failed"

  step "markers: B marks A's build unverified, A marks it verified; B protects it, A unprotects"
  as "$ub" 077 mark-unverified app "$ts3" --reason "B says so" || fail "B's mark-unverified failed"
  as "$ua" 022 mark-verified app "$ts3" || fail "A's mark-verified over B's marker failed"
  [ ! -e "$store/app/app-$ts3.unverified" ] || fail "B's unverified marker is still there"
  as "$ub" 077 protect app "$ts3" || fail "B's protect failed"
  as "$ua" 022 unprotect app "$ts3" || fail "A's unprotect of B's marker failed"
  [ ! -e "$store/app/app-$ts3.keep" ] || fail "B's keep marker is still there"

  step "B prunes (--retain 0): A's first build goes, B's build held by A stays"
  as "$ub" 077 prune app --retain 0 || fail "B's prune failed"
  [ ! -e "$store/app/app-$ts1.sif" ] || fail "B's prune left A's build $ts1"
  [ -e "$store/app/app-$ts2.sif" ] || fail "B's prune removed the held build $ts2"

  step "waiting for A's hold to expire"
  local i
  for i in $(seq 1 60); do
    as "$ub" 077 holds app | grep -q ' dead ' && break
    sleep 1
  done
  as "$ub" 077 holds app
  as "$ub" 077 holds app | grep -q ' dead ' || fail "A's hold did not expire"

  step "C (outside the group) changes nothing, and is told why"
  listing() {
    find "$store" -printf '%p %y %m %u %g %s %T@ %l\n' | sort
    find "$store" -type f -exec sha256sum {} + | sort
  }
  local before after out
  before=$(listing)
  write_def four
  try_c() {
    local rc=0
    out=$(as "$uc" 022 "$@" 2>&1) || rc=$?
    echo "C: sifstore $*: exit $rc: $out"
    [ $rc -ne 0 ] || fail "C's '$*' succeeded"
    case $out in
      *"sifstore: error: "*"permission denied (needs "*" permission on "*"$store"*) ;;
      *) fail "C's '$*' did not name the file and the right missing: $out" ;;
    esac
  }
  try_c build app --def "$def" --builder "$SIFSTORE_STANDIN" -q
  try_c build other --def "$def" --builder "$SIFSTORE_STANDIN" -q
  try_c prune app --retain 0
  try_c rollback app
  try_c point-latest app "$ts2"
  try_c mark-unverified app "$ts3"
  try_c protect app "$ts3"
  try_c check app --hold
  try_c fsck --repair
  try_c stamp app
  after=$(listing)
  if [ "$before" != "$after" ]; then
    diff <(echo "$before") <(echo "$after") >&2 || true
    fail "C changed the store"
  fi
  echo "the store is unchanged"

  step "B clears A's dead hold (fsck --repair); A prunes B's build"
  as "$ub" 077 fsck --repair || true
  [ ! -e "$store/app/$hold" ] || fail "B's fsck --repair left A's dead hold"
  as "$ua" 022 prune app --retain 0 || fail "A's prune failed"
  [ ! -e "$store/app/app-$ts2.sif" ] || fail "A's prune left B's build $ts2"
  as "$ub" 077 fsck || fail "fsck after the team's work"
  [ "$(active)" = "app/app-$ts3.sif" ] || fail "latest: $(active)"
  echo "the team's store is consistent"

  step "A's build is killed after its builder ran; B clears what it left (reservation, partial files)"
  write_def five
  extra_env=(SIFSTORE_DEBUG_STOP_AT=built)
  build "$ua" 022 &
  local background=$! pid="" state=""
  extra_env=()
  for i in $(seq 1 600); do
    # A's one sifstore (the background job is a subshell around it).
    pid=$(pgrep -u "$ua" -x sifstore || true)
    state=$([ -n "$pid" ] && ps -o stat= -p "$pid" 2>/dev/null || true)
    case $state in T*) break ;; esac
    sleep 0.1
  done
  case $state in T*) ;; *) fail "A's build did not stop at 'built' (state '$state')" ;; esac
  kill -KILL "$pid"
  wait "$background" 2>/dev/null || true
  local debris
  debris=$(find "$store/app" -name '.app-*' ! -name '*.identity' ! -name '*.hold.*' -printf '%f %u\n')
  echo "left by A's killed build: $debris"
  case $debris in *".reserved $ua"*) ;; *) fail "A's killed build left no reservation of A's" ;; esac
  as "$ub" 077 fsck --repair || fail "B's fsck --repair of A's debris failed"
  debris=$(find "$store/app" -name '.app-*' ! -name '*.identity' -printf '%f\n')
  [ -z "$debris" ] || fail "B's fsck --repair left A's debris: $debris"
  as "$ua" 022 fsck || fail "fsck after B's repair"
}

if [ "${1:-}" = --inner ]; then
  inner "$2"
else
  outer
fi
