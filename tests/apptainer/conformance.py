#!/usr/bin/env python3
"""Conformance of the stand-in builder with a real Apptainer.

The same small definitions (tests/apptainer/defs/) are built by a builder
and what SifStore and its tests rely on is observed in the result: the SIF
objects (types, groups, names, the primary partition), the /.singularity.d
tree (labels.json keys, environment scripts, runscript, help, the stored
def, bootstrap history), %files copies (globs, directories, destinations),
localimage stacking, the package set of a debootstrap base, %environment and
`exec --cleanenv`, and the version-driven differences (`build --build-arg`).

Usage:
  conformance.py compare [--debootstrap]   real Apptainer against the stand-in
  conformance.py standin [--debootstrap]   the stand-in against expected/*.json
  conformance.py record  [--debootstrap]   writes expected/*.json from a real one

The real Apptainer is $SIFSTORE_REAL_APPTAINER, else an `apptainer` on PATH
that is not the stand-in. Without one, `compare` and `record` print why and
exit 77 (ctest SKIP_RETURN_CODE). The stand-in imitates the release the
expected results were recorded from (SIFSTORE_STANDIN_VERSION). The
debootstrap case needs root and debootstrap (else it is skipped, exit 77)
and the Debian mirror of the machine's apt sources.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "..", "standin", "apptainer")
DEFS = os.path.join(HERE, "defs")
EXPECTED = os.path.join(HERE, "expected")
SKIP = 77

# Cases built from scratch (fast, everywhere), in order: later ones stack on
# earlier ones' images (localimage).
SCRATCH_CASES = ("scratch_meta", "files", "localimage")
DEBOOTSTRAP_CASE = "debootstrap"

# Labels whose values change from build to build or name the builder's release.
VOLATILE_LABELS = ("org.label-schema.build-date", "org.label-schema.usage.apptainer.version")
# Host variables exec is run with (so that the result does not depend on the
# machine): one of them passed through only without --cleanenv, LC_ALL
# overridden by %environment, LANG and TERM as the host's.
HOST_ENV = {"SIFSTORE_CONFORMANCE_HOST": "from-host", "LC_ALL": "POSIX", "LANG": "en_US.UTF-8",
            "TERM": "xterm-conformance"}


def skip(why):
    print("SKIPPED: " + why)
    sys.exit(SKIP)


def real_apptainer():
    named = os.environ.get("SIFSTORE_REAL_APPTAINER", "")
    if named:
        path = shutil.which(named)
        if not path:
            print("SIFSTORE_REAL_APPTAINER=%s: no such program" % named, file=sys.stderr)
            sys.exit(1)
        return path
    for d in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(d, "apptainer")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            with open(path, "rb") as f:
                if b"stand-in" in f.read(4096):
                    continue  # tests/standin on PATH
            return path
    return None


def run(argv, cwd, env=None, check=True):
    r = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                     r.stderr))
    return r


# --- observations -------------------------------------------------------------------


def sif_objects(sif):
    rows = []
    for line in run(["siftool", "list", sif], "/").stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            rows.append(cells)
    objects, primary = [], None
    for ident, group, link, position, kind in rows:
        info = run(["siftool", "info", ident, sif], "/").stdout
        name = re.search(r"^\s*Name:\s*(.*)$", info, re.M)
        objects.append({"id": int(ident), "group": group, "link": link, "type": kind,
                        "name": name.group(1).strip() if name else ""})
        if kind.startswith("FS (") and "*System" in kind and primary is None:
            primary = {"id": int(ident), "offset": int(position.split("-")[0])}
    return objects, primary


def extract(sif, into):
    objects, primary = sif_objects(sif)
    run(["unsquashfs", "-no-progress", "-d", into, "-o", str(primary["offset"]), sif], "/")
    return objects, primary


def script_body(path):
    """A script's lines without comments and blank lines (Apptainer's carry
    its licence header; what runs is what counts)."""
    if not os.path.isfile(path):
        return None
    with open(path, errors="replace") as f:
        return [l.rstrip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def text_of(path):
    if not os.path.isfile(path):
        return None
    with open(path, errors="replace") as f:
        return f.read()


def tree_of(root, top):
    """Paths below root/top with their kind (f, d, l -> target)."""
    out = {}
    base = os.path.join(root, top)
    for dirpath, dirnames, filenames in os.walk(base):
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "l " + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = "d"
            else:
                out[rel] = "f"
    return out


def observe_image(sif, root, case):
    objects, primary = extract(sif, root)
    sd = os.path.join(root, ".singularity.d")
    with open(os.path.join(sd, "labels.json")) as f:
        labels = json.load(f)
    meta = json.loads(run(["siftool", "dump", "2", sif], "/").stdout)
    obs = {
        "sif.objects": [{k: o[k] for k in ("id", "group", "link", "type", "name")}
                        for o in objects],
        "sif.primary partition": primary["id"],
        "sif.def object": run(["siftool", "dump", "1", sif], "/").stdout,
        "sif.metadata attributes": sorted(meta["data"]["attributes"]),
        "labels.json keys": sorted(labels),
        "labels.json values": {k: v for k, v in labels.items() if k not in VOLATILE_LABELS},
        "/.singularity.d tree": tree_of(root, ".singularity.d"),
        "top-level entries": {k: v for k, v in tree_of(root, ".").items()
                              if "/" not in k and not k.startswith("opt")} if case != DEBOOTSTRAP_CASE
        else sorted(k for k in tree_of(root, ".") if "/" not in k and k.startswith(".")),
        "env scripts": {os.path.basename(p): script_body(p)
                        for p in sorted(glob.glob(os.path.join(sd, "env", "*.sh")))
                        if os.path.basename(p) in ("90-environment.sh", "94-appsbase.sh")},
        "runscript": text_of(os.path.join(sd, "runscript")),
        "runscript.help": text_of(os.path.join(sd, "runscript.help")),
        "stored def": text_of(os.path.join(sd, "Singularity")),
        "bootstrap_history": {os.path.basename(p): text_of(p) for p in
                              sorted(glob.glob(os.path.join(sd, "bootstrap_history", "*")))},
    }
    if case != DEBOOTSTRAP_CASE:
        copied = dict(tree_of(root, "opt"), **tree_of(root, "data"))
        obs["%files tree (/opt, /data)"] = copied
        obs["%files contents"] = {rel: text_of(os.path.join(root, rel))
                                  for rel, kind in copied.items() if kind == "f"}
    return obs


def exec_env(builder, sif, cwd, cleanenv):
    env = dict(os.environ)
    env.update(HOST_ENV)
    argv = [builder, "exec"] + (["--cleanenv"] if cleanenv else []) + [sif, "/usr/bin/env"]
    out = run(argv, cwd, env=env).stdout
    values = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
    # What SifStore's exec capture relies on: the image's PATH, %environment
    # winning over the host, host variables kept or dropped.
    return {k: values.get(k) for k in ("PATH", "LC_ALL", "SIFSTORE_CONFORMANCE_HOST", "LANG",
                                       "HOME", "TERM")}


def dpkg_packages(root):
    out = run(["dpkg-query", "--admindir=" + os.path.join(root, "var/lib/dpkg"), "-W",
               "-f", "${Package} ${Status}\\n"], "/").stdout
    return sorted(l.split()[0] for l in out.splitlines() if l.endswith("installed"))


def prepare(work):
    """The build directory: the defs and the %files sources."""
    for p in glob.glob(os.path.join(DEFS, "*.def")):
        shutil.copy(p, work)
    shutil.copytree(os.path.join(DEFS, "data"), os.path.join(work, "data"), symlinks=True)
    mirror = os.environ.get("SIFSTORE_CONFORMANCE_MIRROR") or host_mirror()
    path = os.path.join(work, DEBOOTSTRAP_CASE + ".def")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("@MIRROR@", mirror or "http://deb.debian.org/debian"))


def host_mirror():
    """The stand-in's own reading of the machine's apt sources."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("standin", STANDIN)
    spec = importlib.util.spec_from_loader("standin", loader)
    module = importlib.util.module_from_spec(spec)
    sys.dont_write_bytecode = True
    loader.exec_module(module)
    return module.host_apt_mirror("bookworm")


def version_facts(builder, work, env):
    r = run([builder, "--version"], work, env=env)
    b = run([builder, "build", "--build-arg", "x=1", "ba.sif", "scratch_meta.def"], work, env=env,
            check=False)
    return {"build --build-arg": "unknown flag" if "unknown flag: --build-arg" in b.stderr
            else "accepted (exit %d)" % b.returncode,
            "version line": re.sub(r"\d+\.\d+\.\d+\S*", "X.Y.Z", r.stdout.strip())}


def observe(builder, work, env, debootstrap):
    """{case: observation} for one builder, built in work."""
    results = {}
    for case in SCRATCH_CASES:
        sif = os.path.join(work, case + ".sif")
        run([builder, "build", "-F", sif, case + ".def"], work, env=env)
        results[case] = observe_image(sif, os.path.join(work, case + ".root"), case)
    results["version"] = version_facts(builder, work, env)
    if debootstrap:
        sif = os.path.join(work, DEBOOTSTRAP_CASE + ".sif")
        run([builder, "build", "-F", sif, DEBOOTSTRAP_CASE + ".def"], work, env=env)
        root = os.path.join(work, DEBOOTSTRAP_CASE + ".root")
        obs = observe_image(sif, root, DEBOOTSTRAP_CASE)
        obs["debootstrap packages"] = dpkg_packages(root)
        obs["exec env"] = exec_env(builder, sif, work, False)
        obs["exec --cleanenv env"] = exec_env(builder, sif, work, True)
        results[DEBOOTSTRAP_CASE] = obs
    return results


def normalise(results, work):
    """Paths of the build directory are written as @WORK@."""
    text = json.dumps(results, sort_keys=True, indent=1)
    return json.loads(text.replace(work, "@WORK@"))


def build_all(builder, env, debootstrap):
    work = tempfile.mkdtemp(prefix="conformance-")
    try:
        prepare(work)
        return normalise(observe(builder, work, env, debootstrap), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- comparison ---------------------------------------------------------------------


def short(value):
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def compare(real, standin, real_name):
    """Prints the table; returns the differing checks."""
    rows, differ = [], []
    for case in sorted(real):
        for check in sorted(real[case]):
            a, b = real[case][check], standin.get(case, {}).get(check)
            same = a == b
            rows.append((case + ": " + check, short(a), short(b), "yes" if same else "NO"))
            if not same:
                differ.append((case, check, a, b))
    print("| check | %s | stand-in | equal? |" % real_name)
    print("|---|---|---|---|")
    for row in rows:
        print("| %s |" % " | ".join(c.replace("|", "\\|") for c in row))
    for case, check, a, b in differ:
        print("\n%s: %s differs:\n  %s: %s\n  stand-in: %s" % (
            case, check, real_name, json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True)))
        if isinstance(a, list) and isinstance(b, list):
            print("  only %s: %s" % (real_name, sorted(set(map(str, a)) - set(map(str, b)))))
            print("  only stand-in: %s" % sorted(set(map(str, b)) - set(map(str, a))))
    print("\n%d checks, %d equal, %d differ" % (len(rows), len(rows) - len(differ), len(differ)))
    return differ


def standin_env(version):
    env = dict(os.environ)
    env["SIFSTORE_STANDIN_VERSION"] = version
    return env


def expected_files(debootstrap):
    cases = list(SCRATCH_CASES) + ["version"] + ([DEBOOTSTRAP_CASE] if debootstrap else [])
    return {c: os.path.join(EXPECTED, c + ".json") for c in cases}


def main(argv):
    mode = argv[1] if len(argv) > 1 else "compare"
    debootstrap = "--debootstrap" in argv[2:]
    if debootstrap and (os.geteuid() != 0 or not shutil.which("debootstrap")):
        skip("the debootstrap case needs root and debootstrap")
    if not shutil.which("siftool") or not shutil.which("unsquashfs"):
        skip("siftool and unsquashfs (squashfs-tools) are needed")
    if mode == "standin":
        with open(os.path.join(EXPECTED, "version.json")) as f:
            recorded_version = json.load(f)["release"]
        expected = {}
        for case, path in expected_files(debootstrap).items():
            with open(path) as f:
                expected[case] = json.load(f)
        expected["version"].pop("release")
        got = build_all(STANDIN, standin_env(recorded_version), debootstrap)
        print("stand-in (as %s) against expected/ recorded from Apptainer %s" % (
            recorded_version, recorded_version))
        return 1 if compare(expected, got, "recorded") else 0
    real = real_apptainer()
    if not real:
        skip("no real apptainer: put one on PATH or name it with SIFSTORE_REAL_APPTAINER "
             "(cmake -DSIFSTORE_REAL_APPTAINER=...)")
    release = run([real, "version"], "/").stdout.strip()
    real_results = build_all(real, dict(os.environ), debootstrap)
    if mode == "record":
        os.makedirs(EXPECTED, exist_ok=True)
        real_results["version"]["release"] = release
        for case, path in expected_files(debootstrap).items():
            with open(path, "w") as f:
                json.dump(real_results[case], f, sort_keys=True, indent=1)
                f.write("\n")
            print("recorded " + path)
        return 0
    got = build_all(STANDIN, standin_env(release), debootstrap)
    print("Apptainer %s (%s) against the stand-in" % (release, real))
    return 1 if compare(real_results, got, "apptainer " + release) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
