// The store commands of the built `sifstore`, on real stores.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "support/store_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

const std::string kT1 = "2026-0101-000001";
const std::string kT2 = "2026-0101-000002";
const std::string kT3 = "2026-0101-000003";

class StoreCli : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& ts : {kT1, kT2, kT3}) make_build(t.path(), "base", ts);
    make_pointer(t.path(), "base", "base/base-" + kT2 + ".sif");
  }
  RunResult cli(const std::vector<std::string>& args) { return sifstore(t.path(), args); }
  TempDir t;
};

TEST_F(StoreCli, ListJsonHasExactlyTheSpecKeys) {
  auto r = cli({"list", "base", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["ts"], kT3);
  EXPECT_EQ(j[1]["active"], true);
  EXPECT_EQ(j[0]["active"], false);
  EXPECT_EQ(j[2]["lock"], t.path() + "/base/base-" + kT1 + ".lock");
  EXPECT_TRUE(j[2]["verified"].is_null());
  std::vector<std::string> keys;
  for (auto& [k, v] : j[0].items()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"active", "def", "keep", "lock", "sif", "ts",
                                            "verified"}));
}

TEST_F(StoreCli, ListHumanMarksActive) {
  auto r = cli({"list", "base"});
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("*  " + kT2), std::string::npos) << r.out;
}

TEST_F(StoreCli, PointRollbackPrune) {
  auto r = cli({"point-latest", "base", kT3});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(link_target(t / "base.sif"), "base/base-" + kT3 + ".sif");
  r = cli({"rollback", "base"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(link_target(t / "base.sif"), "base/base-" + kT2 + ".sif");
  r = cli({"rollback", "base", "--to", kT1});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(link_target(t / "base.sif"), "base/base-" + kT1 + ".sif");
  r = cli({"prune", "base", "--retain", "1", "--dry-run"});
  EXPECT_EQ(r.out, kT2 + "\n");
  EXPECT_TRUE(exists(t / ("base/base-" + kT2 + ".sif")));
  r = cli({"prune", "base", "--retain", "1", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["pruned"], json::array({kT2}));
  EXPECT_FALSE(exists(t / ("base/base-" + kT2 + ".sif")));
  EXPECT_FALSE(exists(t / ("base/base-" + kT2 + ".lock")));
}

TEST_F(StoreCli, PruneDefaultsToConfigRetain) {
  write_file(t / "config.yaml", "images:\n  retain: 1\n");
  auto r = cli({"prune", "base"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, kT1 + "\n");  // kT2 active, kT3 newest
  write_file(t / "config.yaml", "images:\n  retain: nonsense\n");
  r = cli({"prune", "base"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("warning"), std::string::npos) << r.err;
}

TEST_F(StoreCli, MarkersAndProtect) {
  ASSERT_EQ(cli({"mark-unverified", "base", kT1, "--reason", "pip:x: 1 -> 2"}).status, 0);
  EXPECT_NE(read_file(t / ("base/base-" + kT1 + ".unverified")).find("pip:x: 1 -> 2"),
            std::string::npos);
  ASSERT_EQ(cli({"mark-verified", "base", kT1}).status, 0);
  EXPECT_FALSE(exists(t / ("base/base-" + kT1 + ".unverified")));
  ASSERT_EQ(cli({"protect", "base", kT1}).status, 0);
  auto j = json::parse(cli({"list", "base", "--json"}).out);
  EXPECT_EQ(j[2]["keep"], true);
  EXPECT_EQ(j[2]["verified"], true);
  ASSERT_EQ(cli({"unprotect", "base", kT1}).status, 0);
  j = json::parse(cli({"list", "base", "--json"}).out);
  EXPECT_EQ(j[2]["keep"], false);
}

TEST_F(StoreCli, LayersAndPaths) {
  make_build(t.path(), "app", kT1);
  auto j = json::parse(cli({"layers", "--json"}).out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["layer"], "base");
  EXPECT_EQ(j[1]["builds"], 3);
  EXPECT_EQ(j[1]["active"], kT2);
  EXPECT_TRUE(j[0]["active"].is_null());
  j = json::parse(cli({"paths", "base", kT1, "--json"}).out);
  EXPECT_EQ(j["lock"], t.path() + "/base/base-" + kT1 + ".lock");
  EXPECT_EQ(j["latest"], t.path() + "/base.sif");
}

TEST_F(StoreCli, StampIsStrictlyNewerAndReserved) {
  make_build(t.path(), "base", "2099-0101-000000");
  auto r = cli({"stamp", "base"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "2099-0101-000001\n");
  r = cli({"stamp", "base"});
  EXPECT_EQ(r.out, "2099-0101-000002\n");
  r = cli({"stamp"});
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(r.out.size(), 17u) << r.out;
}

TEST_F(StoreCli, RootFromEnvironment) {
  auto r = run({SIFSTORE_EXE, "list", "base", "--json"}, {"SIFSTORE_ROOT=" + t.path()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 3u);
}

// Each bad input: a clear `sifstore: error:` message, exit 1 or 2, and the
// store exactly as it was.
TEST_F(StoreCli, BadInputLeavesStoreUnchanged) {
  TempDir outside;
  make_build(outside.path(), "evil", kT1);
  ASSERT_EQ(::symlink((outside.path() + "/evil").c_str(), (t / "evil").c_str()), 0);
  make_pointer(t.path(), "gone", "gone/gone-" + kT1 + ".sif");
  struct Case {
    std::vector<std::string> args;
    std::string expect;  // a fragment of the message
  };
  std::vector<Case> cases = {
      {{"list", "../x"}, "invalid layer name"},
      {{"list", ""}, "invalid layer name"},
      {{"prune", "a/b"}, "invalid layer name"},
      {{"point-latest", "base", "2026-13-01"}, "invalid timestamp"},
      {{"mark-verified", "base", "2026-1301-000000"}, "invalid timestamp"},
      {{"point-latest", "base", "2026-0101-000009"}, "build not found"},
      {{"rollback", "gone"}, "not found"},
      {{"point-latest", "gone", kT1}, "not found"},
      {{"list", "evil"}, "symlink"},
      {{"prune", "evil", "--retain", "0"}, "symlink"},
      {{"point-latest", "evil", kT1}, "symlink"},
      {{"protect", "evil", kT1}, "symlink"},
  };
  auto before = snapshot(t.path());
  auto outside_before = snapshot(outside.path());
  for (const auto& c : cases) {
    auto r = cli(c.args);
    EXPECT_TRUE(r.status == 1 || r.status == 2) << c.args[0] << " exit " << r.status;
    EXPECT_EQ(r.err.rfind("sifstore: error:", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(t.path()), before) << "store changed by " << c.args[0];
  }
  EXPECT_EQ(snapshot(outside.path()), outside_before);
}

TEST(StoreCliMissing, MissingStoreIsAnError) {
  TempDir t;
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"list", "base"}, {"layers"}, {"prune", "base"}, {"point-latest", "base", kT1}}) {
    auto r = sifstore(t / "nowhere", args);
    EXPECT_EQ(r.status, 1) << args[0];
    EXPECT_NE(r.err.find("store not found"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(exists(t / "nowhere"));
}

TEST(StoreCliConfig, UnreadableConfigIsAnError) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  make_build(t.path(), "base", kT2);
  write_file(t / "config.yaml", "images: {retain: [\n");
  auto before = snapshot(t.path());
  auto r = sifstore(t.path(), {"prune", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("config.yaml"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(t.path()), before);
  // A config that is a directory, not a file.
  ::unlink((t / "config.yaml").c_str());
  ::mkdir((t / "config.yaml").c_str(), 0755);
  r = sifstore(t.path(), {"prune", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("config.yaml"), std::string::npos) << r.err;
}

TEST(StoreCliConfig, ConfigFifoDoesNotBlock) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  ASSERT_EQ(::mkfifo((t / "config.yaml").c_str(), 0644), 0);
  auto r = sifstore(t.path(), {"prune", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sifstore::test
