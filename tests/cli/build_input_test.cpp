// Bad input to the build chain: a clear `sifstore: error:` message and the
// store left as it was. The only trace a refused build may leave is the log
// of a build that got as far as running (its `<layer>-<ts>.build.log`, which
// tells what happened); input that is checked before the store is touched
// (def, base layer, builder) leaves nothing at all.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "cli/build_fixture.h"

namespace sifstore::test {
namespace {

class BuildInput : public BuildChainTest {
 protected:
  void SetUp() override {
    BuildChainTest::SetUp();
    ts1 = build_ok("base");
    before = snapshot(root);
  }
  // The build failed with status 1, an error naming `what`, and no change.
  void expect_refused(const RunResult& r, const std::string& what) {
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_TRUE(contains(error_line(r), what)) << r.err;
    EXPECT_EQ(snapshot(root), before);
    EXPECT_EQ(latest("base"), ts1);
  }
  std::string ts1;
  std::map<std::string, std::string> before;
};

TEST_F(BuildInput, MissingDef) {
  expect_refused(build("base", "no-such.def"), "no-such.def");
  expect_refused(build("other", "no-such.def"), "no-such.def");
}

TEST_F(BuildInput, DefWithoutBootstrap) {
  write_file(t / "nob.def", "From: debian:12\n%post\n    apt-get install -y curl\n");
  expect_refused(build("base", "nob.def"), "Bootstrap");
  write_file(t / "empty.def", "");
  expect_refused(build("base", "empty.def"), "Bootstrap");
  write_file(t / "post.def", "%post\n    echo hi\n");
  expect_refused(build("base", "post.def"), "post.def:1");
}

// A byte-order mark is invisible in the line an error shows: it is named.
TEST_F(BuildInput, DefWithAByteOrderMark) {
  write_file(t / "bom.def", std::string("\xEF\xBB\xBF") + kBaseDef);
  expect_refused(build("base", "bom.def"),
                 "bom.def:1: the file starts with a UTF-8 byte-order mark (bytes EF BB BF)");
}

// A lock records the def's path as text, which must be UTF-8: a path that
// is not is refused before anything runs, not written into a lock that
// `check` then rejects.
TEST_F(BuildInput, DefPathThatIsNotUtf8) {
  std::string dir = t / "caf\xe9";
  write_file(dir + "/base.def", kBaseDef);
  write_file(dir + "/data/hello.txt", "hello\n");
  expect_refused(build("base", dir + "/base.def"),
                 "the definition path '" + t.path() + "/caf\\xe9/base.def' is not UTF-8 text");
  expect_refused(build("other", dir + "/base.def"), "is not UTF-8 text");
}

TEST_F(BuildInput, UnknownBaseLayer) {
  write_file(t / "app.def", "Bootstrap: localimage\nFrom: containers/ghost.sif\n");
  expect_refused(build("app", "app.def", {"--from", "ghost"}), "base layer 'ghost'");
  // FROM needs a localimage def.
  expect_refused(build("app", "base.def", {"--from", "base"}), "Bootstrap: localimage");
  // A localimage def naming a missing image.
  expect_refused(build("app", "app.def"), "not found");
}

TEST_F(BuildInput, BuilderNotFound) {
  auto r = cli({"build", "base", "--def", "base.def", "--builder", t / "no/such/apptainer"});
  expect_refused(r, "builder '" + t / "no/such/apptainer" + "' not found");
  r = cli({"build", "base", "--def", "base.def", "--builder", "no-such-apptainer-xyz"});
  expect_refused(r, "no-such-apptainer-xyz");
  r = cli({"build", "base", "--def", "base.def", "--builder", ""});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(snapshot(root), before);
}

// A refused build on a root that does not exist yet leaves no root behind,
// nor any of the parents it would have created; an existing parent stays.
TEST_F(BuildInput, RefusedBuildOnAMissingRootCreatesNothing) {
  std::string parent = t / "new";
  std::string missing = parent + "/a/b/containers";
  for (const std::vector<std::string>& more :
       {std::vector<std::string>{"--def", "no-such.def"},
        std::vector<std::string>{"--def", "base.def", "--builder", "no-such-apptainer-xyz"},
        std::vector<std::string>{"--def", "base.def", "--from", "ghost"}}) {
    std::vector<std::string> argv = {SIFSTORE_EXE, "--root", missing, "build", "base"};
    argv.insert(argv.end(), more.begin(), more.end());
    if (std::find(more.begin(), more.end(), "--builder") == more.end())
      argv.insert(argv.end(), {"--builder", kStandin});
    RunResult r = run(argv, env({}), t.path());
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find("sifstore: error: "), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(parent)) << more[1];
  }
  std::filesystem::create_directory(parent);
  RunResult r = run({SIFSTORE_EXE, "--root", parent + "/containers", "build", "base", "--def",
                     "no-such.def", "--builder", kStandin},
                    env({}), t.path());
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(std::filesystem::is_directory(parent));
  EXPECT_FALSE(std::filesystem::exists(parent + "/containers"));
  // A build that runs makes the root as before.
  EXPECT_EQ(run({SIFSTORE_EXE, "--root", missing, "build", "base", "--def", "base.def", "--builder",
                 kStandin},
                env({}), t.path())
                .status,
            0);
  EXPECT_TRUE(std::filesystem::exists(missing + "/base.sif"));
}

TEST_F(BuildInput, UsageErrors) {
  auto r = cli({"build", "base"});
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains(r.err, "--def")) << r.err;
  r = cli({"build", "Bad/Name", "--def", "base.def", "--builder", kStandin});
  EXPECT_NE(r.status, 0);
  r = build("base", "base.def", {"--retain", "-1"});
  EXPECT_EQ(r.status, 2);
  r = build("base", "base.def", {"--capture", "dynamic"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(snapshot(root), before);
}

// Mounts for the tests below happen in a private mount namespace of this
// test process (each ctest entry is its own process), so nothing leaks.
bool enter_private_mount_namespace(std::string& why) {
  static int state = -1;
  static std::string reason;
  if (state < 0) {
    state = ::unshare(CLONE_NEWNS) == 0 &&
            ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    if (!state) reason = std::strerror(errno);
  }
  why = reason;
  return state;
}

// Writes <fs>/filler so that about `leave` bytes stay free on fs.
void fill(const std::string& fs, uint64_t leave) {
  std::string path = fs + "/filler";
  ::unlink(path.c_str());
  struct statvfs st;
  ASSERT_EQ(::statvfs(fs.c_str(), &st), 0);
  uint64_t free_bytes = uint64_t{st.f_bavail} * st.f_frsize;
  uint64_t size = free_bytes > leave ? free_bytes - leave : 0;
  std::ofstream filler(path, std::ios::binary);
  std::string block(4096, 'x');
  for (uint64_t n = 0; n < size || leave == 0; n += block.size())
    if (!filler.write(block.data(), block.size()) || !filler.flush()) break;
}

struct Unmount {
  std::string dir;
  ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
};

TEST_F(BuildInput, ReadOnlyRoot) {
  std::string why;
  if (!enter_private_mount_namespace(why))
    GTEST_SKIP() << "cannot make a private mount namespace here (" << why
                 << "); as root, chmod cannot make the store unwritable";
  if (::mount(root.c_str(), root.c_str(), nullptr, MS_BIND, nullptr) != 0)
    GTEST_SKIP() << "cannot bind-mount the store: " << std::strerror(errno);
  Unmount unmount{root};
  if (::mount(nullptr, root.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
    GTEST_SKIP() << "cannot remount the store read-only: " << std::strerror(errno);
  expect_refused(build("base"), "Read-only file system");
  expect_refused(build("other"), "Read-only file system");
  // The layer's own lock (.sifstore-lock), not a package lock file.
  auto r = cli({"protect", "base", ts1});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(error_line(r), "sifstore: error: cannot lock layer " + root +
                               "/base (opening its layer lock file .sifstore-lock): "
                               "Read-only file system")
      << r.err;
}

TEST_F(BuildInput, DiskFull) {
  std::string why;
  if (!enter_private_mount_namespace(why))
    GTEST_SKIP() << "cannot make a private mount namespace here (" << why
                 << "), so no small file system to fill";
  std::string fs = t / "small";
  ::mkdir(fs.c_str(), 0755);
  if (::mount("tmpfs", fs.c_str(), "tmpfs", 0, "size=1m") != 0)
    GTEST_SKIP() << "cannot mount a 1 MiB tmpfs: " << std::strerror(errno);
  Unmount unmount{fs};
  root = fs + "/containers";
  ts1 = build_ok("base");
  ASSERT_FALSE(ts1.empty());
  // Full: nothing can be written (the failure comes at the reservation).
  // Nearly full: the store's small files fit, the image does not (the
  // builder fails; its log says why).
  for (uint64_t leave : {uint64_t{0}, uint64_t{16} << 10}) {
    SCOPED_TRACE(leave);
    fill(fs, leave);
    before = snapshot(root);
    std::set<std::string> known;
    for (const auto& n : list_dir(root + "/base")) known.insert(n);
    auto r = build("base");
    EXPECT_EQ(r.status, 1) << r.err;
    std::string err = error_line(r);
    EXPECT_TRUE(contains(err, leave == 0 ? "No space left on device" : ".build.log")) << r.err;
    EXPECT_TRUE(contains(r.err, "o space left on device")) << r.err;  // the builder's words
    EXPECT_EQ(latest("base"), ts1);
    // Allowed: the failed build's log (the one the message names).
    auto after = snapshot(root);
    for (const auto& n : list_dir(root + "/base")) {
      if (known.count(n)) continue;
      EXPECT_TRUE(n[0] != '.' && n.size() > 10 && n.compare(n.size() - 10, 10, ".build.log") == 0)
          << n;
      EXPECT_TRUE(contains(err, root + "/base/" + n)) << err;
      after.erase("base/" + n);
    }
    EXPECT_EQ(after, before);
    expect_every_sif_complete("base");
  }
  // With space again, the store builds.
  ::unlink((fs + "/filler").c_str());
  std::string ts = build_ok("base");
  EXPECT_EQ(latest("base"), ts);
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
}

}  // namespace
}  // namespace sifstore::test
