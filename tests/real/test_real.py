#!/usr/bin/env python3
"""Real Debian layers built through sifstore with the stand-in builder in real
mode (debootstrap, %post in a chroot): the example's three layers (examples/
base.def, python.def, app.def), and bad input.

    test_real.py LayersTest     the layers; every lock checked against the
                                package managers run inside the image
    test_real.py BadInputTest   a missing suite, a missing package (Include:
                                and apt-get in %post), a failing %post line

Run by ctest (tests/real/CMakeLists.txt: labels real, slow), which sets
SIFSTORE_EXE, SIFSTORE_STANDIN, SIFSTORE_SOURCE_DIR and REAL_WORK (a scratch
directory).  Skipped (exit 0, "skipped=") when not root, without debootstrap,
or when the Debian mirror of the machine's apt sources cannot be reached.
The stand-in caches debootstrap results in $SIFSTORE_STANDIN_CACHE, default
~/.cache/sifstore-standin: only a machine's first run debootstraps.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import unittest
import urllib.request

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
    app (FROM python, %files, npm -g): each lock equals what the package
    managers inside the image print, by either capture method."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.build("base", os.path.join(EXAMPLES, "base.def"), "--mirror", "--verify")
        cls.build("python", os.path.join(EXAMPLES, "python.def"), "--from", "base")
        cls.build("app", os.path.join(EXAMPLES, "app.def"), "--from", "python")

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
        image = self.image("base")
        ts = re.search(r"base-(.+)\.sif$", image).group(1)
        paths = json.loads(self.sifstore("paths", "base", ts, "--json", check=True).stdout)
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
