// Static and exec capture agree on every kind of image the stand-in builds
// (docs/DESIGN.md#capture: "both methods give the same lock for the same
// image"): full images, images
// where some package manager never ran, a FROM layer, a program removed
// again, a PATH and PYTHONPATH set by %environment, a pip whose
// interpreter is missing.
#include <gtest/gtest.h>

#include "cli/build_fixture.h"
#include "core/lockfile.h"

namespace sifstore::test {
namespace {

struct Image {
  const char* name;
  const char* def;
  size_t pip, dpkg, node;  // expected counts
};

const Image kImages[] = {
    {"full", kBaseDef, 2, 3, 1},
    {"empty", "Bootstrap: scratch\n%post\n    echo nothing to install\n", 0, 0, 0},
    {"apt-only", "Bootstrap: scratch\n%post\n    apt-get install -y curl\n", 0, 1, 0},
    {"pip-only", "Bootstrap: scratch\n%post\n    pip3 install numpy\n", 1, 0, 0},
    {"npm-only", "Bootstrap: scratch\n%post\n    npm install -g left-pad\n", 0, 0, 1},
    {"pip-removed",
     "Bootstrap: scratch\n%post\n    apt-get install -y python3-pip\n    pip install numpy\n"
     "    apt-get purge -y python3-pip\n",
     0, 0, 0},
    {"environment",
     "Bootstrap: scratch\n%files\n    tools/pip /opt/bin/pip\n    tools/py /opt/py/bin/python3.12\n"
     "    tools/site /opt/site\n    tools/pip-broken /usr/local/bin/pip3\n"
     "%environment\n    export PATH=/opt/bin:$PATH\n    export PYTHONPATH=\"/opt/site\"\n"
     "%post\n    python3 -m pip install pyyaml\n",
     1, 0, 0},
    {"child",
     "Bootstrap: localimage\nFrom: full.sif\n%post\n    pip install numpy==1.26.4\n"
     "    npm uninstall -g left-pad\n    apt-get remove -y zlib1g\n",
     2, 3, 0},
};

class BuildCapture : public BuildChainTest {
 protected:
  void SetUp() override {
    BuildChainTest::SetUp();
    write_file(t / "tools/pip", "#!/opt/py/bin/python3.12\n");
    write_file(t / "tools/py", "placeholder\n");
    write_file(t / "tools/pip-broken", "#!/usr/bin/python3.9\n");
    write_file(t / "tools/site/extra-1.0.dist-info/METADATA",
               "Metadata-Version: 2.1\nName: Extra\nVersion: 1.0\n");
  }
  PackageLock capture(const std::string& sif, const std::vector<std::string>& more) {
    std::vector<std::string> args = {"lock", "capture", sif};
    args.insert(args.end(), more.begin(), more.end());
    RunResult r = cli(args);
    EXPECT_EQ(r.status, 0) << r.err;
    return parse_lock(r.out, sif);
  }
};

TEST_F(BuildCapture, StaticEqualsExecOnEveryStandinImage) {
  for (const Image& image : kImages) {
    SCOPED_TRACE(image.name);
    std::string def = t / (std::string(image.name) + ".def");
    std::string sif = t / (std::string(image.name) + ".sif");
    write_file(def, image.def);
    RunResult b = run({kStandin, "build", sif, def}, env(), t.path());
    ASSERT_EQ(b.status, 0) << b.err;
    PackageLock s = capture(sif, {"--method", "static"});
    PackageLock e = capture(sif, {"--method", "exec", "--builder", kStandin});
    EXPECT_EQ(s.pip, e.pip);
    EXPECT_EQ(s.dpkg, e.dpkg);
    EXPECT_EQ(s.node, e.node);
    EXPECT_EQ(s.pip.size(), image.pip);
    EXPECT_EQ(s.dpkg.size(), image.dpkg);
    EXPECT_EQ(node_versions(s.node).size(), image.node) << s.node;
  }
}

// The same through the chain: a build captured with --capture exec and one
// with the default static capture lock the same versions.
TEST_F(BuildCapture, BuildWithExecCaptureLocksTheSameVersions) {
  std::string a = build_ok("base");
  std::string b = build_ok("base", "base.def", {"--capture", "exec"});
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  PackageLock la = parse_lock(read_file(artifact("base", a, "lock")), "a");
  PackageLock lb = parse_lock(read_file(artifact("base", b, "lock")), "b");
  EXPECT_EQ(la.facts.at("captured-by"), "static");
  EXPECT_EQ(lb.facts.at("captured-by"), "exec");
  EXPECT_EQ(la.version_set(), lb.version_set());
  EXPECT_EQ(la.version_set().size(), 6u);
  EXPECT_EQ(read_file(artifact("base", a, "def")), read_file(artifact("base", b, "def")));
}

}  // namespace
}  // namespace sifstore::test
