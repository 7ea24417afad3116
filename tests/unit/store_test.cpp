#include "core/store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "support/store_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::exists;
using test::make_build;
using test::make_pointer;
using test::TempDir;

const char* kT1 = "2026-0101-000001";
const char* kT2 = "2026-0101-000002";
const char* kT3 = "2026-0101-000003";
const char* kT4 = "2026-0101-000004";

std::vector<std::string> tss(const std::vector<Build>& builds) {
  std::vector<std::string> out;
  for (const auto& b : builds) out.push_back(b.ts);
  return out;
}

TEST(StoreOpen, MissingStoreIsAClearError) {
  TempDir t;
  try {
    Store::open(t / "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("store not found"), std::string::npos);
  }
  EXPECT_NO_THROW(Store::open_or_create(t / "new/root"));
  EXPECT_TRUE(exists(t / "new/root"));
}

TEST(StoreList, NewestFirstWithEveryField) {
  TempDir t;
  make_build(t.path(), "base", kT1, {"sif", "lock", "def", "verified"});
  make_build(t.path(), "base", kT2, {"sif", "unverified", "keep"});
  make_build(t.path(), "base", kT3, {"sif", "lock"});
  make_pointer(t.path(), "base", std::string("base/base-") + kT2 + ".sif");
  auto store = Store::open(t.path());
  auto builds = store.list("base");
  ASSERT_EQ(tss(builds), (std::vector<std::string>{kT3, kT2, kT1}));
  EXPECT_EQ(builds[2].sif, t.path() + "/base/base-" + kT1 + ".sif");
  EXPECT_EQ(builds[2].lock, t.path() + "/base/base-" + kT1 + ".lock");
  EXPECT_EQ(builds[2].def, t.path() + "/base/base-" + kT1 + ".def");
  EXPECT_EQ(builds[2].verified, true);
  EXPECT_FALSE(builds[2].active);
  EXPECT_EQ(builds[1].lock, std::nullopt);
  EXPECT_EQ(builds[1].verified, false);
  EXPECT_TRUE(builds[1].keep);
  EXPECT_TRUE(builds[1].active);
  EXPECT_EQ(builds[0].verified, std::nullopt);
  EXPECT_EQ(builds[0].def, std::nullopt);
}

TEST(StoreList, OnlyExactNamesCount) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  make_build(t.path(), "base-dev", kT2);  // another layer, prefixed by "base-"
  test::write_file(t / "base/base-dev-2026-0101-000003.sif", "");
  test::write_file(t / "base/base-2026-0101-00000.sif", "");
  test::write_file(t / "base/base-2026-0101-000004.sif.tmp", "");
  test::write_file(t / "base/.base-2026-0101-000005.sif", "");
  test::write_file(t / "base/base-2026-0101-000006.lock", "");  // orphan lock: not a build
  auto store = Store::open(t.path());
  EXPECT_EQ(tss(store.list("base")), (std::vector<std::string>{kT1}));
  EXPECT_EQ(tss(store.list("base-dev")), (std::vector<std::string>{kT2}));
  EXPECT_TRUE(store.list("absent").empty());
}

TEST(StoreList, RejectsBadLayerNames) {
  TempDir t;
  auto store = Store::open(t.path());
  for (const char* bad : {"../x", "", "a/b", ".."}) EXPECT_THROW(store.list(bad), Error) << bad;
}

TEST(StoreList, LayerDirectorySymlinkIsRefused) {
  TempDir t, outside;
  make_build(outside.path(), "base", kT1);
  ASSERT_EQ(::symlink((outside.path() + "/base").c_str(), (t / "base").c_str()), 0);
  auto store = Store::open(t.path());
  EXPECT_THROW(store.list("base"), Error);
  EXPECT_THROW(store.prune("base", 0), Error);
  EXPECT_TRUE(exists(outside.path() + "/base/base-" + kT1 + ".sif"));
}

TEST(ActiveBuild, ReadsPointerTargetsLikeTheReference) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  auto store = Store::open(t.path());
  EXPECT_EQ(store.active_ts("base"), std::nullopt);  // no pointer
  make_pointer(t.path(), "base", std::string("base/base-") + kT1 + ".sif");
  EXPECT_EQ(store.active_ts("base"), kT1);
  make_pointer(t.path(), "base", t.path() + "/base/base-" + kT1 + ".sif");  // absolute
  EXPECT_EQ(store.active_ts("base"), kT1);
  make_pointer(t.path(), "base", std::string("somewhere/else/base-") + kT2 + ".sif");  // dangling
  EXPECT_EQ(store.active_ts("base"), kT2);
  make_pointer(t.path(), "base", "/etc/passwd");
  EXPECT_EQ(store.active_ts("base"), std::nullopt);
  ::unlink((t / "base.sif").c_str());
  test::write_file(t / "base.sif", "a regular file, not a pointer");
  EXPECT_EQ(store.active_ts("base"), std::nullopt);
}

TEST(PointLatest, WritesRelativeSymlinkAtomically) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  make_build(t.path(), "base", kT2);
  auto store = Store::open(t.path());
  store.point_latest("base", kT1);
  EXPECT_EQ(test::link_target(t / "base.sif"), std::string("base/base-") + kT1 + ".sif");
  store.point_latest("base", kT2);
  EXPECT_EQ(test::link_target(t / "base.sif"), std::string("base/base-") + kT2 + ".sif");
  // No temporary left behind.
  for (const auto& n : test::list_dir(t.path())) EXPECT_EQ(n.find(".tmp"), std::string::npos) << n;
}

TEST(PointLatest, MissingBuildFailsAndLeavesPointer) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  make_pointer(t.path(), "base", std::string("base/base-") + kT1 + ".sif");
  auto store = Store::open(t.path());
  EXPECT_THROW(store.point_latest("base", kT2), Error);
  EXPECT_THROW(store.point_latest("base", "2026-13xx-000000"), Error);
  EXPECT_THROW(store.point_latest("nolayer", kT1), Error);
  EXPECT_EQ(test::link_target(t / "base.sif"), std::string("base/base-") + kT1 + ".sif");
}

TEST(PointLatest, ReplacesARegularFile) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  test::write_file(t / "base.sif", "stale copy");
  Store::open(t.path()).point_latest("base", kT1);
  EXPECT_EQ(test::link_target(t / "base.sif"), std::string("base/base-") + kT1 + ".sif");
}

TEST(Rollback, PreviousOrGiven) {
  TempDir t;
  for (auto ts : {kT1, kT2, kT3}) make_build(t.path(), "base", ts);
  auto store = Store::open(t.path());
  EXPECT_THROW(store.rollback("base", std::nullopt), Error);  // no pointer yet
  store.point_latest("base", kT3);
  EXPECT_EQ(store.rollback("base", std::nullopt), kT2);
  EXPECT_EQ(store.active_ts("base"), kT2);
  EXPECT_EQ(store.rollback("base", std::nullopt), kT1);
  EXPECT_THROW(store.rollback("base", std::nullopt), Error);  // nothing older
  EXPECT_EQ(store.active_ts("base"), kT1);
  EXPECT_EQ(store.rollback("base", std::string_view(kT3)), kT3);
  EXPECT_THROW(store.rollback("base", std::string_view(kT4)), Error);
  EXPECT_EQ(store.active_ts("base"), kT3);
}

TEST(Prune, KeepsRetainNewestPlusActiveAndKeep) {
  TempDir t;
  const std::vector<std::string> all = {"2026-0101-000001", "2026-0101-000002", "2026-0101-000003",
                                        "2026-0101-000004", "2026-0101-000005", "2026-0101-000006"};
  for (const auto& ts : all) make_build(t.path(), "base", ts, {"sif", "lock", "def", "build.log"});
  test::write_file(t / "base/base-2026-0101-000002.keep", "");
  make_pointer(t.path(), "base", "base/base-2026-0101-000001.sif");
  auto store = Store::open(t.path());
  auto dry = store.prune("base", 2, true);
  EXPECT_EQ(dry.pruned, (std::vector<std::string>{"2026-0101-000004", "2026-0101-000003"}));
  EXPECT_TRUE(exists(t / "base/base-2026-0101-000003.sif"));  // dry run removed nothing
  auto r = store.prune("base", 2);
  EXPECT_EQ(r.pruned, dry.pruned);
  EXPECT_EQ(r.kept, (std::vector<std::string>{"2026-0101-000006", "2026-0101-000005",
                                              "2026-0101-000002", "2026-0101-000001"}));
  EXPECT_EQ(tss(store.list("base")), r.kept);
  EXPECT_FALSE(exists(t / "base/base-2026-0101-000003.build.log"));
  EXPECT_FALSE(exists(t / "base/base-2026-0101-000004.def"));
}

TEST(Prune, RemovesAllSevenArtifacts) {
  TempDir t;
  make_build(t.path(), "base", kT1,
             {"sif", "lock", "def", "verified", "unverified", "keep", "build.log"});
  test::write_file(t / "base/base-2026-0101-000001.keep", "");
  make_build(t.path(), "base", kT2);
  auto store = Store::open(t.path());
  EXPECT_EQ(store.prune("base", 0).pruned, (std::vector<std::string>{kT2}));  // kT1 has .keep
  make_build(t.path(), "base", kT3);
  store.unprotect("base", kT1);
  auto r = store.prune("base", 1);
  EXPECT_EQ(r.pruned, (std::vector<std::string>{kT1}));
  for (const auto& n : test::list_dir(t / "base"))
    EXPECT_EQ(n.find(kT1), std::string::npos) << n << " survived";
}

TEST(Prune, RetainZeroKeepsOnlyProtected) {
  TempDir t;
  for (auto ts : {kT1, kT2, kT3}) make_build(t.path(), "base", ts);
  make_pointer(t.path(), "base", std::string("base/base-") + kT2 + ".sif");
  auto r = Store::open(t.path()).prune("base", 0);
  EXPECT_EQ(r.pruned, (std::vector<std::string>{kT3, kT1}));
  EXPECT_EQ(r.kept, (std::vector<std::string>{kT2}));
}

TEST(Prune, KeepsBaseBuildPinnedByAnotherLayer) {
  TempDir t;
  for (auto ts : {kT1, kT2, kT3}) make_build(t.path(), "base", ts);
  make_build(t.path(), "app", kT4, {"sif", "lock"});
  test::write_file(t / "app/app-2026-0101-000004.def",
                   "Bootstrap: localimage\nFrom: " + t.path() + "/base/base-" + kT1 +
                       ".sif\n\n%post\n  echo hi\n");
  make_pointer(t.path(), "base", std::string("base/base-") + kT3 + ".sif");
  auto r = Store::open(t.path()).prune("base", 0);
  EXPECT_EQ(r.pruned, (std::vector<std::string>{kT2}));
  EXPECT_TRUE(exists(t / "base/base-2026-0101-000001.sif"));
}

// Every `Bootstrap: localimage` stage of a retained build's locked def pins
// the base build it names, not only the first `From:` or the final stage.
TEST(Prune, KeepsEveryBaseBuildOfAMultiStageLockedDef) {
  TempDir t;
  for (auto ts : {kT1, kT2, kT3, kT4}) make_build(t.path(), "base", ts);
  make_build(t.path(), "tools", kT1);
  make_build(t.path(), "tools", kT2);
  make_build(t.path(), "app", kT4, {"sif", "lock"});
  auto image = [&](const char* layer, const char* ts) {
    return t.path() + "/" + layer + "/" + layer + "-" + ts + ".sif";
  };
  test::write_file(
      t / "app/app-2026-0101-000004.def",
      std::string("Bootstrap: docker\nFrom: debian:12\nStage: fetch\n%post\n  true\n") +
          "Bootstrap: localimage\nFrom: " + image("base", kT1) +
          "\nStage: one\n%post\n  true\n"
          "Bootstrap: localimage\nFrom: " +
          image("tools", kT1) +
          "\nStage: two\n%files from one\n  /a /a\n"
          "bootstrap: localimage\n"
          "# sifstore: From pinned to the exact base build (rough def: base.sif)\n"
          "From: " +
          image("base", kT2) + "\n%post\n  true\n");
  make_pointer(t.path(), "base", std::string("base/base-") + kT4 + ".sif");
  make_pointer(t.path(), "tools", std::string("tools/tools-") + kT2 + ".sif");
  auto store = Store::open(t.path());
  auto r = store.prune("base", 0);
  EXPECT_EQ(r.pruned, (std::vector<std::string>{kT3}));
  EXPECT_EQ(r.kept, (std::vector<std::string>{kT4, kT2, kT1}));
  EXPECT_TRUE(store.prune("tools", 0).pruned.empty());
  EXPECT_TRUE(exists(t / "tools/tools-2026-0101-000001.sif"));
}

TEST(Prune, MissingLayerPrunesNothing) {
  TempDir t;
  EXPECT_TRUE(Store::open(t.path()).prune("ghost", 1).pruned.empty());
  EXPECT_THROW(Store::open(t.path()).prune("ghost", -1), Error);
}

TEST(Markers, VerifiedAndUnverifiedAreExclusive) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  auto store = Store::open(t.path());
  store.mark_unverified("base", kT1, "pip:numpy: 1 -> 2\n");
  std::string body = test::read_file(t / "base/base-2026-0101-000001.unverified");
  EXPECT_EQ(body.rfind("reproducibility unverified at ", 0), 0u) << body;
  EXPECT_NE(body.find("\npip:numpy: 1 -> 2\n"), std::string::npos) << body;
  EXPECT_EQ(store.list("base")[0].verified, false);
  store.mark_verified("base", kT1);
  EXPECT_FALSE(exists(t / "base/base-2026-0101-000001.unverified"));
  EXPECT_EQ(test::read_file(t / "base/base-2026-0101-000001.verified").rfind("round-trip verified at ", 0), 0u);
  EXPECT_EQ(store.list("base")[0].verified, true);
  store.mark_unverified("base", kT1, "");
  EXPECT_FALSE(exists(t / "base/base-2026-0101-000001.verified"));
  EXPECT_EQ(store.list("base")[0].verified, false);
}

TEST(Markers, NeedAnExistingBuild) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  auto store = Store::open(t.path());
  EXPECT_THROW(store.mark_verified("base", kT2), Error);
  EXPECT_THROW(store.protect("base", kT2), Error);
  EXPECT_THROW(store.mark_unverified("base", "bad-ts", "x"), Error);
  EXPECT_EQ(test::list_dir(t / "base").size(), 3u);
}

TEST(Markers, ProtectAndUnprotect) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  auto store = Store::open(t.path());
  store.protect("base", kT1);
  EXPECT_EQ(test::read_file(t / "base/base-2026-0101-000001.keep"), "prune-protected\n");
  EXPECT_TRUE(store.list("base")[0].keep);
  EXPECT_TRUE(store.unprotect("base", kT1));
  EXPECT_FALSE(store.unprotect("base", kT1));
  EXPECT_FALSE(store.list("base")[0].keep);
}

TEST(Layers, DirectoriesWithBuildsAndPointers) {
  TempDir t;
  make_build(t.path(), "base", kT1);
  make_build(t.path(), "base", kT2);
  make_build(t.path(), "app", kT3);
  make_pointer(t.path(), "app", std::string("app/app-") + kT3 + ".sif");
  make_pointer(t.path(), "gone", "gone/gone-2026-0101-000001.sif");
  std::filesystem::create_directories(t / "empty");
  test::write_file(t / "config.yaml", "images:\n  retain: 3\n");
  auto layers = Store::open(t.path()).layers();
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0].name, "app");
  EXPECT_EQ(layers[0].builds, 1u);
  EXPECT_EQ(layers[0].active_ts, kT3);
  EXPECT_EQ(layers[1].name, "base");
  EXPECT_EQ(layers[1].builds, 2u);
  EXPECT_EQ(layers[1].active_ts, std::nullopt);
  EXPECT_EQ(layers[2].name, "gone");
  EXPECT_EQ(layers[2].builds, 0u);
}

TEST(Paths, EveryArtifact) {
  TempDir t;
  auto p = Store::open(t.path()).paths("base", kT1);
  EXPECT_EQ(p.sif, t.path() + "/base/base-2026-0101-000001.sif");
  EXPECT_EQ(p.build_log, t.path() + "/base/base-2026-0101-000001.build.log");
  EXPECT_EQ(p.pointer, t.path() + "/base.sif");
  EXPECT_EQ(p.keep, t.path() + "/base/base-2026-0101-000001.keep");
}

}  // namespace
}  // namespace sifstore
