#!/usr/bin/env bash
# End-to-end: registry bases pinned by digest (issue 19), against a real OCI
# registry (Debian's docker-registry) on 127.0.0.1, with the stand-in builder
# pulling through skopeo and unpacking with umoci.
#
#   registry_test.sh SIFSTORE STANDIN
#
# Test images are made offline: a busybox-static root filesystem with a
# dpkg status file naming one package (testbase=1.0, then 2.0), put into an
# OCI layout with umoci and pushed with skopeo. Each registry gets its own
# port, storage directory and config file, and is stopped at the end, even
# on failure. Needs root (the stand-in runs %post in a chroot); skipped,
# saying why, when root or a tool is missing.
set -euo pipefail

SIFSTORE=$1
STANDIN=$2

skip() { echo "SKIPPED: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (the stand-in's real mode runs %post in a chroot)"
for tool in docker-registry skopeo umoci htpasswd busybox python3 mksquashfs siftool; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps.sh)"
done
BUSYBOX=$(command -v busybox)

WORK=$(mktemp -d /tmp/sifstore-registry-test.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP  # run cleanup on these too
# Background servers die with this script even when it is killed with SIGKILL
# (a ctest timeout): they are started with a parent-death signal.
DIE_WITH_ME=()
if setpriv --help 2>&1 | grep -q -- --pdeathsig; then DIE_WITH_ME=(setpriv --pdeathsig KILL); fi

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
contains() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "$1 lacks: $2"; }; }
lacks() { ! grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "$1 holds: $2"; }; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry NAME [AUTH-YAML [HTTP-YAML]] -> sets PORT; the registry's log
# in $WORK/NAME.log. AUTH-YAML: the lines of an `auth:` section; HTTP-YAML:
# more lines of the `http:` section (tls).
start_registry() {
  local name=$1 auth=${2:-} http=${3:-}
  PORT=$(free_port)
  mkdir -p "$WORK/$name/storage"
  {
    echo "version: 0.1"
    echo "log: {level: warn}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $WORK/$name/storage}"
    echo "  delete: {enabled: true}"
    echo "http:"
    echo "  addr: 127.0.0.1:$PORT"
    [ -z "$http" ] || echo "$http"
    if [ -n "$auth" ]; then
      echo "auth:"
      echo "$auth"
    fi
  } >"$WORK/$name/config.yml"
  "${DIE_WITH_ME[@]}" docker-registry serve "$WORK/$name/config.yml" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK/$name.log"
  fail "registry $name did not start on port $PORT"
}

# make_image DIR VERSION: an OCI layout DIR:img with busybox and testbase=VERSION
make_image() {
  local dir=$1 version=$2 root=$WORK/root-$2
  mkdir -p "$root/bin" "$root/var/lib/dpkg" "$root/etc" "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  for app in sh cat echo ls mkdir rm cp true test env; do ln -sf busybox "$root/bin/$app"; done
  printf 'Package: testbase\nStatus: install ok installed\nVersion: %s\nArchitecture: amd64\n\n' \
    "$version" >"$root/var/lib/dpkg/status"
  echo "base $version" >"$root/etc/base-version"
  umoci init --layout "$dir"
  umoci new --image "$dir:img"
  umoci insert --image "$dir:img" "$root" /
}

push() {  # push LAYOUT REF [skopeo args]
  local layout=$1 ref=$2
  shift 2
  skopeo copy --quiet --dest-tls-verify=false "$@" "oci:$layout:img" "docker://$ref"
}

digest_of() {  # digest_of REF [skopeo args]
  local ref=$1
  shift
  echo "sha256:$(skopeo inspect --raw --tls-verify=false "$@" "docker://$ref" | sha256sum | cut -d' ' -f1)"
}

snapshot() { (cd "$ROOT" && find . -printf '%p %s %T@\n' 2>/dev/null | sort) >"$1" || true; }

make_image "$WORK/v1" 1.0
make_image "$WORK/v2" 2.0

export HOME=$WORK/home
mkdir -p "$HOME"
unset APPTAINER_DOCKER_USERNAME APPTAINER_DOCKER_PASSWORD DOCKER_CONFIG SIFSTORE_OFFLINE
ROOT=$WORK/store
SIF=("$SIFSTORE" --root "$ROOT")
# The builder's own words: --builder-arg where sifstore's --build-arg means
# Apptainer's KEY=VALUE build arguments, else --build-arg.
BARG=--build-arg
if "$SIFSTORE" build --help | grep -q -- --builder-arg; then BARG=--builder-arg; fi
# --rebuild: these builds repeat the same inputs (other credentials, the
# builder failing to pull) and must run the builder each time, not reuse.
BUILD=(--builder "$STANDIN" "$BARG=--no-https" -q --rebuild)

# --- plain HTTP: a layer FROM a tag --------------------------------------------------
start_registry plain
HOST=127.0.0.1:$PORT
push "$WORK/v1" "$HOST/test/base:v1"
D1=$(digest_of "$HOST/test/base:v1")

mkdir -p "$WORK/proj"
cat >"$WORK/proj/app.def" <<DEF
Bootstrap: docker
From: $HOST/test/base:v1

%post
    echo built > /built
DEF

start=$(date +%s.%N)
"${SIF[@]}" build app --def "$WORK/proj/app.def" "${BUILD[@]}" >"$WORK/build1.out" 2>&1 ||
  { cat "$WORK/build1.out"; fail "build from a tag"; }
end=$(date +%s.%N)
TS1=$(sed -n 's/.*built app-\([0-9-]*\):.*/\1/p' "$WORK/build1.out")
[ -n "$TS1" ] || { cat "$WORK/build1.out"; fail "no ts in build output"; }
LOCK1=$ROOT/app/app-$TS1.lock
DEF1=$ROOT/app/app-$TS1.def
contains "$LOCK1" "# base-image: docker://$HOST/test/base@$D1"
contains "$LOCK1" "# base-tag: docker://$HOST/test/base:v1"
contains "$LOCK1" "# registry-no-https: --no-https"
contains "$LOCK1" "testbase=1.0"
contains "$DEF1" "From: $HOST/test/base@$D1"
lacks "$DEF1" "From: $HOST/test/base:v1"
contains "$ROOT/app/app-$TS1.build.log" "-> docker://$HOST/test/base@$D1 (resolved in"
# The builder was handed the digest, and Apptainer 1.5's labels name it.
"$SIFSTORE" inspect "$ROOT/app/app-$TS1.sif" >"$WORK/inspect1.out"
contains "$WORK/inspect1.out" "From: $HOST/test/base@$D1"
pass "a layer FROM a tag: lock, locked def and the builder's def name $D1"
grep "resolved in" "$ROOT/app/app-$TS1.build.log" | sed 's/^/  /'
echo "  whole build: $(python3 -c "print(round($end - $start, 2))") s"

# `lock def` of the rough def and the lock pins the same digest.
"$SIFSTORE" lock def "$WORK/proj/app.def" "$LOCK1" >"$WORK/lockdef.out"
contains "$WORK/lockdef.out" "From: $HOST/test/base@$D1"
pass "lock def pins the digest the lock records"

# A From: with a build argument is pinned once the argument is rendered.
sed "s|test/base:v1|test/base:{{ TAG }}|" "$WORK/proj/app.def" >"$WORK/proj/templated.def"
"${SIF[@]}" build templated --def "$WORK/proj/templated.def" --build-arg TAG=v1 "${BUILD[@]}" \
  >"$WORK/templated.out" 2>&1 || { cat "$WORK/templated.out"; fail "templated build"; }
TTS0=$(sed -n 's/.*built templated-\([0-9-]*\):.*/\1/p' "$WORK/templated.out")
contains "$ROOT/templated/templated-$TTS0.lock" "# base-image: docker://$HOST/test/base@$D1"
contains "$ROOT/templated/templated-$TTS0.def" "From: $HOST/test/base@$D1"
pass "a From: with {{ TAG }} is pinned after rendering"

# --- a multi-platform image: the digest of its image index is pinned ------------------
# An OCI index naming v2's manifest for linux/arm64, then v1's for linux/amd64.
python3 - "$WORK/v1" "$WORK/v2" <<'PY'
import hashlib, json, os, shutil, sys
v1, v2 = sys.argv[1:3]
def manifest_of(layout):
    for m in json.load(open(layout + "/index.json"))["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "img":
            return m
for name in os.listdir(v2 + "/blobs/sha256"):
    shutil.copyfile(v2 + "/blobs/sha256/" + name, v1 + "/blobs/sha256/" + name)
entries = []
for layout, arch in ((v2, "arm64"), (v1, "amd64")):  # not the first entry
    m = manifest_of(layout)
    entries.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                    "platform": {"architecture": arch, "os": "linux"}})
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": entries}).encode()
digest = hashlib.sha256(index).hexdigest()
open(v1 + "/blobs/sha256/" + digest, "wb").write(index)
top = json.load(open(v1 + "/index.json"))
top["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                         "digest": "sha256:" + digest, "size": len(index),
                         "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(top, open(v1 + "/index.json", "w"))
PY
skopeo copy --quiet --all --dest-tls-verify=false "oci:$WORK/v1:multi" "docker://$HOST/test/multi:1"
MD=$(digest_of "$HOST/test/multi:1")
skopeo inspect --raw --tls-verify=false "docker://$HOST/test/multi:1" | grep -q "image.index" ||
  fail "the pushed tag does not name an index"
sed "s|test/base:v1|test/multi:1|" "$WORK/proj/app.def" >"$WORK/proj/multi.def"
"${SIF[@]}" build multi --def "$WORK/proj/multi.def" "${BUILD[@]}" >"$WORK/multi.out" 2>&1 ||
  { cat "$WORK/multi.out"; fail "build from an image index"; }
MTS=$(sed -n 's/.*built multi-\([0-9-]*\):.*/\1/p' "$WORK/multi.out")
contains "$ROOT/multi/multi-$MTS.lock" "# base-image: docker://$HOST/test/multi@$MD"
contains "$ROOT/multi/multi-$MTS.lock" "testbase=1.0"  # the amd64 image of the index
contains "$ROOT/multi/multi-$MTS.def" "From: $HOST/test/multi@$MD"
"${SIF[@]}" verify multi --builder "$STANDIN" -q >"$WORK/multi-verify.out" 2>&1 ||
  { cat "$WORK/multi-verify.out"; fail "verify of the index build"; }
pass "a multi-platform image: the index's digest $MD is pinned; the builder took its platform"

# --- Bootstrap: oras: a SIF stored in the registry, pinned the same way ---------------
# The layout `apptainer push oras://` makes: one layer of type
# application/vnd.sylabs.sif.layer.v1.sif, config application/vnd.sylabs.sif.config.v1+json.
python3 - "$WORK/sif-artifact" "$ROOT/app/app-$TS1.sif" <<'PY'
import hashlib, json, os, sys
layout, sif = sys.argv[1:3]
os.makedirs(layout + "/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(layout + "/blobs/sha256/" + d, "wb").write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": dict(mediaType="application/vnd.sylabs.sif.config.v1+json", **blob(b"{}")),
            "layers": [dict(mediaType="application/vnd.sylabs.sif.layer.v1.sif",
                            annotations={"org.opencontainers.image.title": "image.sif"},
                            **blob(open(sif, "rb").read()))]}
m = blob(json.dumps(manifest).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(
    mediaType="application/vnd.oci.image.manifest.v1+json",
    annotations={"org.opencontainers.image.ref.name": "img"}, **m)]},
    open(layout + "/index.json", "w"))
open(layout + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
PY
push "$WORK/sif-artifact" "$HOST/sif/app:1"
OD=$(digest_of "$HOST/sif/app:1")
printf 'Bootstrap: oras\nFrom: %s/sif/app:1\n\n%%post\n    echo oras > /oras\n' "$HOST" \
  >"$WORK/proj/oras.def"
"${SIF[@]}" build orasapp --def "$WORK/proj/oras.def" "${BUILD[@]}" >"$WORK/oras.out" 2>&1 ||
  { cat "$WORK/oras.out"; fail "build from an oras SIF"; }
OTS=$(sed -n 's/.*built orasapp-\([0-9-]*\):.*/\1/p' "$WORK/oras.out")
contains "$ROOT/orasapp/orasapp-$OTS.lock" "# base-image: oras://$HOST/sif/app@$OD"
contains "$ROOT/orasapp/orasapp-$OTS.lock" "# base-tag: oras://$HOST/sif/app:1"
contains "$ROOT/orasapp/orasapp-$OTS.lock" "testbase=1.0"
contains "$ROOT/orasapp/orasapp-$OTS.def" "From: $HOST/sif/app@$OD"
"${SIF[@]}" verify orasapp --builder "$STANDIN" -q >"$WORK/oras-verify.out" 2>&1 ||
  { cat "$WORK/oras-verify.out"; fail "verify of the oras build"; }
contains "$WORK/oras-verify.out" "verified: version sets identical"
pass "Bootstrap: oras pinned to $OD; verify rebuilds it .verified"

# --- the tag moves; verify of the old build rebuilds from the digest ----------------
push "$WORK/v2" "$HOST/test/base:v1"
D2=$(digest_of "$HOST/test/base:v1")
[ "$D1" != "$D2" ] || fail "the moved tag names the same digest"
"${SIF[@]}" verify app "$TS1" --builder "$STANDIN" -q >"$WORK/verify.out" 2>&1 ||
  { cat "$WORK/verify.out"; fail "verify of the old build"; }
contains "$WORK/verify.out" "verified: version sets identical"
[ -f "$ROOT/app/app-$TS1.verified" ] || fail "no .verified marker"
pass "the tag moved to $D2; verify of the old build rebuilt from $D1 and is .verified"

# --- outdated reports the layer before the new build ---------------------------------
"${SIF[@]}" outdated >"$WORK/outdated-none.out" 2>&1 && status=0 || status=$?

[ "$status" -eq 1 ] || { cat "$WORK/outdated-none.out"; fail "outdated exit $status, want 1"; }
grep -qE "^app +base +docker://$HOST/test/base:v1 " "$WORK/outdated-none.out" ||
  { cat "$WORK/outdated-none.out"; fail "outdated does not list app"; }
contains "$WORK/outdated-none.out" "${D1:0:19}"
contains "$WORK/outdated-none.out" "${D2:0:19}"
"${SIF[@]}" outdated app --json >"$WORK/outdated.json" 2>&1 && status=0 || status=$?
[ "$status" -eq 1 ] || { cat "$WORK/outdated.json"; fail "outdated --json exit $status"; }
python3 - "$WORK/outdated.json" "$D1" "$D2" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
assert len(e) == 1 and e[0]["outdated"] and e[0]["current"] == sys.argv[2] and \
    e[0]["latest"] == sys.argv[3] and e[0]["stage"] == "base", e
PY
pass "outdated reports app (base $D1 -> $D2)"

# --- a new build takes the new digest; lock diff shows the base change ---------------
"${SIF[@]}" build app --def "$WORK/proj/app.def" "${BUILD[@]}" >"$WORK/build2.out" 2>&1 ||
  { cat "$WORK/build2.out"; fail "second build"; }
TS2=$(sed -n 's/.*built app-\([0-9-]*\):.*/\1/p' "$WORK/build2.out")
LOCK2=$ROOT/app/app-$TS2.lock
contains "$LOCK2" "# base-image: docker://$HOST/test/base@$D2"
contains "$ROOT/app/app-$TS2.def" "From: $HOST/test/base@$D2"
set +e
"$SIFSTORE" lock diff "$LOCK1" "$LOCK2" >"$WORK/diff.out" 2>&1
status=$?
set -e
[ "$status" -eq 1 ] || { cat "$WORK/diff.out"; fail "lock diff exit $status, want 1"; }
contains "$WORK/diff.out" "base changed:"
contains "$WORK/diff.out" "docker://$HOST/test/base@$D1"
contains "$WORK/diff.out" "docker://$HOST/test/base@$D2"
contains "$WORK/diff.out" "dpkg:testbase"
pass "a new build takes $D2; lock diff shows the base change"
"${SIF[@]}" outdated app >"$WORK/outdated-after.out" 2>&1 ||
  { cat "$WORK/outdated-after.out"; fail "outdated after the new build"; }
[ ! -s "$WORK/outdated-after.out" ] || { cat "$WORK/outdated-after.out"; fail "outdated printed"; }
"${SIF[@]}" outdated app --json >"$WORK/outdated2.json"
python3 -c "import json,sys; e=json.load(open(sys.argv[1])); assert len(e)==1 and not e[0]['outdated'], e" \
  "$WORK/outdated2.json"
pass "outdated no longer reports app after the new build"

# --- failures: nothing built, the store unchanged -------------------------------------
expect_failure() {  # expect_failure NAME TEXT... -- command
  local name=$1
  shift
  local want=()
  while [ "$1" != "--" ]; do want+=("$1"); shift; done
  shift
  snapshot "$WORK/before"
  set +e
  "$@" >"$WORK/$name.out" 2>&1
  local status=$?
  set -e
  [ "$status" -eq 1 ] || { cat "$WORK/$name.out"; fail "$name: exit $status, want 1"; }
  for w in "${want[@]}"; do contains "$WORK/$name.out" "$w"; done
  grep "sifstore: error" "$WORK/$name.out" | sed 's/^/  /'
  snapshot "$WORK/after"
  diff "$WORK/before" "$WORK/after" || fail "$name changed the store"
}
sed "s|test/base:v1|test/base:nosuchtag|" "$WORK/proj/app.def" >"$WORK/proj/notag.def"
expect_failure notag "sifstore: error: cannot resolve docker://$HOST/test/base:nosuchtag" \
  "at registry $HOST" "HTTP 404" -- \
  "${SIF[@]}" build notag --def "$WORK/proj/notag.def" "${BUILD[@]}"
pass "a tag that does not exist: error names registry, reference and HTTP 404; store unchanged"

DEAD=$(free_port)
sed "s|$HOST|127.0.0.1:$DEAD|" "$WORK/proj/app.def" >"$WORK/proj/dead.def"
expect_failure dead "cannot resolve docker://127.0.0.1:$DEAD/test/base:v1 at registry 127.0.0.1:$DEAD" -- \
  "${SIF[@]}" build dead --def "$WORK/proj/dead.def" "${BUILD[@]}"
pass "an unreachable registry: clear error; store unchanged"

expect_failure https "needs --no-https" -- \
  "${SIF[@]}" build app --def "$WORK/proj/app.def" --builder "$STANDIN" -q
pass "HTTPS to a plain-HTTP registry: error says --no-https"

# --- offline ---------------------------------------------------------------------------
SIFSTORE_OFFLINE=1 "${SIF[@]}" build app --def "$WORK/proj/app.def" "${BUILD[@]}" \
  >"$WORK/offline.out" 2>&1 || { cat "$WORK/offline.out"; fail "offline build"; }
TS3=$(sed -n 's/.*built app-\([0-9-]*\):.*/\1/p' "$WORK/offline.out")
contains "$ROOT/app/app-$TS3.lock" "# base-image: docker://$HOST/test/base@$D2"
contains "$ROOT/app/app-$TS3.lock" "# base-pinned-by: image labels"
contains "$ROOT/app/app-$TS3.def" "From: $HOST/test/base@$D2"
lacks "$WORK/offline.out" "warning"
pass "offline with Apptainer 1.5's labels: the digest comes from the image"

SIFSTORE_STANDIN_NO_BASE_LABELS=1 "${SIF[@]}" build app --offline --def "$WORK/proj/app.def" \
  "${BUILD[@]}" >"$WORK/offline2.out" 2>&1 || { cat "$WORK/offline2.out"; fail "offline build"; }
TS4=$(sed -n 's/.*built app-\([0-9-]*\):.*/\1/p' "$WORK/offline2.out")
contains "$ROOT/app/app-$TS4.lock" "# base-unpinned: docker://$HOST/test/base:v1 (offline: not resolved)"
lacks "$ROOT/app/app-$TS4.lock" "# base-image:"
contains "$ROOT/app/app-$TS4.def" "From: $HOST/test/base:v1"
contains "$WORK/offline2.out" "sifstore: warning:"
contains "$WORK/offline2.out" "is not pinned (offline: not resolved)"
pass "offline without labels: the lock says unpinned and build warns"
"${SIF[@]}" outdated app >"$WORK/outdated-unpinned.out" 2>&1 ||
  { cat "$WORK/outdated-unpinned.out"; fail "outdated of an unpinned build"; }
contains "$WORK/outdated-unpinned.out" "docker://$HOST/test/base:v1  unpinned"
pass "outdated says the active build's base is unpinned"

# --- basic auth (htpasswd) --------------------------------------------------------------
htpasswd -Bbc "$WORK/htpasswd" alice s3cret-pw >/dev/null 2>&1
start_registry auth "  htpasswd: {realm: sifstore-test, path: $WORK/htpasswd}"
AHOST=127.0.0.1:$PORT
push "$WORK/v1" "$AHOST/private/base:1" --dest-creds alice:s3cret-pw
AD=$(digest_of "$AHOST/private/base:1" --creds alice:s3cret-pw)
sed "s|$HOST/test/base:v1|$AHOST/private/base:1|" "$WORK/proj/app.def" >"$WORK/proj/private.def"
auth_b64=$(printf 'alice:s3cret-pw' | base64)

expect_failure anonymous "at registry $AHOST" "HTTP 401" "wants credentials" -- \
  "${SIF[@]}" build private --def "$WORK/proj/private.def" "${BUILD[@]}"
pass "basic auth, no credentials: error names the registry and HTTP 401"

APPTAINER_DOCKER_USERNAME=alice APPTAINER_DOCKER_PASSWORD=s3cret-pw \
  "${SIF[@]}" build private --def "$WORK/proj/private.def" "${BUILD[@]}" >"$WORK/auth-env.out" 2>&1 ||
  { cat "$WORK/auth-env.out"; fail "build with credentials from the environment"; }
pass "basic auth, credentials from \$APPTAINER_DOCKER_USERNAME/PASSWORD"

mkdir -p "$HOME/.apptainer"
echo "{\"auths\": {\"$AHOST\": {\"auth\": \"$auth_b64\"}}}" >"$HOME/.apptainer/docker-config.json"
"${SIF[@]}" build private --def "$WORK/proj/private.def" "${BUILD[@]}" >"$WORK/auth-file.out" 2>&1 ||
  { cat "$WORK/auth-file.out"; fail "build with Apptainer's login file"; }
rm "$HOME/.apptainer/docker-config.json"
pass "basic auth, credentials from ~/.apptainer/docker-config.json"

mkdir -p "$HOME/.docker"
echo "{\"auths\": {\"http://$AHOST/v2/\": {\"auth\": \"$auth_b64\"}}}" >"$HOME/.docker/config.json"
# SifStore resolves with Docker's config; the stand-in, like Apptainer, pulls
# only with its own sources, so it is told the file with --authfile.
"${SIF[@]}" build private --def "$WORK/proj/private.def" "${BUILD[@]}" \
  "$BARG=--authfile=$HOME/.docker/config.json" >"$WORK/auth-docker.out" 2>&1 ||
  { cat "$WORK/auth-docker.out"; fail "build with Docker's config"; }
snapshot "$WORK/before"
set +e
"${SIF[@]}" build private --def "$WORK/proj/private.def" "${BUILD[@]}" >"$WORK/auth-docker2.out" 2>&1
set -e
contains "$WORK/auth-docker2.out" "build of private failed"  # resolved; the builder could not pull
lacks "$WORK/auth-docker2.out" "cannot resolve"
grep -h "resolved in" "$ROOT"/private/*.build.log | grep -qF "$AD" || fail "no resolution logged"
pass "basic auth, credentials from ~/.docker/config.json (and --authfile)"
rm "$HOME/.docker/config.json"

expect_failure wrongpw "at registry $AHOST" "HTTP 401" \
  "refused the credentials from \$APPTAINER_DOCKER_USERNAME" -- \
  env APPTAINER_DOCKER_USERNAME=alice APPTAINER_DOCKER_PASSWORD=wrong \
  "${SIF[@]}" build private --def "$WORK/proj/private.def" "${BUILD[@]}"
lacks "$WORK/wrongpw.out" "wrong"
pass "a wrong password: error names the registry and HTTP 401, never the password; store unchanged"

for f in "$ROOT"/*/*.lock "$ROOT"/*/*.def "$ROOT"/*/*.build.log; do
  lacks "$f" "s3cret-pw"
  lacks "$f" "$auth_b64"
done
pass "no credential in any lock, def or log"

# --- anonymous bearer tokens (the distribution spec's token authentication) ----------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/token.key" -out "$WORK/token.crt" \
  -days 2 -subj /CN=sifstore-test-token >/dev/null 2>&1
TPORT=$(free_port)
"${DIE_WITH_ME[@]}" python3 "$(dirname "$0")/token_server.py" "$TPORT" "$WORK/token.key" "$WORK/token.crt" \
  sifstore-test-issuer "$WORK/token-requests.log" >"$WORK/token-server.log" 2>&1 &
PIDS+=($!)
start_registry token "  token:
    realm: http://127.0.0.1:$TPORT/token
    service: sifstore-test-registry
    issuer: sifstore-test-issuer
    rootcertbundle: $WORK/token.crt"
THOST=127.0.0.1:$PORT
push "$WORK/v1" "$THOST/public/base:1"
TD=$(digest_of "$THOST/public/base:1")
: >"$WORK/token-requests.log"
sed "s|$HOST/test/base:v1|$THOST/public/base:1|" "$WORK/proj/app.def" >"$WORK/proj/public.def"
"${SIF[@]}" build public --def "$WORK/proj/public.def" "${BUILD[@]}" >"$WORK/token-build.out" 2>&1 ||
  { cat "$WORK/token-build.out" "$WORK/token-requests.log"; fail "build through the token flow"; }
TTS=$(sed -n 's/.*built public-\([0-9-]*\):.*/\1/p' "$WORK/token-build.out")
contains "$ROOT/public/public-$TTS.lock" "# base-image: docker://$THOST/public/base@$TD"
# sifstore's request came first: anonymous, with the service and scope the 401 named.
head -1 "$WORK/token-requests.log" >"$WORK/token-first.log"
contains "$WORK/token-first.log" '"service": "sifstore-test-registry"'
contains "$WORK/token-first.log" '"scope": ["repository:public/base:pull"]'
contains "$WORK/token-first.log" '"authorization": false'
pass "anonymous bearer token flow: service and scope from WWW-Authenticate, no credentials"
grep -h "resolved in" "$ROOT/public/public-$TTS.build.log" | sed 's/^/  token flow: /'

# --- TLS with a CA made for the test ---------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.crt" -days 2 \
  -subj /CN=sifstore-test-ca >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout "$WORK/srv.key" -out "$WORK/srv.csr" \
  -subj /CN=127.0.0.1 >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  >"$WORK/srv.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
  -CAcreateserial -out "$WORK/srv.crt" -days 2 -extfile "$WORK/srv.ext" >/dev/null 2>&1
start_registry tls "" "  tls:
    certificate: $WORK/srv.crt
    key: $WORK/srv.key"
SHOST=127.0.0.1:$PORT
push "$WORK/v1" "$SHOST/secure/base:1"
SD=$(digest_of "$SHOST/secure/base:1")
sed "s|$HOST/test/base:v1|$SHOST/secure/base:1|" "$WORK/proj/app.def" >"$WORK/proj/secure.def"
expect_failure untrusted "cannot resolve docker://$SHOST/secure/base:1 at registry $SHOST" \
  "certificate" -- "${SIF[@]}" build secure --def "$WORK/proj/secure.def" --builder "$STANDIN" -q
pass "TLS with an unknown CA: clear error; store unchanged"
SSL_CERT_FILE=$WORK/ca.crt "${SIF[@]}" build secure --def "$WORK/proj/secure.def" \
  --builder "$STANDIN" -q >"$WORK/tls.out" 2>&1 || { cat "$WORK/tls.out"; fail "TLS build"; }
STS=$(sed -n 's/.*built secure-\([0-9-]*\):.*/\1/p' "$WORK/tls.out")
contains "$ROOT/secure/secure-$STS.lock" "# base-image: docker://$SHOST/secure/base@$SD"
lacks "$ROOT/secure/secure-$STS.lock" "registry-no-https"
SSL_CERT_FILE=$WORK/ca.crt "${SIF[@]}" outdated secure >"$WORK/tls-outdated.out" 2>&1 ||
  { cat "$WORK/tls-outdated.out"; fail "outdated over TLS"; }
pass "TLS trusted through \$SSL_CERT_FILE: built from $SD, outdated reaches it too"
grep -h "resolved in" "$ROOT/secure/secure-$STS.build.log" | sed 's/^/  TLS: /'
echo "PASS"
