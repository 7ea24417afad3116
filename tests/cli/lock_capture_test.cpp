// `sifstore lock capture`: static and exec capture of genuine images, and
// that both methods agree on an image built by the stand-in builder.
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/lockfile.h"
#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

RunResult capture(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv = {SIFSTORE_EXE, "lock", "capture"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, env);
}

std::string standin() { return std::string(SIFSTORE_SOURCE_DIR) + "/tests/standin/apptainer"; }

class LockCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing = sif_tools_missing();
    if (!missing.empty()) GTEST_SKIP() << missing;
  }
  TempDir dir_;
};

TEST_F(LockCapture, StaticToStdoutAndToAFile) {
  std::string root = dir_ / "root";
  write_file(root + "/var/lib/dpkg/status",
             "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\n\n"
             "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n");
  write_file(root + "/usr/bin/python3.11", "placeholder");
  ASSERT_EQ(::symlink("python3.11", (root + "/usr/bin/python3").c_str()), 0);
  write_file(root + "/usr/bin/pip", "#!/usr/bin/python3\n");
  write_file(root + "/usr/lib/python3/dist-packages/NumPy-2.1.0.dist-info/METADATA",
             "Name: NumPy\nVersion: 2.1.0\n");
  make_sif_from_tree(dir_ / "img.sif", root);

  auto r = capture({dir_ / "img.sif"});
  ASSERT_EQ(r.status, 0) << r.err;
  PackageLock lock = parse_lock(r.out, "stdout");
  EXPECT_EQ(lock.pip, (std::map<std::string, std::string>{{"numpy", "2.1.0"}}));
  EXPECT_EQ(lock.dpkg,
            (std::map<std::string, std::string>{{"bash", "5.2.15-2+b2"}, {"libc6", "2.36-9"}}));
  EXPECT_EQ(lock.node, "");
  EXPECT_EQ(lock.facts["captured-by"], "static");
  EXPECT_EQ(lock.facts["image-sha256"].size(), 64u);

  r = capture({dir_ / "img.sif", "-o", dir_ / "out.lock"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("1 pip, 2 dpkg, 0 node packages"), std::string::npos) << r.out;
  EXPECT_EQ(read_lock_file(dir_ / "out.lock"), lock);
}

// A line of only white space inside a field: read as dpkg reads it (the
// package is listed), with dpkg's warning on stderr.
TEST_F(LockCapture, AWhiteSpaceLineInADpkgFieldIsReadWithAWarning) {
  std::string root = dir_ / "root";
  write_file(root + "/var/lib/dpkg/status",
             "Package: libc6\nStatus: install ok installed\nDescription: C library\n \n"
             " more\nVersion: 2.36-9\n");
  make_sif_from_tree(dir_ / "img.sif", root);
  auto r = capture({dir_ / "img.sif"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(parse_lock(r.out, "stdout").dpkg,
            (std::map<std::string, std::string>{{"libc6", "2.36-9"}}));
  EXPECT_NE(r.err.find("sifstore: warning: " + dir_ / "img.sif" +
                       ":/var/lib/dpkg/status:4: package libc6: blank line in value of field "
                       "'Description'"),
            std::string::npos)
      << r.err;
}

TEST_F(LockCapture, StaticAndExecAgreeOnAStandinImage) {
  if (run({"python3", "--version"}).status != 0) GTEST_SKIP() << "the stand-in needs python3";
  write_file(dir_ / "index.json",
             R"({"apt": {"python3-pip": "23.0.1+dfsg-1", "nodejs": "18.19.0+dfsg-6~deb12u2",
                         "npm": "9.2.0~ds1-1", "curl": "7.88.1-10+deb12u5", "libc6": ["2.36-9"]},
                 "pip": {"PyYAML": "6.0.1", "numpy": "2.1.0", "Jinja2": "3.1.4"},
                 "npm": {"left-pad": "1.3.0", "@types/node": "20.11.0"}})");
  write_file(dir_ / "x.def",
             "Bootstrap: scratch\n%post\n"
             "  apt-get install -y python3-pip nodejs npm curl libc6:amd64=2.36-9\n"
             "  pip install numpy pyyaml Jinja2==3.1.4\n"
             "  npm install -g left-pad @types/node@20.11.0\n");
  auto b = run({standin(), "build", dir_ / "x.sif", dir_ / "x.def"},
               {"SIFSTORE_STANDIN_INDEX=" + dir_ / "index.json"});
  ASSERT_EQ(b.status, 0) << b.err;
  auto s = capture({dir_ / "x.sif", "--method", "static"});
  ASSERT_EQ(s.status, 0) << s.err;
  auto e = capture({dir_ / "x.sif", "--method", "exec", "--builder", standin()});
  ASSERT_EQ(e.status, 0) << e.err;
  PackageLock a = parse_lock(s.out, "static"), x = parse_lock(e.out, "exec");
  EXPECT_EQ(a.pip, x.pip);
  EXPECT_EQ(a.dpkg, x.dpkg);
  EXPECT_EQ(a.node, x.node);
  EXPECT_EQ(a.version_set(), x.version_set());
  EXPECT_EQ(a.pip.size(), 3u);
  EXPECT_EQ(a.dpkg.size(), 5u);
  EXPECT_EQ(node_versions(a.node).size(), 2u);
  EXPECT_EQ(x.facts["captured-by"], "exec");
  EXPECT_EQ(x.facts["builder"], standin());
  EXPECT_EQ(a.facts["image-sha256"], x.facts["image-sha256"]);
}

TEST_F(LockCapture, Errors) {
  write_file(dir_ / "text.sif", "not an image");
  auto r = capture({dir_ / "text.sif"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not a SIF image"), std::string::npos) << r.err;
  write_file(dir_ / "root/etc/x", "x");
  make_sif_from_tree(dir_ / "img.sif", dir_ / "root");
  r = capture({dir_ / "img.sif", "--method", "exec", "--builder", "no-such-apptainer-xyz"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no-such-apptainer-xyz"), std::string::npos) << r.err;
  EXPECT_EQ(capture({dir_ / "img.sif", "--method", "dynamic"}).status, 2);
  EXPECT_EQ(capture({}).status, 2);
  r = capture({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("lock capture SIF [-o FILE] [--method static|exec] [--builder CMD]"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace sifstore::test
