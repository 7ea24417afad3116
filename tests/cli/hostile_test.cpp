// Hostile filesystem states in a shared store: SifStore never follows a
// symlink out of the root when it writes or deletes, never blocks on a FIFO,
// and reports each case clearly. Each test asserts the store (and what lies
// outside it) after the operation.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/store_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

const std::string kT1 = "2026-0101-000001";
const std::string kT2 = "2026-0101-000002";
const std::string kT3 = "2026-0101-000003";

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& ts : {kT1, kT2, kT3}) make_build(t.path(), "base", ts);
    make_pointer(t.path(), "base", "base/base-" + kT3 + ".sif");
    write_file(outside / "precious.txt", "do not touch\n");
  }
  RunResult cli(const std::vector<std::string>& args) { return sifstore(t.path(), args); }
  TempDir t, outside;
};

TEST_F(Hostile, PointerToEtcPasswdIsNeitherFollowedNorTrusted) {
  make_pointer(t.path(), "base", "/etc/passwd");
  auto passwd_before = read_file("/etc/passwd");
  auto j = json::parse(cli({"list", "base", "--json"}).out);
  for (const auto& b : j) EXPECT_EQ(b["active"], false);
  auto r = cli({"check", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not a build of the layer"), std::string::npos) << r.err;
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("not a build of layer 'base'"), std::string::npos) << r.out;
  r = cli({"fsck", "--repair"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(link_target(t / "base.sif"), "base/base-" + kT3 + ".sif");
  EXPECT_EQ(read_file("/etc/passwd"), passwd_before);
}

TEST_F(Hostile, PointLatestReplacesAForeignPointerNotItsTarget) {
  make_pointer(t.path(), "base", outside / "precious.txt");
  ASSERT_EQ(cli({"point-latest", "base", kT1}).status, 0);
  EXPECT_EQ(link_target(t / "base.sif"), "base/base-" + kT1 + ".sif");
  EXPECT_EQ(read_file(outside / "precious.txt"), "do not touch\n");
}

TEST_F(Hostile, ArtifactSymlinksOutOfTheRootAreUnlinkedNotFollowed) {
  // A lock and a log of an old build are symlinks to files outside the store.
  ::unlink((t / ("base/base-" + kT1 + ".lock")).c_str());
  ASSERT_EQ(
      ::symlink((outside / "precious.txt").c_str(), (t / ("base/base-" + kT1 + ".lock")).c_str()),
      0);
  ASSERT_EQ(::symlink((outside / "precious.txt").c_str(),
                      (t / ("base/base-" + kT1 + ".build.log")).c_str()),
            0);
  auto r = cli({"prune", "base", "--retain", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, kT1 + "\n");
  EXPECT_FALSE(exists(t / ("base/base-" + kT1 + ".lock")));
  EXPECT_EQ(read_file(outside / "precious.txt"), "do not touch\n");
}

TEST_F(Hostile, MarkerSymlinkIsReplacedNotWrittenThrough) {
  ASSERT_EQ(::symlink((outside / "precious.txt").c_str(),
                      (t / ("base/base-" + kT2 + ".verified")).c_str()),
            0);
  ASSERT_EQ(cli({"mark-unverified", "base", kT2, "--reason", "x"}).status, 0);
  ASSERT_EQ(cli({"mark-verified", "base", kT2}).status, 0);
  ASSERT_EQ(cli({"protect", "base", kT2}).status, 0);
  struct stat st;
  ASSERT_EQ(::lstat((t / ("base/base-" + kT2 + ".verified")).c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(read_file(outside / "precious.txt"), "do not touch\n");
}

TEST_F(Hostile, LayerDirectorySymlinkIsRefusedEverywhere) {
  make_build(outside.path(), "evil", kT1);
  ASSERT_EQ(::symlink((outside.path() + "/evil").c_str(), (t / "evil").c_str()), 0);
  auto before = snapshot(outside.path());
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"list", "evil"},
                                             {"prune", "evil", "--retain", "0"},
                                             {"point-latest", "evil", kT1},
                                             {"mark-verified", "evil", kT1},
                                             {"stamp", "evil"},
                                             {"rollback", "evil"}}) {
    auto r = cli(args);
    EXPECT_EQ(r.status, 1) << args[0];
    EXPECT_NE(r.err.find("symlink"), std::string::npos) << args[0] << ": " << r.err;
  }
  auto r = cli({"fsck", "--repair"});
  EXPECT_NE(r.out.find("layer directory is a symlink"), std::string::npos) << r.out;
  EXPECT_EQ(snapshot(outside.path()), before);
  EXPECT_TRUE(exists(t / "evil"));
}

TEST_F(Hostile, ImageThatIsADirectoryOrFifoDoesNotBlockOrCount) {
  ASSERT_EQ(::mkdir((t / "base/base-2026-0101-000009.sif").c_str(), 0755), 0);
  ASSERT_EQ(::mkfifo((t / "base/base-2026-0101-000010.sif").c_str(), 0644), 0);
  make_build(t.path(), "base", "2026-0101-000010", {"lock", "def"});
  auto start = std::chrono::steady_clock::now();
  auto j = json::parse(cli({"list", "base", "--json"}).out);
  EXPECT_EQ(j.size(), 3u);  // neither counts as a build
  auto r = cli({"prune", "base", "--retain", "0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(exists(t / "base/base-2026-0101-000009.sif"));
  EXPECT_TRUE(exists(t / "base/base-2026-0101-000010.sif"));
  r = cli({"point-latest", "base", "2026-0101-000010"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  // A pointer planted onto the FIFO: check must refuse it without reading.
  make_pointer(t.path(), "base", "base/base-2026-0101-000010.sif");
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST_F(Hostile, OddFileNamesAreIgnoredAndReported) {
  write_file(t / "base/base-2026-0101-000004\n.sif", "");
  write_file(t / "base/base-\xff\xfe.sif", "");
  write_file(t / "base\nx.sif", "");
  auto r = cli({"list", "base", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 3u);
  r = cli({"layers", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 1u);
  r = cli({"prune", "base", "--retain", "0"});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(exists(t / "base/base-\xff\xfe.sif"));
  // A store root whose own name is not UTF-8 still prints valid JSON.
  TempDir u;
  std::string odd = u / "st\xffore";
  make_build(odd, "base", kT1);
  r = sifstore(odd, {"list", "base", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json listed;
  EXPECT_NO_THROW(listed = json::parse(r.out));
  EXPECT_EQ(listed.size(), 1u);
}

// Runs sifstore as the unprivileged user `nobody` (root ignores permission
// bits, so the permission cases need another user).
RunResult as_nobody(const std::string& root, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SIFSTORE_EXE, "--root", root};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

TEST_F(Hostile, PermissionDeniedIsReportedAndChangesNothing) {
  if (::access("/usr/bin/setpriv", X_OK) != 0 || ::geteuid() != 0)
    GTEST_SKIP() << "needs root and setpriv to run sifstore as another user";
  // Readable by everyone, writable by root only.
  for (const auto& p : {t.path(), t / "base"}) ::chmod(p.c_str(), 0755);
  ::chmod(t.path().c_str(), 0755);
  std::filesystem::permissions(std::filesystem::path(t.path()).parent_path(),
                               std::filesystem::perms::others_exec,
                               std::filesystem::perm_options::add);
  auto probe = as_nobody(t.path(), {"list", "base", "--json"});
  if (probe.status != 0) GTEST_SKIP() << "nobody cannot reach the temp dir: " << probe.err;
  EXPECT_EQ(json::parse(probe.out).size(), 3u);
  auto before = snapshot(t.path());
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"prune", "base", "--retain", "0"},
                                             {"point-latest", "base", kT1},
                                             {"mark-verified", "base", kT1},
                                             {"protect", "base", kT1},
                                             {"stamp", "base"}}) {
    auto r = as_nobody(t.path(), args);
    EXPECT_EQ(r.status, 1) << args[0];
    // The file and the right missing are named.
    EXPECT_NE(
        r.err.find("permission denied (needs write permission on directory " + t / "base" + ")"),
        std::string::npos)
        << args[0] << ": " << r.err;
  }
  EXPECT_EQ(snapshot(t.path()), before);
  // A layer directory nobody may not read.
  ::chmod((t / "base").c_str(), 0700);
  auto r = as_nobody(t.path(), {"list", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("permission denied (needs read permission on " + t / "base" + ")"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace sifstore::test
