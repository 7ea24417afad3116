#!/usr/bin/env python3
"""A `Bootstrap: yum` layer built through sifstore with the stand-in builder
(the host's dnf with --installroot against a local repository; %post's
`dnf install` run for real in the image, by the image's own dnf), locked,
and verified after the repository gained newer versions of its packages.

    test_yum.py YumTest

The repository (tests/support/yum_repo.sh) is made with rpmbuild and
createrepo_c; MirrorURL is its file:// path, and %post reaches it over HTTP
on 127.0.0.1 (a chroot cannot see the host's file:// path). Run by ctest
(tests/real/CMakeLists.txt: labels real, slow), which sets SIFSTORE_EXE,
SIFSTORE_STANDIN, SIFSTORE_SOURCE_DIR and REAL_WORK. Skipped (exit 0,
"skipped=") when not root or without dnf, rpmbuild, createrepo_c, unshare.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import unittest

sys.dont_write_bytecode = True

SIFSTORE = os.environ.get("SIFSTORE_EXE", "sifstore")
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SIFSTORE_SOURCE_DIR") or os.path.join(HERE, "..", "..")
STANDIN = os.environ.get("SIFSTORE_STANDIN") or os.path.join(SOURCE, "tests", "standin",
                                                             "apptainer")
REPO_SCRIPT = os.path.join(SOURCE, "tests", "support", "yum_repo.sh")
WORK = os.environ.get("REAL_WORK") or "/tmp/sifstore-yum-tests"
QUERY = "%{NAME}=%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\\n"


def why_skip():
    if os.geteuid() != 0:
        return "a yum bootstrap needs root (dnf --installroot, chroot)"
    for tool in ("dnf", "rpm", "rpmbuild", "createrepo_c", "unshare", "chroot", "mksquashfs",
                 "siftool", "busybox", "dash"):
        if not shutil.which(tool):
            return "%s is not installed (scripts/install-deps.sh)" % tool
    if not os.path.exists("/usr/lib/python3/dist-packages/dnf"):
        return "Debian's python3-dnf is not installed"
    return None


SKIP = why_skip()


def run(argv, check=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIFSTORE_STANDIN_")
           or k == "SIFSTORE_STANDIN_CACHE"}
    env["TMPDIR"] = os.path.join(WORK, "tmp")
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, env=env)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(argv), res.returncode,
                                                        res.stdout[-3000:], res.stderr[-3000:]))
    return res


def rpm_lines(lock_text):
    """The [rpm] lines of a lock."""
    lines, section = [], None
    for line in lock_text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+)\]", s)
        if m:
            section = m.group(1)
        elif section == "rpm":
            lines.append(s)
    return lines


DEF = """Bootstrap: yum
MirrorURL: file://{repo}
Include: dnf alpha beta

%post
    mkdir -p /etc/yum.repos.d
    printf '[local]\\nname=local\\nbaseurl=http://127.0.0.1:{port}/\\ngpgcheck=0\\n' \\
        > /etc/yum.repos.d/local.repo
    dnf -y install gamma
    dnf clean all
"""

V1 = ["alpha=1.0-1.noarch", "beta=1:1.0-1.noarch", "delta=1.0-1.noarch", "gamma=1.0-1.noarch"]
V2 = ["alpha=2.0-1.noarch", "beta=1:1.1-1.noarch", "delta=1.1-1.noarch", "gamma=1.1-1.noarch"]


class YumTest(unittest.TestCase):
    """Built from v1, locked; the repository gains v2; the locked def
    rebuilds v1 (verified), the rough def takes v2 (lock diff names them)."""

    @classmethod
    def setUpClass(cls):
        if SKIP:
            raise unittest.SkipTest(SKIP)
        cls.work = os.path.join(WORK, cls.__name__)
        shutil.rmtree(cls.work, ignore_errors=True)
        os.makedirs(os.path.join(WORK, "tmp"), exist_ok=True)
        os.makedirs(cls.work)
        cls.store = os.path.join(cls.work, "containers")
        cls.repo = os.path.join(cls.work, "rpms")
        run([REPO_SCRIPT, cls.repo, "v1"], check=True)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=os.path.join(cls.repo, "repo"))
        handler.log_message = lambda *a: None
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.definition = os.path.join(cls.work, "yum.def")
        with open(cls.definition, "w") as f:
            f.write(DEF.format(repo=os.path.join(cls.repo, "repo"),
                               port=cls.server.server_address[1]))
        # 1. built from the repository's first versions
        cls.sifstore("build", "yum", "--def", cls.definition, "--builder", STANDIN, "-q",
                     check=True)
        cls.first = os.path.realpath(os.path.join(cls.store, "yum.sif"))
        cls.first_ts = re.search(r"yum-(.+)\.sif$", cls.first).group(1)
        # 2. the repository gains newer versions of every test package
        run([REPO_SCRIPT, cls.repo, "v2"], check=True)
        # 3. the first build verified from its locked def
        cls.verify = cls.sifstore("verify", "yum", cls.first_ts, "--builder", STANDIN, "-q")
        # 4. the rough def built again (--rebuild: its inputs are the same
        # def, which sifstore would otherwise reuse the first build for)
        cls.sifstore("build", "yum", "--def", cls.definition, "--builder", STANDIN, "-q",
                     "--rebuild", check=True)
        cls.second = os.path.realpath(os.path.join(cls.store, "yum.sif"))

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "server", None):
            cls.server.shutdown()
            cls.server.server_close()

    @classmethod
    def sifstore(cls, *args, check=False):
        return run([SIFSTORE, "--root", cls.store] + list(args), check=check)

    def lock_of(self, image):
        with open(os.path.splitext(image)[0] + ".lock") as f:
            return f.read()

    def test_first_build_holds_v1_and_matches_rpm(self):
        lines = rpm_lines(self.lock_of(self.first))
        for line in V1:
            self.assertIn(line, lines)
        for name in ("base-release", "coreutils", "dnf"):
            self.assertTrue(any(l.startswith(name + "=") for l in lines), name)
        inside = run([STANDIN, "exec", "--cleanenv", "--no-home", self.first, "rpm", "-qa",
                      "--qf", QUERY], check=True)
        self.assertEqual(sorted(inside.stdout.split()), lines)
        by_exec = self.sifstore("lock", "capture", self.first, "--method", "exec", "--builder",
                                STANDIN, check=True)
        self.assertEqual(rpm_lines(by_exec.stdout), lines)

    def test_locked_def_pins_include_and_post(self):
        paths = json.loads(self.sifstore("paths", "yum", self.first_ts, "--json",
                                         check=True).stdout)
        with open(paths["def"]) as f:
            locked = f.read()
        include = re.search(r"^Include: (.*)$", locked, re.M).group(1).split()
        self.assertTrue(include[0].startswith("--setopt=includepkgs="), include)
        pinned = include[0].split("=", 2)[2].split(",")
        for line in V1:
            name, evra = line.split("=", 1)
            self.assertIn(name + "-" + evra, pinned)
        self.assertEqual(include[1:], ["dnf", "alpha", "beta"])
        # the generated %post comes before the definition's own
        self.assertLess(locked.index("includepkgs=$_sifstore_inc"),
                        locked.index("dnf -y install gamma"))

    def test_locked_rebuild_verified_despite_newer_versions(self):
        self.assertEqual(self.verify.returncode, 0, self.verify.stderr[-3000:])
        self.assertIn("verified: version sets identical", self.verify.stdout)
        paths = json.loads(self.sifstore("paths", "yum", self.first_ts, "--json",
                                         check=True).stdout)
        self.assertTrue(os.path.exists(paths["verified"]))
        self.assertFalse(os.path.exists(paths["unverified"]))

    def test_rough_rebuild_takes_v2_and_lock_diff_names_them(self):
        self.assertNotEqual(self.first, self.second)
        lines = rpm_lines(self.lock_of(self.second))
        for line in V2:
            self.assertIn(line, lines)
        res = self.sifstore("lock", "diff", os.path.splitext(self.first)[0] + ".lock",
                            os.path.splitext(self.second)[0] + ".lock")
        self.assertEqual(res.returncode, 1, res.stderr)
        for old, new in zip(V1, V2):
            name = old.split("=")[0]
            self.assertRegex(res.stdout, r"rpm:%s\b.*%s.*%s" % (
                re.escape(name), re.escape(old.split("=", 1)[1]), re.escape(new.split("=", 1)[1])))
        # the image's dnf configuration is the package's own again after %post
        conf = run([STANDIN, "exec", "--cleanenv", "--no-home", self.first, "cat",
                    "/etc/dnf/dnf.conf"], check=True)
        self.assertNotIn("includepkgs", conf.stdout)

    def test_bad_input_fails_as_apptainer(self):
        bad = os.path.join(self.work, "bad.def")
        out = os.path.join(self.work, "bad.sif")
        with open(bad, "w") as f:
            f.write("Bootstrap: yum\nMirrorURL: file://%s\nInclude: no-such-package-sifstore\n"
                    % os.path.join(self.repo, "repo"))
        res = run([STANDIN, "build", out, bad])
        self.assertEqual(res.returncode, 255)
        self.assertIn("No match for argument: no-such-package-sifstore", res.stderr)
        self.assertIn("FATAL:   While performing build: conveyor failed to get: while "
                      "bootstrapping: exit status 1", res.stderr)
        self.assertFalse(os.path.exists(out))
        with open(bad, "w") as f:
            f.write("Bootstrap: yum\nInclude: alpha\n")
        res = run([STANDIN, "build", out, bad])
        self.assertEqual(res.returncode, 255)
        self.assertIn("invalid yum header, no mirrorurl specified", res.stderr)
        # through sifstore: the layer and the step named, nothing published
        res = self.sifstore("build", "yumbad", "--def", bad, "--builder", STANDIN, "-q")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("sifstore: error: build of yumbad failed", res.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.store, "yumbad.sif")))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[1:], verbosity=2)
