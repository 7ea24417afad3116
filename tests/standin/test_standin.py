#!/usr/bin/env python3
"""Self-tests of the stand-in builder tests/standin/apptainer.

Run by ctest (label `standin`) or directly: python3 tests/standin/test_standin.py
The package records the stand-in writes are checked with the real readers
(dpkg-query --admindir, pip freeze --path, npm list -g --prefix) where the
host has them, and the reference tool's capture / locked-def / compare code is
run against the stand-in when ../shared is present.
"""

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
import unittest
from unittest import mock

sys.dont_write_bytecode = True  # never write caches beside ../shared/reference

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "apptainer")
SHARED = os.environ.get("SIFSTORE_SHARED_DIR") or os.path.join(HERE, "..", "..", "..", "shared")

INDEX_V1 = {
    "apt": {"curl": ["7.88.1-9", "7.88.1-10"], "zlib1g": "1:1.2.13.dfsg-1",
            "python3-pip": "23.0.1+dfsg-1"},
    "pip": {"numpy": "2.1.0", "PyYAML": "6.0.1", "requests": ["2.31.0", "2.32.3"],
            "Odd.Name_pkg": "2.0RC1", "postpkg": "1.0-1"},
    "npm": {"left-pad": "1.3.0", "@scope/pkg": "2.0.0"},
}

BASE_DEF = """\
Bootstrap: scratch

%files
    data/hello.txt /opt/hello.txt

%post
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update && apt-get install -y --no-install-recommends \\
        curl python3-pip zlib1g=1:1.2.13.dfsg-1
    pip install numpy pyyaml requests==2.31.0 odd-name-pkg postpkg  # comment
    npm install -g left-pad @scope/pkg@2.0.0
    echo "installed" > /dev/null

%environment
    export FOO=bar

%labels
    Author someone

%runscript
    echo run
"""

# The pin stanza SifStore appends to a rough def (the reference tool's form:
# a heredoc'd requirements file, pip picked at run time, no dependencies).
PIN_STANZA = """\
%post
    set -e
    cat > /tmp/scitex-pins.txt <<'SCITEX_PINS'
{pins}
SCITEX_PINS
    _pip="$(command -v pip3 || command -v pip)"
    _bsp=""
    if "$_pip" install --help 2>/dev/null | grep -q -- --break-system-packages; then
        _bsp="--break-system-packages"
    fi
    "$_pip" install --no-deps $_bsp -r /tmp/scitex-pins.txt
    rm -f /tmp/scitex-pins.txt
"""


def run(argv, env=None, cwd=None, **kwargs):
    full_env = dict(os.environ)
    for key in list(full_env):
        if key.startswith("SIFSTORE_STANDIN_"):
            del full_env[key]
    full_env.update(env or {})
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=full_env, cwd=cwd, **kwargs)


def sif_objects(sif):
    """[(type, start, end)] from `siftool list`."""
    res = subprocess.run(["siftool", "list", sif], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True)
    objects = []
    for line in res.stdout.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == 5 and fields[0].isdigit():
            start, end = fields[3].split("-")
            objects.append((fields[4], int(start), int(end)))
    return objects


def extract(sif, dest):
    offset = [start for kind, start, _ in sif_objects(sif) if kind.startswith("FS (")][0]
    subprocess.run(["unsquashfs", "-o", str(offset), "-d", dest, "-n", "-q", sif], check=True,
                   stdout=subprocess.DEVNULL)


class StandinCase(unittest.TestCase):
    """Helpers, and a base image built once per test class."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="standin-test-")
        cls.tmpdir = os.path.join(cls.dir, "tmp")
        os.mkdir(cls.tmpdir)
        os.mkdir(os.path.join(cls.dir, "data"))
        with open(os.path.join(cls.dir, "data", "hello.txt"), "w") as f:
            f.write("hello\n")
        cls.write_index("index-v1.json", INDEX_V1)
        cls.base = cls.path("base.sif")
        cls.write("base.def", BASE_DEF)
        res = cls.build_cls("base.sif", "base.def")
        if res.returncode != 0:
            raise AssertionError("base build failed:\n" + res.stdout + res.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    # -- helpers -------------------------------------------------------------

    @classmethod
    def path(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def write(cls, name, text):
        with open(cls.path(name), "w") as f:
            f.write(text)
        return cls.path(name)

    @classmethod
    def write_index(cls, name, data):
        return cls.write(name, json.dumps(data))

    @classmethod
    def build_cls(cls, out, definition, *flags, env=None, index="index-v1.json"):
        full_env = {"TMPDIR": cls.tmpdir}
        if index is not None:
            full_env["SIFSTORE_STANDIN_INDEX"] = cls.path(index)
        full_env.update(env or {})
        return run([STANDIN, "build"] + list(flags) + [out, definition], env=full_env,
                   cwd=cls.dir)

    def build(self, out, definition, *flags, **kwargs):
        return self.build_cls(out, definition, *flags, **kwargs)

    def build_ok(self, out, definition, *flags, **kwargs):
        res = self.build(out, definition, *flags, **kwargs)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        return res

    def exec_(self, sif, *command):
        return run([STANDIN, "exec", "--cleanenv", "--no-home", "--containall", sif] +
                   list(command), env={"TMPDIR": self.tmpdir}, cwd=self.dir)

    def exec_ok(self, sif, *command):
        res = self.exec_(sif, *command)
        self.assertEqual(res.returncode, 0, res.stderr)
        return res.stdout

    def dpkg(self, sif):
        return self.exec_ok(sif, "dpkg-query", "-W", "-f=${Package}=${Version}\n").split()

    def versions(self, sif):
        """The three version sets SifStore captures, through exec."""
        pip = self.exec_ok(sif, "pip", "freeze").split()
        dpkg = self.dpkg(sif)
        npm = json.loads(self.exec_ok(sif, "npm", "list", "-g", "--depth=0", "--json"))
        node = {k: v["version"] for k, v in npm.get("dependencies", {}).items()}
        return pip, dpkg, node

    def assertNoTempLeft(self):
        self.assertEqual([n for n in os.listdir(self.tmpdir) if n.startswith(
            ("build-temp-", "standin-exec-"))], [])


class CommandLineTest(StandinCase):
    def test_version(self):
        res = run([STANDIN, "--version"])
        self.assertEqual((res.returncode, res.stdout), (0, "apptainer version 1.3.4-standin\n"))
        self.assertEqual(run([STANDIN, "version"]).stdout, "1.3.4-standin\n")
        res = run([STANDIN, "--version"], env={"SIFSTORE_STANDIN_VERSION": "1.2.5"})
        self.assertEqual(res.stdout, "apptainer version 1.2.5\n")

    def test_usage_errors_exit_1(self):
        res = run([STANDIN, "build", "--no-such-flag", "x.sif", "x.def"])
        self.assertEqual(res.returncode, 1)
        self.assertIn('Error for command "build": unknown flag: --no-such-flag', res.stderr)
        res = run([STANDIN, "build", "only-one-arg"])
        self.assertEqual(res.returncode, 1)
        self.assertIn("accepts 2 arg(s), received 1", res.stderr)
        self.assertEqual(run([STANDIN, "exec", self.base]).returncode, 1)
        self.assertEqual(run([STANDIN, "frobnicate"]).returncode, 1)


class SifTest(StandinCase):
    def test_sif_layout_like_apptainer(self):
        kinds = [kind for kind, _, _ in sif_objects(self.base)]
        self.assertEqual(kinds, ["Def.FILE", "JSON.Generic", "FS (Squashfs/*System/amd64)"])
        with open(self.base, "rb") as f:
            self.assertEqual(f.read(32), b"#!/usr/bin/env run-singularity\n\0")
        deffile = subprocess.run(["siftool", "dump", "1", self.base], stdout=subprocess.PIPE,
                                 universal_newlines=True, check=True).stdout
        self.assertEqual(deffile, BASE_DEF)
        meta = json.loads(subprocess.run(["siftool", "dump", "2", self.base],
                                         stdout=subprocess.PIPE, check=True).stdout)
        self.assertEqual(meta["type"], "container")
        self.assertEqual(meta["data"]["attributes"]["deffile"], BASE_DEF)
        self.assertEqual(meta["data"]["attributes"]["labels"]["Author"], "someone")

    def test_rootfs_metadata_like_apptainer(self):
        root = self.path("rootfs-meta")
        extract(self.base, root)
        sd = os.path.join(root, ".singularity.d")
        with open(os.path.join(sd, "labels.json")) as f:
            labels = json.load(f)
        self.assertEqual(labels["Author"], "someone")
        self.assertEqual(labels["org.label-schema.usage.singularity.deffile.bootstrap"], "scratch")
        self.assertEqual(labels["org.label-schema.usage.apptainer.version"], "1.3.4-standin")
        with open(os.path.join(sd, "env", "90-environment.sh")) as f:
            self.assertIn("export FOO=bar", f.read())
        with open(os.path.join(sd, "runscript")) as f:
            self.assertEqual(f.read(), "#!/bin/sh\n\n    echo run\n\n")
        with open(os.path.join(sd, "Singularity")) as f:
            self.assertEqual(f.read(), BASE_DEF)
        with open(os.path.join(root, "opt", "hello.txt")) as f:
            self.assertEqual(f.read(), "hello\n")
        self.assertEqual(os.readlink(os.path.join(root, "singularity")),
                         ".singularity.d/runscript")

    def test_build_output_like_apptainer(self):
        res = self.build_ok("out-msgs.sif", "base.def")
        self.assertIn("INFO:    Starting build...", res.stderr)
        self.assertIn("INFO:    Running post scriptlet", res.stderr)
        self.assertIn("INFO:    Creating SIF file...", res.stderr)
        self.assertTrue(res.stderr.endswith("INFO:    Build complete: out-msgs.sif\n"))
        self.assertIn("+ pip install numpy pyyaml requests==2.31.0 odd-name-pkg postpkg",
                      res.stderr)
        self.assertIn("Setting up curl (7.88.1-10) ...", res.stdout)
        self.assertNoTempLeft()


class BuildTest(StandinCase):
    def test_existing_target_needs_force(self):
        self.build_ok("force.sif", "base.def")
        res = self.build("force.sif", "base.def")
        self.assertEqual(res.returncode, 255)
        self.assertIn("FATAL:   While checking build target: build target 'force.sif' already "
                      "exists. Use --force if you want to overwrite it", res.stderr)
        self.build_ok("force.sif", "base.def", "--force", "--fakeroot")

    def test_files_relative_to_working_directory(self):
        # Apptainer resolves %files sources against the current directory.
        sub = self.path("elsewhere")
        os.makedirs(os.path.join(sub, "data"), exist_ok=True)
        with open(os.path.join(sub, "data", "hello.txt"), "w") as f:
            f.write("from elsewhere\n")
        res = run([STANDIN, "build", os.path.join(self.dir, "cwd.sif"),
                   os.path.join(self.dir, "base.def")],
                  env={"SIFSTORE_STANDIN_INDEX": self.path("index-v1.json"),
                       "TMPDIR": self.tmpdir}, cwd=sub)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.exec_ok(self.path("cwd.sif"), "cat", "/opt/hello.txt"),
                         "from elsewhere\n")
        self.write("missing-file.def", "Bootstrap: scratch\n%files\n    no/such/file /x\n")
        res = self.build("missing-file.sif", "missing-file.def")
        self.assertEqual(res.returncode, 255)
        self.assertIn("no/such/file", res.stderr)
        self.assertFalse(os.path.exists(self.path("missing-file.sif")))

    def test_build_args(self):
        self.write("args.def", "Bootstrap: scratch\n%arguments\n    PKG=curl\n"
                               "%post\n    apt-get install -y {{ PKG }}={{ VER }}\n")
        self.build_ok("args.sif", "args.def", "--build-arg", "VER=1.0-1", index=None)
        self.assertEqual(self.dpkg(self.path("args.sif")), ["curl=1.0-1"])
        res = self.build("args2.sif", "args.def", "--build-arg", "VER=1", "--build-arg", "X=1")
        self.assertEqual(res.returncode, 255)
        self.assertIn("unused build args: X", res.stderr)
        res = self.build("args3.sif", "args.def")
        self.assertEqual(res.returncode, 255)
        self.assertIn("build var VER is not defined", res.stderr)


class PackageRecordTest(StandinCase):
    def test_records_read_by_real_tools(self):
        root = self.path("rootfs-real")
        extract(self.base, root)
        pip_exec, dpkg_exec, _ = self.versions(self.base)
        self.assertEqual(pip_exec, ["numpy==2.1.0", "Odd.Name_pkg==2.0rc1", "postpkg==1.0.post1",
                                    "PyYAML==6.0.1", "requests==2.31.0"])
        self.assertEqual(dpkg_exec, ["curl=7.88.1-10", "python3-pip=23.0.1+dfsg-1",
                                     "zlib1g=1:1.2.13.dfsg-1"])
        checked = 0
        if shutil.which("dpkg-query"):
            res = run(["dpkg-query", "--admindir=" + os.path.join(root, "var/lib/dpkg"), "-W",
                       "-f=${Package}=${Version} ${Status}\n"])
            self.assertEqual(res.stderr, "")  # no complaints about the stanzas
            self.assertEqual(res.stdout.split("\n")[:-1],
                             [v + " install ok installed" for v in dpkg_exec])
            checked += 1
        pip = run([sys.executable, "-m", "pip", "freeze", "--path",
                   os.path.join(root, "usr/lib/python3/dist-packages")])
        if pip.returncode == 0:
            self.assertEqual(pip.stdout.split(), pip_exec)
            checked += 1
        if shutil.which("npm"):
            userconfig = self.write("npmrc", "")
            res = run(["npm", "list", "-g", "--depth=0", "--json", "--prefix",
                       os.path.join(root, "usr")], env={"NPM_CONFIG_USERCONFIG": userconfig})
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(res.stdout.rstrip("\n"),
                             self.exec_ok(self.base, "npm", "list", "-g", "--depth=0",
                                          "--json").rstrip("\n"))
            checked += 1
        if checked == 0:
            self.skipTest("none of dpkg-query, pip, npm on this host")

    def test_dpkg_query_emulated_without_host_dpkg(self):
        bindir = self.path("bin-no-dpkg")
        os.makedirs(bindir, exist_ok=True)
        for tool in ("siftool", "unsquashfs"):
            if not os.path.exists(os.path.join(bindir, tool)):
                os.symlink(shutil.which(tool), os.path.join(bindir, tool))
        fmt = "-f=${Package}=${Version}\n"
        with_host = self.exec_ok(self.base, "dpkg-query", "-W", fmt)
        res = run([STANDIN, "exec", self.base, "dpkg-query", "-W", fmt],
                  env={"PATH": bindir, "TMPDIR": self.tmpdir})
        self.assertEqual((res.returncode, res.stdout), (0, with_host))


class PostSimulationTest(StandinCase):
    def test_localimage_keeps_base_and_adds(self):
        self.write("child.def", "Bootstrap: localimage\nFrom: base.sif\n\n%labels\n"
                                "    Layer child\n%post\n    pip install --no-deps requests\n"
                                "    apt-get -y install zlib1g\n    npm i --global left-pad@1.3.0\n")
        self.build_ok("child.sif", "child.def")
        pip, dpkg, node = self.versions(self.path("child.sif"))
        self.assertIn("requests==2.32.3", pip)  # unpinned: newest in the index
        self.assertIn("numpy==2.1.0", pip)      # from the base
        self.assertIn("curl=7.88.1-10", dpkg)
        self.assertEqual(node, {"left-pad": "1.3.0", "@scope/pkg": "2.0.0"})
        labels = json.loads(self.exec_ok(self.path("child.sif"), "cat",
                                         "/.singularity.d/labels.json"))
        self.assertEqual((labels["Author"], labels["Layer"]), ("someone", "child"))
        self.assertEqual(labels["org.label-schema.usage.singularity.deffile.from"], "base.sif")
        self.assertEqual(self.exec_ok(self.path("child.sif"), "cat",
                                      "/.singularity.d/bootstrap_history/Apptainer0"), BASE_DEF)

    def test_locked_def_pins_override_the_index(self):
        rough = BASE_DEF
        pins = "numpy==1.26.4\nrequests==2.31.0\nPyYAML==6.0.1"
        self.write("locked.def", rough + "\n" + PIN_STANZA.format(pins=pins))
        v2 = json.loads(json.dumps(INDEX_V1))
        v2["pip"]["PyYAML"] = "6.0.2"
        self.write_index("index-pins.json", v2)
        self.build_ok("locked.sif", "locked.def", index="index-pins.json")
        pip = self.versions(self.path("locked.sif"))[0]
        self.assertEqual(pip, ["numpy==1.26.4", "Odd.Name_pkg==2.0rc1", "postpkg==1.0.post1",
                               "PyYAML==6.0.1", "requests==2.31.0"])

    def test_index_change_is_drift_for_unpinned_only(self):
        v2 = json.loads(json.dumps(INDEX_V1))
        v2["apt"]["curl"] = "8.0.0-1"
        v2["apt"]["zlib1g"] = "1:1.3-1"    # pinned in the def: no drift
        v2["pip"]["numpy"] = "2.2.0"
        v2["npm"]["left-pad"] = "1.3.1"
        self.write_index("index-v2.json", v2)
        self.build_ok("drift.sif", "base.def", index="index-v2.json")
        pip1, dpkg1, node1 = self.versions(self.base)
        pip2, dpkg2, node2 = self.versions(self.path("drift.sif"))
        self.assertEqual(sorted(set(pip2) - set(pip1)), ["numpy==2.2.0"])
        self.assertEqual(sorted(set(dpkg2) - set(dpkg1)), ["curl=8.0.0-1"])
        self.assertEqual(node2, dict(node1, **{"left-pad": "1.3.1"}))

    def test_unknown_package_fails_the_build(self):
        cases = [
            ("apt-get install -y nosuchpkg", "E: Unable to locate package nosuchpkg"),
            ("apt install curl=0.0-0", "E: Version '0.0-0' for 'curl' was not found"),
            ("pip3 install nosuchpkg", "ERROR: No matching distribution found for nosuchpkg"),
            ("pip install requests==9.9", "(from versions: 2.31.0, 2.32.3)"),
            ("npm install -g nosuchpkg", "npm ERR! 404 Not Found"),
        ]
        for i, (line, message) in enumerate(cases):
            with self.subTest(line=line):
                self.write("bad%d.def" % i, "Bootstrap: scratch\n%%post\n    %s\n" % line)
                res = self.build("bad%d.sif" % i, "bad%d.def" % i)
                self.assertEqual(res.returncode, 255, res.stderr)
                self.assertIn(message, res.stderr)
                self.assertIn("FATAL:   While performing build: while running engine: exit status",
                              res.stderr)
                self.assertFalse(os.path.exists(self.path("bad%d.sif" % i)))
        self.assertNoTempLeft()
        # `|| true` and a failing condition do not stop `sh -e`
        self.write("tolerated.def", "Bootstrap: scratch\n%post\n"
                                    "    apt-get install -y nosuchpkg || true\n"
                                    "    if pip install nosuchpkg; then echo; fi\n"
                                    "    apt-get install -y curl\n")
        self.build_ok("tolerated.sif", "tolerated.def")
        self.assertEqual(self.dpkg(self.path("tolerated.sif")), ["curl=7.88.1-10"])

    def test_no_index_only_pinned_packages_install(self):
        self.write("pinned.def", "Bootstrap: scratch\n%post\n    pip install a==1.0\n")
        self.build_ok("pinned.sif", "pinned.def", index=None)
        self.assertEqual(self.exec_ok(self.path("pinned.sif"), "pip", "freeze"), "a==1.0\n")
        self.write("unpinned.def", "Bootstrap: scratch\n%post\n    pip install a\n")
        res = self.build("unpinned.sif", "unpinned.def", index=None)
        self.assertEqual(res.returncode, 255)
        self.assertIn("No matching distribution found for a", res.stderr)


class ExecTest(StandinCase):
    def test_exec_tools_absent_from_the_image(self):
        self.write("empty.def", "Bootstrap: scratch\n%post\n    echo nothing\n")
        self.build_ok("empty.sif", "empty.def")
        empty = self.path("empty.sif")
        for command in (["pip", "freeze"], ["pip3", "freeze"], ["npm", "list", "-g", "--json"],
                        ["dpkg-query", "-W"], ["rpm", "-qa"], ["no-such-command"]):
            with self.subTest(command=command):
                res = self.exec_(empty, *command)
                self.assertEqual((res.returncode, res.stdout), (127, ""))
                self.assertIn("%s: not found" % command[0], res.stderr)
        self.assertEqual(self.exec_(empty, "true").returncode, 0)
        res = self.exec_(empty, "cat", "/no/such/file")
        self.assertEqual(res.returncode, 1)
        res = self.exec_(self.path("no-such.sif"), "true")
        self.assertEqual(res.returncode, 255)
        self.assertIn("FATAL:   could not open image", res.stderr)
        res = self.exec_(self.path("base.def"), "true")  # not a SIF
        self.assertEqual(res.returncode, 255)
        self.assertNoTempLeft()


class ProgramsTest(StandinCase):
    """The programs a package manager leaves in the image, and exec finding
    them the way the image would (PATH, #! interpreter)."""

    def test_base_has_debian_layout(self):
        root = self.path("rootfs-programs")
        extract(self.base, root)
        usr = os.path.join(root, "usr")
        self.assertEqual(os.readlink(os.path.join(usr, "bin/python3")), "python3.11")
        self.assertTrue(os.path.isfile(os.path.join(usr, "bin/python3.11")))
        self.assertTrue(os.path.isfile(os.path.join(usr, "lib/python3.11/os.py")))
        for pip in ("pip", "pip3"):
            with open(os.path.join(usr, "bin", pip)) as f:
                self.assertEqual(f.readline(), "#!/usr/bin/python3\n")
            self.assertTrue(os.access(os.path.join(usr, "bin", pip), os.X_OK))
        self.assertTrue(os.path.isfile(os.path.join(usr, "bin/node")))
        npm = os.path.join(usr, "bin/npm")
        self.assertEqual(os.readlink(npm), "../share/nodejs/npm/bin/npm-cli.js")
        with open(npm) as f:
            self.assertEqual(f.readline(), "#!/usr/bin/env node\n")
        self.assertTrue(os.path.isfile(os.path.join(usr, "bin/dpkg-query")))

    def test_exec_fails_exactly_when_the_program_is_absent(self):
        cases = {
            "apt-only": ("apt-get install -y curl", {"dpkg-query"}),
            "pip-only": ("pip install numpy", {"pip", "pip3"}),
            "npm-only": ("npm install -g left-pad", {"npm"}),
            "python-only": ("apt-get install -y python3-minimal", {"dpkg-query"}),
            "pip-removed": ("apt-get install -y python3-pip\n    pip install numpy\n"
                            "    apt-get purge -y python3-pip", {"dpkg-query"}),
        }
        commands = {"pip": ["pip", "freeze"], "pip3": ["pip3", "freeze"],
                    "npm": ["npm", "list", "-g", "--depth=0", "--json"],
                    "dpkg-query": ["dpkg-query", "-W", "-f=${Package}=${Version}\n"]}
        index = json.loads(json.dumps(INDEX_V1))
        index["apt"]["python3-minimal"] = "3.11.2-1"
        self.write_index("index-programs.json", index)
        for name, (post, present) in cases.items():
            self.write(name + ".def", "Bootstrap: scratch\n%%post\n    %s\n" % post)
            self.build_ok(name + ".sif", name + ".def", index="index-programs.json")
            for program, command in commands.items():
                with self.subTest(image=name, program=program):
                    res = self.exec_(self.path(name + ".sif"), *command)
                    if program in present:
                        self.assertEqual(res.returncode, 0, res.stderr)
                    else:
                        self.assertEqual((res.returncode, res.stdout), (127, ""))
                        self.assertIn("%s: not found" % program, res.stderr)
        self.assertEqual(self.exec_ok(self.path("pip-only.sif"), "pip", "freeze"),
                         "numpy==2.1.0\n")

    def test_exec_follows_path_and_interpreter(self):
        # A pip whose interpreter is missing is not found; one on a PATH set
        # by %environment is; PYTHONPATH directories are listed first.
        os.makedirs(self.path("tools"), exist_ok=True)
        self.write("tools/pip", "#!/opt/py/bin/python3.12\n")
        self.write("tools/pip-broken", "#!/usr/bin/python3.9\n")
        os.makedirs(self.path("tools/site/extra-1.0.dist-info"), exist_ok=True)
        self.write("tools/site/extra-1.0.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: extra\nVersion: 1.0\n")
        self.write("tools/py", "placeholder\n")
        self.write("env.def", "Bootstrap: scratch\n%files\n    tools/pip /opt/bin/pip\n"
                              "    tools/py /opt/py/bin/python3.12\n"
                              "    tools/site /opt/site\n"
                              "    tools/pip-broken /usr/local/bin/pip3\n"
                              "%environment\n    export PATH=/opt/bin:$PATH\n"
                              "    export PYTHONPATH=\"/opt/site\"\n")
        self.build_ok("env.sif", "env.def")
        self.assertEqual(self.exec_ok(self.path("env.sif"), "pip", "freeze"), "extra==1.0\n")
        res = self.exec_(self.path("env.sif"), "pip3", "freeze")
        self.assertEqual(res.returncode, 127)
        self.assertIn("pip3: not found", res.stderr)


class FailureInjectionTest(StandinCase):
    def test_fail_env(self):
        res = self.build("fail.sif", "base.def", env={"SIFSTORE_STANDIN_FAIL": "1"})
        self.assertEqual(res.returncode, 1)
        self.assertIn("INFO:    Running post scriptlet", res.stderr)  # output came first
        self.assertIn("SIFSTORE_STANDIN_FAIL", res.stderr)
        self.assertFalse(os.path.exists(self.path("fail.sif")))
        res = self.build("fail.sif", "base.def", env={"SIFSTORE_STANDIN_FAIL": "7",
                                                      "SIFSTORE_STANDIN_FAIL_AT": "start"})
        self.assertEqual(res.returncode, 7)
        self.assertNotIn("Running post scriptlet", res.stderr)
        res = self.build("fail.sif", "base.def", env={"SIFSTORE_STANDIN_FAIL_AT": "nowhere"})
        self.assertEqual(res.returncode, 255)
        self.assertIn("expected one of start, bootstrap", res.stderr)
        self.assertNoTempLeft()

    def test_fail_at_sif_leaves_partial_output(self):
        res = self.build("partial.sif", "base.def", env={"SIFSTORE_STANDIN_FAIL_AT": "sif"})
        self.assertEqual(res.returncode, 255)
        self.assertEqual([k for k, _, _ in sif_objects(self.path("partial.sif"))],
                         ["Def.FILE", "JSON.Generic"])

    def test_standin_fail_post_line(self):
        self.write("post-fail.def", "Bootstrap: scratch\n%post\n    apt-get install -y curl\n"
                                    "    standin-fail 3\n    apt-get install -y zlib1g\n")
        res = self.build("post-fail.sif", "post-fail.def")
        self.assertEqual(res.returncode, 255)
        self.assertIn("Setting up curl", res.stdout)
        self.assertNotIn("zlib1g", res.stdout)
        self.assertIn("while running engine: exit status 3", res.stderr)
        self.assertFalse(os.path.exists(self.path("post-fail.sif")))

    def start_hanging_build(self, out, stage):
        env = dict(os.environ, SIFSTORE_STANDIN_INDEX=self.path("index-v1.json"),
                   TMPDIR=self.tmpdir, SIFSTORE_STANDIN_HANG="30", SIFSTORE_STANDIN_HANG_AT=stage)
        proc = subprocess.Popen([STANDIN, "build", out, "base.def"], cwd=self.dir, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                universal_newlines=True)
        for line in proc.stderr:
            if "SIFSTORE_STANDIN_HANG" in line:
                return proc
        proc.wait()
        self.fail("the build did not reach its hang")

    def test_kill_9_mid_build_leaves_partial_output(self):
        proc = self.start_hanging_build("killed.sif", "sif")
        try:
            self.assertTrue(os.path.exists(self.path("killed.sif")))
            os.kill(proc.pid, signal.SIGKILL)
            self.assertEqual(proc.wait(timeout=10), -signal.SIGKILL)
        finally:
            proc.kill()
            proc.stderr.close()
        self.assertNotIn(("FS (Squashfs/*System/amd64)"),
                         [k for k, _, _ in sif_objects(self.path("killed.sif"))])
        for name in os.listdir(self.tmpdir):  # a killed build leaves its bundle, as apptainer
            shutil.rmtree(os.path.join(self.tmpdir, name))

    def test_sigterm_cleans_up_and_exits_1(self):
        start = time.monotonic()
        proc = self.start_hanging_build("termed.sif", "post")
        try:
            os.kill(proc.pid, signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 1)
        finally:
            proc.kill()
            proc.stderr.close()
        self.assertLess(time.monotonic() - start, 20)
        self.assertFalse(os.path.exists(self.path("termed.sif")))
        self.assertNoTempLeft()

    def test_invocation_log(self):
        log = self.path("invocations.jsonl")
        env = {"SIFSTORE_STANDIN_LOG": log, "SIFSTORE_STANDIN_INDEX": self.path("index-v1.json"),
               "TMPDIR": self.tmpdir}
        run([STANDIN, "build", "--force", "logged.sif", "base.def"], env=env, cwd=self.dir)
        run([STANDIN, "exec", "--cleanenv", "logged.sif", "pip", "freeze"], env=env, cwd=self.dir)
        with open(log) as f:
            records = [json.loads(line) for line in f]
        self.assertEqual([r["argv"][1:] for r in records],
                         [["build", "--force", "logged.sif", "base.def"],
                          ["exec", "--cleanenv", "logged.sif", "pip", "freeze"]])
        self.assertEqual({r["cwd"] for r in records}, {os.path.realpath(self.dir)})


class ReferenceRoundTripTest(StandinCase):
    """The reference tool's capture, locked def and comparison, run against
    the stand-in (skipped when ../shared is absent)."""

    @contextlib.contextmanager
    def reference_lockgen(self):
        path = os.path.join(SHARED, "reference", "scitex_lockgen.py")
        if not os.path.exists(path):
            self.skipTest("the reference tool (../shared/reference) is not present")
        compat = types.ModuleType("scitex_container._compat")
        compat.supports_return_as = lambda f: f
        utils = types.ModuleType("scitex_container.apptainer._utils")
        utils.detect_container_cmd = lambda: STANDIN
        packages = {name: types.ModuleType(name)
                    for name in ("scitex_container", "scitex_container.apptainer")}
        for module in packages.values():
            module.__path__ = []
        with mock.patch.dict(sys.modules, dict(packages, **{compat.__name__: compat,
                                                            utils.__name__: utils})):
            spec = importlib.util.spec_from_file_location(
                "scitex_container.apptainer._lockgen", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            with mock.patch.dict(os.environ, {"TMPDIR": self.tmpdir}):
                yield module

    def test_reference_round_trip(self):
        with self.reference_lockgen() as lockgen:
            rough_lock = lockgen.capture_lock(self.base, self.path("rough.lock"))
            self.assertEqual(rough_lock.pip["numpy"], "2.1.0")
            self.assertEqual(rough_lock.dpkg["curl"], "7.88.1-10")
            self.assertIn('"left-pad"', rough_lock.node)
            lockgen.generate_locked_def(self.path("base.def"), rough_lock,
                                        self.path("ref-locked.def"))
            # the index moves on for pip only: the locked def reproduces the set
            v2 = json.loads(json.dumps(INDEX_V1))
            v2["pip"].update({"numpy": "2.2.0", "PyYAML": "6.0.2", "postpkg": "1.1"})
            self.write_index("index-ref.json", v2)
            self.build_ok("ref-locked.sif", "ref-locked.def", index="index-ref.json")
            locked = lockgen.capture_lock(self.path("ref-locked.sif"), self.path("locked.lock"))
            diff = lockgen.compare_locks(rough_lock, locked)
            self.assertTrue(diff.identical, diff.summary())
            # the rough def alone drifts, and the comparison names what moved
            self.build_ok("ref-rough2.sif", "base.def", index="index-ref.json")
            drifted = lockgen.capture_lock(self.path("ref-rough2.sif"), self.path("rough2.lock"))
            diff = lockgen.compare_locks(rough_lock, drifted)
            self.assertEqual(diff.changed, {"pip:numpy": ("2.1.0", "2.2.0"),
                                            "pip:pyyaml": ("6.0.1", "6.0.2"),
                                            "pip:postpkg": ("1.0.post1", "1.1")})


# -- real mode ---------------------------------------------------------------

REAL_BASE_DEF = """\
Bootstrap: debootstrap
OSVersion: bookworm
Include: ca-certificates

%files
    data/hello.txt /opt/hello.txt

%post
    export DEBIAN_FRONTEND=noninteractive
    echo "post ran in $(cat /etc/debian_version)" > /opt/post.txt
    test -f /opt/hello.txt
    test -e /proc/self/status && test -c /dev/null

%environment
    export GREETING=hello

%labels
    org.example.layer real-base

%runscript
    echo "running $GREETING"
"""

REAL_TOP_DEF = """\
Bootstrap: localimage
From: real-base.sif

%post
    echo top > /opt/top.txt
"""


def real_mode_unavailable():
    """Why real mode cannot be tested here, or None."""
    if os.geteuid() != 0:
        return "real mode needs root (chroot, mount namespaces)"
    for tool in ("debootstrap", "unshare", "chroot"):
        if not shutil.which(tool):
            return "%s is not installed (scripts/install-deps.sh)" % tool
    return None


@unittest.skipIf(real_mode_unavailable(), real_mode_unavailable() or "")
class RealModeTest(StandinCase):
    """Bootstrap: debootstrap (through the stand-in's cache, so only the first
    run on a machine debootstraps), %post in a chroot, localimage on top, exec."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.write("real-base.def", REAL_BASE_DEF)
        cls.write("real-top.def", REAL_TOP_DEF)
        res = cls.build_cls("real-base.sif", "real-base.def", index=None)
        if res.returncode != 0 and "while debootstrapping" in res.stderr and \
                "Failed getting release file" in res.stdout + res.stderr:
            raise unittest.SkipTest("the Debian mirror is unreachable")
        if res.returncode != 0:
            raise AssertionError("real base build failed:\n" + res.stdout + res.stderr)

    def assertNoMountsUnder(self, path):
        with open("/proc/mounts") as f:
            points = [line.split()[1] for line in f]
        self.assertEqual([p for p in points if p.startswith(os.path.realpath(path))], [])

    def test_debootstrap_post_and_metadata(self):
        root = self.path("real-base-root")
        extract(self.path("real-base.sif"), root)
        with open(os.path.join(root, "opt/post.txt")) as f:
            self.assertRegex(f.read(), r"^post ran in 12\.\d+")
        with open(os.path.join(root, ".singularity.d/labels.json")) as f:
            labels = json.load(f)
        self.assertEqual(labels["org.example.layer"], "real-base")
        self.assertEqual(labels["org.label-schema.usage.singularity.deffile.bootstrap"],
                         "debootstrap")
        with open(os.path.join(root, ".singularity.d/env/90-environment.sh")) as f:
            self.assertIn("export GREETING=hello", f.read())
        with open(os.path.join(root, ".singularity.d/Singularity")) as f:
            self.assertEqual(f.read(), REAL_BASE_DEF)
        self.assertFalse(os.path.exists(os.path.join(root, ".post.script")))
        self.assertEqual(os.stat(root).st_mode & 0o777, 0o755)
        self.assertNoMountsUnder(self.dir)
        self.assertNoTempLeft()

    def test_exec_runs_inside_the_image(self):
        out = self.exec_ok(self.path("real-base.sif"), "sh", "-c",
                           'echo "$GREETING"; cat /etc/debian_version; /.singularity.d/runscript')
        lines = out.splitlines()
        self.assertEqual(lines[0], "hello")
        self.assertRegex(lines[1], r"^12\.\d+")
        self.assertEqual(lines[2], "running hello")
        dpkg = dict(line.split("=", 1) for line in self.dpkg(self.path("real-base.sif")))
        self.assertIn("ca-certificates", dpkg)
        self.assertIn("libc6", dpkg)
        res = self.exec_(self.path("real-base.sif"), "touch", "/written")
        self.assertNotEqual(res.returncode, 0)  # read-only, as a SIF
        res = self.exec_(self.path("real-base.sif"), "no-such-program")
        self.assertEqual(res.returncode, 127)
        self.assertIn("not found", res.stderr)
        self.assertNoMountsUnder(self.dir)

    def test_localimage_on_a_real_image_is_real(self):
        self.build_ok("real-top.sif", "real-top.def", "--force", index=None)
        out = self.exec_ok(self.path("real-top.sif"), "cat", "/opt/top.txt", "/opt/post.txt")
        self.assertTrue(out.startswith("top\npost ran in 12."), out)

    def test_post_sees_proc_and_dev_mounted_and_the_host_does_not(self):
        # The mounts exist where %post runs (its own mount namespace), and
        # never in the host's mount table, during or after the build.
        self.write("real-mounts.def", "Bootstrap: localimage\nFrom: real-base.sif\n\n%post\n"
                                      "    awk '$2 == \"/proc\" || $2 == \"/dev\" "
                                      "{ print $2, $3 }' /proc/self/mounts > /opt/mounts.txt\n"
                                      "    test -c /dev/null\n")
        self.build_ok("real-mounts.sif", "real-mounts.def", "--force", index=None)
        out = self.exec_ok(self.path("real-mounts.sif"), "cat", "/opt/mounts.txt")
        self.assertIn("/proc proc", out)
        self.assertRegex(out, r"(?m)^/dev ")
        self.assertNoMountsUnder(self.dir)
        self.assertNoTempLeft()

    def test_failing_post_line_is_named_and_leaves_no_mount(self):
        self.write("real-fail.def", "Bootstrap: localimage\nFrom: real-base.sif\n\n%post\n"
                                    "    echo before\n    false\n    echo after\n")
        res = self.build("real-fail.sif", "real-fail.def", index=None)
        self.assertEqual(res.returncode, 255, res.stderr)
        self.assertIn("before", res.stdout)
        self.assertNotIn("after", res.stdout)
        self.assertIn("FATAL:   While performing build: while running engine: exit status 1 "
                      "(%post: false)", res.stderr)
        self.assertFalse(os.path.exists(self.path("real-fail.sif")))
        self.assertNoMountsUnder(self.dir)
        self.assertNoTempLeft()

    def test_missing_suite_fails_in_debootstrap(self):
        self.write("real-nosuite.def", "Bootstrap: debootstrap\nOSVersion: no-such-suite\n")
        res = self.build("real-nosuite.sif", "real-nosuite.def", index=None)
        self.assertEqual(res.returncode, 255)
        self.assertIn("FATAL:   While performing build: conveyor failed to get: while "
                      "debootstrapping (OSVersion: no-such-suite", res.stderr)
        self.assertNoMountsUnder(self.dir)
        self.assertNoTempLeft()

    def test_sigterm_during_post_kills_the_chroot(self):
        self.write("real-hang.def", "Bootstrap: localimage\nFrom: real-base.sif\n\n%post\n"
                                    "    echo sleeping\n    sleep 60\n")
        env = dict(os.environ, TMPDIR=self.tmpdir)
        env.pop("SIFSTORE_STANDIN_INDEX", None)
        proc = subprocess.Popen([STANDIN, "build", "real-hang.sif", "real-hang.def"],
                                cwd=self.dir, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, universal_newlines=True)
        try:
            for line in proc.stdout:
                if line.strip() == "sleeping":
                    break
            start = time.monotonic()
            os.kill(proc.pid, signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=20), 1)
            self.assertLess(time.monotonic() - start, 15)
        finally:
            proc.kill()
            proc.stdout.close()
        res = subprocess.run(["pgrep", "-f", "sleep 60"], stdout=subprocess.PIPE,
                             universal_newlines=True)
        self.assertEqual(res.stdout.strip(), "", "the %post's sleep outlived the build")
        self.assertNoMountsUnder(self.dir)
        self.assertNoTempLeft()

    def test_mirror_from_the_apt_sources(self):
        spec = importlib.util.spec_from_loader("standin", loader=None)
        module = importlib.util.module_from_spec(spec)
        with open(STANDIN) as f:
            source = f.read()
        exec(compile(source.split("\nif __name__ ==")[0], STANDIN, "exec"), module.__dict__)
        tmp = self.path("apt")
        os.makedirs(os.path.join(tmp, "sources.list.d"))
        with open(os.path.join(tmp, "sources.list.d", "a.sources"), "w") as f:
            f.write("Types: deb\n# comment\nURIs: http://mirror.invalid/debian\n"
                    "Suites: bookworm bookworm-updates\nComponents: main\n\n"
                    "Types: deb\nURIs: http://security.invalid/debian-security\n"
                    "Suites: bookworm-security\n\nTypes: deb-src\nURIs: http://src.invalid/\n"
                    "Suites: trixie\n")
        with open(os.path.join(tmp, "sources.list"), "w") as f:
            f.write("# deb http://commented.invalid/ x main\n"
                    "deb [arch=amd64] http://other.invalid/debian trixie main\n")
        real_glob = module.glob.glob

        def fake_glob(pattern):
            return real_glob(pattern.replace("/etc/apt", tmp))
        with mock.patch.object(module.glob, "glob", fake_glob), \
                mock.patch("builtins.open", lambda p, *a, **k: open_orig(
                    p.replace("/etc/apt", tmp) if isinstance(p, str) else p, *a, **k)):
            self.assertEqual(module.host_apt_mirror("bookworm"), "http://mirror.invalid/debian")
            self.assertEqual(module.host_apt_mirror("trixie"), "http://other.invalid/debian")
            self.assertEqual(module.host_apt_mirror("sid"), "http://mirror.invalid/debian")


open_orig = open

if __name__ == "__main__":
    unittest.main(verbosity=2)
