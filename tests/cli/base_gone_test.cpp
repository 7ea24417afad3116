// A retained build whose base build was removed outside SifStore (the
// reference tool's prune, `rm`): it can no longer be rebuilt from its
// locked def. `check` warns, `fsck` reports it, and `verify` says so before
// running the builder, leaving the build's marker as it was.
#include <gtest/gtest.h>
#include <unistd.h>

#include "cli/build_fixture.h"

namespace sifstore::test {
namespace {

class BaseGone : public BuildChainTest {
 protected:
  // base (base_ts), app built FROM it and verified (app_ts), a newer base
  // build, then every file of base_ts removed as the reference's prune does.
  void SetUp() override {
    BuildChainTest::SetUp();
    base_ts = build_ok("base");
    write_file(t / "app.def", "Bootstrap: localimage\nFrom: containers/base.sif\n");
    app_ts = build_ok("app", "app.def", {"--from", "base", "--verify"});
    ASSERT_TRUE(exists(artifact("app", app_ts, "verified")));
    ASSERT_NE(build_ok("base"), base_ts);
    for (const char* ext : {"sif", "lock", "def", "rough.def", "build.log"})
      ::unlink(artifact("base", base_ts, ext).c_str());
    gone = "cannot be rebuilt: its base base-" + base_ts + " is gone (" +
           artifact("base", base_ts, "sif") + ")";
  }
  std::string base_ts, app_ts, gone;
};

TEST_F(BaseGone, CheckWarns) {
  auto r = cli({"check", "app"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "app-" + app_ts + " " + gone)) << r.err;
  // A build whose base is there gets no such warning.
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(contains(r.err, "cannot be rebuilt")) << r.err;
}

TEST_F(BaseGone, FsckReports) {
  auto r = cli({"fsck"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, gone)) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, artifact("app", app_ts, "sif"))) << r.out << r.err;
}

TEST_F(BaseGone, VerifySaysSoBeforeRunningTheBuilder) {
  std::string log_before = read_file(artifact("app", app_ts, "build.log"));
  auto r = cli({"verify", "app", "--builder", kStandin});
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(error_line(r), "cannot verify app-" + app_ts + ": it " + gone)) << r.err;
  // The builder never ran, and the marker is as it was.
  EXPECT_EQ(read_file(artifact("app", app_ts, "build.log")), log_before);
  EXPECT_TRUE(exists(artifact("app", app_ts, "verified")));
  EXPECT_FALSE(exists(artifact("app", app_ts, "unverified")));
  EXPECT_TRUE(hidden_files("app").empty());
}

}  // namespace
}  // namespace sifstore::test
