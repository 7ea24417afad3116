#!/usr/bin/env python3
"""Real Debian layers built through sifstore with the stand-in builder in real
mode (debootstrap, %post in a chroot): the example's three layers (examples/
base.def, python.def, app.def), and bad input.

    test_real.py LayersTest     the layers, each built once and verified from
                                its locked def; every lock checked against the
                                package managers run inside the image, and the
                                SBOM against the lock; a pip drift held back
                                by the locked def's constraints
    test_real.py BadInputTest   a missing suite, a missing package (Include:
                                and apt-get in %post), a failing %post line

Run by ctest (tests/real/CMakeLists.txt: labels real, slow), which sets
SIFSTORE_EXE, SIFSTORE_STANDIN, SIFSTORE_SOURCE_DIR and REAL_WORK (a scratch
directory).  Skipped (exit 0, "skipped=") when not root, without debootstrap,
or when the Debian mirror of the machine's apt sources cannot be reached.
The stand-in caches debootstrap results in $SIFSTORE_STANDIN_CACHE, default
~/.cache/sifstore-standin: only a machine's first run debootstraps.
"""

import base64
import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import unittest
import urllib.parse
import urllib.request
import zipfile

sys.dont_write_bytecode = True

SIFSTORE = os.environ.get("SIFSTORE_EXE", "sifstore")
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SIFSTORE_SOURCE_DIR") or os.path.join(HERE, "..", "..")
STANDIN = os.environ.get("SIFSTORE_STANDIN") or os.path.join(SOURCE, "tests", "standin",
                                                             "apptainer")
EXAMPLES = os.path.join(SOURCE, "examples")
WORK = os.environ.get("REAL_WORK") or "/tmp/sifstore-real-tests"


def load_standin():
    """The stand-in's functions (its mirror lookup), without running it."""
    namespace = {"__name__": "standin"}
    with open(STANDIN) as f:
        source = f.read().split("\nif __name__ ==")[0]
    exec(compile(source, STANDIN, "exec"), namespace)
    return namespace


def why_skip():
    if os.geteuid() != 0:
        return "the real layers need root (debootstrap, chroot)"
    for tool in ("debootstrap", "unshare", "chroot", "mksquashfs", "siftool"):
        if not shutil.which(tool):
            return "%s is not installed (scripts/install-deps.sh)" % tool
    mirror = load_standin()["host_apt_mirror"]("bookworm")
    if not mirror:
        return "no Debian mirror in this machine's apt sources"
    try:
        urllib.request.urlopen(mirror.rstrip("/") + "/dists/bookworm/InRelease", timeout=15).close()
    except Exception as e:  # any failure to reach it
        return "the Debian mirror %s is unreachable (%s)" % (mirror, e)
    return None


SKIP = why_skip()
MIRROR = None if SKIP else load_standin()["host_apt_mirror"]("bookworm")


def run(argv, cwd=None, check=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIFSTORE_STANDIN_")
           or k == "SIFSTORE_STANDIN_CACHE"}
    env["TMPDIR"] = os.path.join(WORK, "tmp")
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, env=env, cwd=cwd)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(argv), res.returncode,
                                                        res.stdout[-3000:], res.stderr[-3000:]))
    return res


# -- package sets, parsed (name -> version), not compared as text --------------------------

def lock_sets(text):
    """{'pip': {...}, 'dpkg': {...}, 'node': {...}} of a lock file's text."""
    sets = {"pip": {}, "dpkg": {}, "node": {}}
    section, node_text = None, []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+)\]", stripped)
        if m:
            section = m.group(1)
            continue
        if section == "pip":
            name, _, version = stripped.partition("==")
            sets["pip"][name.lower()] = version
        elif section == "dpkg":
            name, _, version = stripped.partition("=")
            sets["dpkg"][name] = version
        elif section == "node":
            node_text.append(line)
    if node_text:
        sets["node"] = npm_set("\n".join(node_text))
    return sets


def npm_set(json_text):
    if not json_text.strip():
        return {}
    deps = json.loads(json_text).get("dependencies", {})
    return {name: info.get("version", "") for name, info in deps.items()}


def lock_facts(text):
    """The '# key: value' header lines of a lock file."""
    facts = {}
    for line in text.splitlines():
        m = re.fullmatch(r"# ([\w-]+): (.*)", line)
        if m:
            facts[m.group(1)] = m.group(2)
    return facts


# -- the SBOM's components, expected from the lock (the purl spec, written here) -----------

def purl_part(text, safe=""):
    """The purl spec's percent-encoding: all but letters, digits, '.-_~' and ':'."""
    return urllib.parse.quote(text, safe=":" + safe)


def expected_purls(sets, os_id, os_version, arch):
    """{purl: version} of every package of a lock's sets (lock_sets)."""
    purls = {}
    for name, version in sets["dpkg"].items():
        purls["pkg:deb/%s/%s@%s?arch=%s&distro=%s-%s" % (
            os_id, purl_part(name), purl_part(version), arch, os_id, os_version)] = version
    for name, version in sets["pip"].items():
        pep503 = re.sub(r"[-_.]+", "-", name).lower()
        purls["pkg:pypi/%s@%s" % (purl_part(pep503), purl_part(version))] = version
    for name, version in sets["node"].items():
        purls["pkg:npm/%s@%s" % (purl_part(name, "/"), purl_part(version))] = version
    return purls


def os_release(image):
    out = exec_in(image, "cat", "/etc/os-release")
    assert out.returncode == 0, out.stderr
    values = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition("=")
        values[key] = value.strip().strip('"')
    return values


# -- a local pip index whose versions can move between two builds --------------------------

def write_wheel(directory, name, version, requires=()):
    """A pure-Python wheel of `name` (a module printing its version), written
    as pip expects one: the module, METADATA, WHEEL and RECORD."""
    files = {
        "%s/__init__.py" % name: "VERSION = %r\n" % version,
        "%s-%s.dist-info/METADATA" % (name, version):
            "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
            + "".join("Requires-Dist: %s\n" % r for r in requires),
        "%s-%s.dist-info/WHEEL" % (name, version):
            "Wheel-Version: 1.0\nGenerator: sifstore-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n",
    }
    record_name = "%s-%s.dist-info/RECORD" % (name, version)
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append("%s,sha256=%s,%d" % (path, digest.decode(), len(text.encode())))
    record.append(record_name + ",,")
    files[record_name] = "\n".join(record) + "\n"
    path = os.path.join(directory, "%s-%s-py3-none-any.whl" % (name, version))
    with zipfile.ZipFile(path + ".tmp", "w") as z:
        for member, text in files.items():
            z.writestr(member, text)
    os.rename(path + ".tmp", path)


class WheelIndex:
    """A new directory of wheels served over HTTP on 127.0.0.1 (pip's
    --find-links reads its listing): the package index of the drift test.
    %post runs in the host's network namespace (the stand-in, as Apptainer's
    build, does not isolate it)."""

    def __init__(self, directory):
        self.directory = directory
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        handler = functools.partial(_QuietHandler, directory=directory)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = "http://127.0.0.1:%d/" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def exec_in(image, *command):
    return run([STANDIN, "exec", "--cleanenv", "--no-home", image] + list(command))


def package_managers(image):
    """What dpkg-query -W, pip freeze and npm list -g print inside the image."""
    sets = {"pip": {}, "dpkg": {}, "node": {}}
    dpkg = exec_in(image, "dpkg-query", "-W", "-f=${Package}=${Version}\\n")
    if dpkg.returncode == 0:
        for line in dpkg.stdout.splitlines():
            name, _, version = line.partition("=")
            sets["dpkg"][name] = version
    pip = exec_in(image, "pip", "freeze")
    if pip.returncode == 0:
        for line in pip.stdout.splitlines():
            name, _, version = line.strip().partition("==")
            sets["pip"][name.lower()] = version
    npm = exec_in(image, "npm", "list", "-g", "--depth=0", "--json")
    if npm.returncode == 0:
        sets["node"] = npm_set(npm.stdout)
    return sets


def mounts_under(*paths):
    with open("/proc/mounts") as f:
        points = [line.split()[1] for line in f]
    prefixes = [os.path.realpath(p).rstrip("/") + "/" for p in paths]
    return [p for p in points if any((p + "/").startswith(x) for x in prefixes)]


def snapshot(root):
    """Every path under the store with its type and content; the log a failed
    build keeps for the user (<layer>-<ts>.build.log) left out."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if name.endswith(".build.log"):
                continue
            if os.path.islink(path):
                snap[rel] = "-> " + os.readlink(path)
            elif os.path.isdir(path):
                snap[rel] = "dir"
            else:
                st = os.stat(path)
                snap[rel] = "file %d %d" % (st.st_size, st.st_mtime_ns)
    return snap


class RealCase(unittest.TestCase):
    work = None

    @classmethod
    def setUpClass(cls):
        if SKIP:
            raise unittest.SkipTest(SKIP)
        cls.work = os.path.join(WORK, cls.__name__)
        shutil.rmtree(cls.work, ignore_errors=True)
        os.makedirs(os.path.join(WORK, "tmp"), exist_ok=True)
        os.makedirs(cls.work)
        cls.store = os.path.join(cls.work, "containers")

    @classmethod
    def sifstore(cls, *args, check=False):
        return run([SIFSTORE, "--root", cls.store] + list(args), check=check)

    @classmethod
    def build(cls, layer, definition, *extra, check=True):
        args = ["build", layer, "--def", definition, "--builder", STANDIN, "-q"]
        if "--mirror" in extra:  # the def's MirrorURL: {{ mirror }}
            args.append("--build-arg=mirror=" + MIRROR)
        return cls.sifstore(*(args + [e for e in extra if e != "--mirror"]), check=check)

    def image(self, layer):
        return os.path.realpath(os.path.join(self.store, layer + ".sif"))


class LayersTest(RealCase):
    """base (debootstrap), python (FROM base, pip from the example's sources),
    app (FROM python, %files, npm -g), each built once and verified (a
    rebuild from its locked def): each lock equals what the package managers
    inside the image print, by either capture method; each embedded SBOM
    names exactly the lock's packages; a drift layer FROM python shows a
    newer pip version held back by the locked def's constraints."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.build("base", os.path.join(EXAMPLES, "base.def"), "--mirror", "--verify")
        cls.build("python", os.path.join(EXAMPLES, "python.def"), "--from", "base", "--verify")
        cls.build("app", os.path.join(EXAMPLES, "app.def"), "--from", "python", "--verify")

    def paths(self, layer):
        image = self.image(layer)
        ts = re.search(r"%s-(.+)\.sif$" % layer, image).group(1)
        return json.loads(self.sifstore("paths", layer, ts, "--json", check=True).stdout)

    def check_layer(self, layer, expect):
        image = self.image(layer)
        static = lock_sets(self.sifstore("lock", "capture", image, check=True).stdout)
        inside = package_managers(image)
        for manager in ("dpkg", "pip", "node"):
            self.assertEqual(static[manager], inside[manager],
                             "%s: the static %s lock differs from the image's package manager"
                             % (layer, manager))
        by_exec = lock_sets(self.sifstore("lock", "capture", image, "--method", "exec",
                                          "--builder", STANDIN, check=True).stdout)
        self.assertEqual(static, by_exec, "%s: --method exec and static differ" % layer)
        # The build's own lock (captured while building) is the same set.
        lock = os.path.splitext(image)[0] + ".lock"
        with open(lock) as f:
            self.assertEqual(lock_sets(f.read()), static)
        for manager, names in expect.items():
            for name in names:
                self.assertIn(name, static[manager], "%s: no %s package %s" % (layer, manager, name))
        return static

    def test_base(self):
        sets = self.check_layer("base", {"dpkg": ["libc6", "ca-certificates", "less", "tzdata"]})
        self.assertEqual(sets["pip"], {})
        self.assertEqual(sets["node"], {})

    def test_python(self):
        sets = self.check_layer("python", {"dpkg": ["python3", "python3-pip", "python3-yaml"],
                                           "pip": ["greeting", "pyyaml"]})
        self.assertEqual(sets["pip"]["greeting"], "0.1.0")

    def test_app(self):
        sets = self.check_layer("app", {"dpkg": ["nodejs", "npm", "python3"],
                                        "pip": ["greeting"], "node": ["is-number"]})
        self.assertGreater(len(sets["dpkg"]), 300)
        out = exec_in(self.image("app"), "/.singularity.d/runscript", "tests")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Hello, tests!", out.stdout)

    def test_base_verified_and_pinned(self):
        paths = self.paths("base")
        self.assertTrue(os.path.exists(paths["verified"]), "base was not verified")
        self.assertFalse(os.path.exists(paths["unverified"]))
        with open(paths["def"]) as f:
            locked = f.read()
        self.assertIn("OSVersion: bookworm", locked)
        with open(paths["lock"]) as f:
            dpkg = lock_sets(f.read())["dpkg"]
        for name, version in dpkg.items():
            self.assertIn("%s=%s" % (name, version), locked)
        # The mirror (a build argument) is rendered in the locked def and
        # recorded in the lock: plain `sifstore verify base` rebuilds it.
        self.assertIn("MirrorURL: " + MIRROR + "\n", locked)
        self.assertNotIn("{{", locked)
        with open(paths["lock"]) as f:
            self.assertIn('# build-args: {"mirror":"%s"}\n' % MIRROR, f.read())
        res = self.sifstore("verify", "base", "--builder", STANDIN, "-q")
        self.assertEqual(res.returncode, 0, res.stderr[-3000:])
        self.assertIn("verified: version sets identical", res.stdout)

    # -- issue 14: python and app verified with the pins-first locked def --------------------

    def check_verified_with_constraints(self, layer):
        """The build is .verified, and its locked def's first %post is the
        generated one: the lock's whole pip set as constraints, exported as
        PIP_CONSTRAINT before the def's own first command; nothing installed
        by it and nothing appended after the user's commands."""
        paths = self.paths(layer)
        self.assertTrue(os.path.exists(paths["verified"]), "%s was not verified" % layer)
        self.assertFalse(os.path.exists(paths["unverified"]))
        with open(paths["def"]) as f:
            locked = f.read().splitlines()
        with open(paths["lock"]) as f:
            pip = lock_sets(f.read())["pip"]
        self.assertTrue(pip, "%s: no pip package in the lock" % layer)
        begin = locked.index("    cat > /etc/sifstore/pip-constraints.txt <<'SIFSTORE_PINS' || exit 1")
        end = locked.index("SIFSTORE_PINS", begin)
        constraints = {}
        for line in locked[begin + 1:end]:
            name, _, version = line.partition("==")
            constraints[name.lower()] = version
        self.assertEqual(constraints, pip)
        export = locked.index("    export PIP_CONSTRAINT=/etc/sifstore/pip-constraints.txt")
        first_post = locked.index("%post")
        self.assertLess(first_post, begin)
        # From the def's own %post on, the locked def is the example's text.
        with open(os.path.join(EXAMPLES, layer + ".def")) as f:
            rough = f.read().splitlines()
        self.assertEqual(locked.count("%post"), 2, "%s: one generated %%post, one of the def" % layer)
        own = len(locked) - 1 - locked[::-1].index("%post")
        self.assertEqual(locked[own:], rough[rough.index("%post"):])
        self.assertLess(export, own)
        self.assertEqual([line for line in locked[first_post:own]
                          if "install" in line and not line.strip().startswith("#")], [])

    def test_python_verified_with_constraints(self):
        self.check_verified_with_constraints("python")

    def test_app_verified_with_constraints(self):
        self.check_verified_with_constraints("app")

    def test_pip_drift_held_back_by_the_constraints(self):
        """A layer FROM python installs a package (and its dependency) from a
        local index; the index gains newer versions of both. verify's rebuild
        from the locked def gets the locked versions (.verified); a build
        from the rough def gets the newer ones."""
        index = WheelIndex(os.path.join(self.work, "wheels"))
        try:
            write_wheel(index.directory, "driftdep", "1.0")
            write_wheel(index.directory, "driftpkg", "1.0", ["driftdep"])
            definition = os.path.join(self.work, "drift.def")
            with open(definition, "w") as f:
                f.write("Bootstrap: localimage\nFrom: python.sif\n\n%post\n"
                        "    export PIP_NO_INDEX=1 PIP_FIND_LINKS={{ wheels }}\n"
                        "    pip3 install --break-system-packages driftpkg\n")
            arg = "--build-arg=wheels=" + index.url
            self.build("drift", definition, "--from", "python", arg)
            with open(self.paths("drift")["lock"]) as f:
                first = lock_sets(f.read())["pip"]
            self.assertEqual((first.get("driftpkg"), first.get("driftdep")), ("1.0", "1.0"))
            # The index moves: both packages have a newer version.
            write_wheel(index.directory, "driftdep", "1.1")
            write_wheel(index.directory, "driftpkg", "1.1", ["driftdep>=1.1"])
            res = self.sifstore("verify", "drift", "--builder", STANDIN, "-q")
            self.assertEqual(res.returncode, 0, res.stdout[-3000:] + res.stderr[-3000:])
            self.assertIn("verified: version sets identical", res.stdout)
            self.assertTrue(os.path.exists(self.paths("drift")["verified"]))
            # The rough def, built again, takes the newer versions (--rebuild:
            # its inputs are the same, which would reuse the first build).
            self.build("drift", definition, "--from", "python", arg, "--rebuild")
            with open(self.paths("drift")["lock"]) as f:
                second = lock_sets(f.read())["pip"]
            self.assertEqual((second.get("driftpkg"), second.get("driftdep")), ("1.1", "1.1"))
            self.assertEqual({k: v for k, v in second.items() if not k.startswith("drift")},
                             {k: v for k, v in first.items() if not k.startswith("drift")})
        finally:
            index.close()

    # -- issue 21: the embedded SBOM names exactly the lock's packages ----------------------

    def sbom(self, layer):
        """`sifstore sbom LAYER` (CycloneDX), checked to be the SBOM object
        embedded in the image byte for byte."""
        out = self.sifstore("sbom", layer, check=True).stdout
        image = self.image(layer)
        listing = run(["siftool", "list", image], check=True).stdout
        ids = [line.split("|")[0].strip() for line in listing.splitlines()
               if "SBOM (cyclonedx-json)" in line]
        self.assertEqual(len(ids), 1, listing)
        dump = subprocess.run(["siftool", "dump", ids[0], image], stdout=subprocess.PIPE,
                              check=True).stdout
        self.assertEqual(dump.decode(), out, "%s: sbom differs from the embedded object" % layer)
        return out

    def check_sbom(self, layer):
        bom = json.loads(self.sbom(layer))
        paths = self.paths(layer)
        with open(paths["lock"]) as f:
            text = f.read()
        sets, facts = lock_sets(text), lock_facts(text)
        image = self.image(layer)
        release = os_release(image)
        arch = exec_in(image, "dpkg", "--print-architecture").stdout.strip()
        self.assertEqual(bom["specVersion"], "1.5")
        self.assertEqual(bom["metadata"]["component"]["name"], layer)
        self.assertEqual(bom["metadata"]["component"]["version"],
                         re.search(r"%s-(.+)\.sif$" % layer, image).group(1))
        by_type = {}
        for c in bom["components"]:
            by_type.setdefault(c["type"], []).append(c)
        libraries = by_type.pop("library", [])
        found = {c["purl"]: c["version"] for c in libraries}
        self.assertEqual(len(found), len(libraries), "%s: a package named twice" % layer)
        self.assertEqual(found, expected_purls(sets, release["ID"], release["VERSION_ID"], arch))
        self.assertEqual(sum(len(v) for v in sets.values()), len(libraries))
        os_parts = by_type.pop("operating-system")
        self.assertEqual([(c["name"], c["version"]) for c in os_parts],
                         [(release["ID"], release["VERSION_ID"])])
        bases = by_type.pop("container", [])
        if "base-image" in facts:
            self.assertEqual([c["properties"] for c in bases],
                             [[{"name": "sifstore:base-image", "value": facts["base-image"]}]])
        else:
            self.assertEqual(bases, [])
        self.assertEqual(by_type, {}, "%s: components of other types" % layer)
        return sets

    def test_sbom_base(self):
        sets = self.check_sbom("base")
        self.assertIn("base-files", sets["dpkg"])

    def test_sbom_python(self):
        self.assertIn("greeting", self.check_sbom("python")["pip"])

    def test_sbom_app(self):
        self.assertIn("is-number", self.check_sbom("app")["node"])

    def test_sbom_schema(self):
        schemas = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                               "sifstore-cyclonedx", "node_modules", "@cyclonedx",
                               "cyclonedx-library", "res", "schema")
        # Not a skip: a skipped method would report the whole case as skipped.
        self.assertTrue(os.path.isdir(schemas), "no CycloneDX schemas in %s: "
                        "scripts/install-deps.sh fetches them (npm)" % schemas)
        files = []
        for layer in ("base", "python", "app"):
            path = os.path.join(self.work, layer + ".cdx.json")
            with open(path, "w") as f:
                f.write(self.sbom(layer))
            files.append(path)
        res = run([sys.executable, os.path.join(SOURCE, "scripts", "validate-cyclonedx.py"),
                   schemas] + files)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_no_mounts_left(self):
        self.assertEqual(mounts_under(WORK), [])


class BadInputTest(RealCase):
    """Bad input fails the build with an error naming the layer and the step;
    no mount is left and the store is as it was."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.build("base", os.path.join(EXAMPLES, "base.def"), "--mirror")

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def fails(self, definition, *expected):
        before = snapshot(self.store)
        extra = ["--mirror"] if "{{ mirror }}" in definition else []
        # The bad def stands in for the layer's own (examples/base.def):
        # --take-over, or the build is refused before the builder runs.
        res = self.build("base", self.write("bad.def", definition), *extra, "--take-over",
                         check=False)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertIn("sifstore: error: build of base failed", res.stderr)
        for text in expected:
            self.assertIn(text, res.stderr)
        self.assertEqual(mounts_under(WORK, self.store), [])
        self.assertEqual(snapshot(self.store), before)
        self.assertEqual([n for n in os.listdir(os.path.join(WORK, "tmp"))
                          if n.startswith("build-temp-")], [])
        return res

    def test_missing_suite(self):
        self.fails("Bootstrap: debootstrap\nOSVersion: no-such-suite\nMirrorURL: {{ mirror }}\n",
                   "FATAL:   While performing build: conveyor failed to get: while "
                   "debootstrapping (OSVersion: no-such-suite")

    def test_missing_package_in_include(self):
        self.fails("Bootstrap: debootstrap\nOSVersion: bookworm\nMirrorURL: {{ mirror }}\n"
                   "Include: ca-certificates no-such-package-sifstore\n",
                   "Couldn't find these debs: no-such-package-sifstore",
                   "while debootstrapping (OSVersion: bookworm, "
                   "Include: ca-certificates,no-such-package-sifstore")

    def test_missing_package_in_post(self):
        self.fails("Bootstrap: debootstrap\nOSVersion: bookworm\nMirrorURL: {{ mirror }}\n"
                   "Include: ca-certificates\n\n%post\n    apt-get update\n"
                   "    apt-get install -y no-such-package-sifstore\n",
                   "E: Unable to locate package no-such-package-sifstore",
                   "while running engine: exit status 100 "
                   "(%post: apt-get install -y no-such-package-sifstore)")

    def test_failing_post_line(self):
        self.fails("Bootstrap: localimage\nFrom: %s\n\n%%post\n    echo one\n"
                   "    test -e /no/such/file\n    echo two\n" % self.image("base"),
                   "while running engine: exit status 1 (%post: test -e /no/such/file)")


if __name__ == "__main__":
    unittest.main(verbosity=2)
