// The store commands of the built `sifstore`, on real stores.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

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
  // The reference's keys, in the reference's order.
  std::vector<std::string> keys;
  auto ordered = nlohmann::ordered_json::parse(r.out);
  for (auto& [k, v] : ordered[0].items()) keys.push_back(k);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"ts", "sif", "lock", "def", "verified", "keep", "active"}));
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

// The stable pointers <layer>.lock and <layer>.def move with <layer>.sif.
TEST_F(StoreCli, PointLatestAndRollbackMoveAllThreePointers) {
  auto trio = [&] {
    return std::vector<std::string>{link_target(t / "base.sif"), link_target(t / "base.lock"),
                                    link_target(t / "base.def")};
  };
  auto of = [](const std::string& ts) {
    return std::vector<std::string>{"base/base-" + ts + ".sif", "base/base-" + ts + ".lock",
                                    "base/base-" + ts + ".def"};
  };
  ASSERT_EQ(cli({"point-latest", "base", kT3}).status, 0);
  EXPECT_EQ(trio(), of(kT3));
  EXPECT_EQ(read_file(t / "base.lock"), read_file(t / ("base/base-" + kT3 + ".lock")));
  ASSERT_EQ(cli({"rollback", "base"}).status, 0);
  EXPECT_EQ(trio(), of(kT2));
  ASSERT_EQ(cli({"rollback", "base", "--to", kT1}).status, 0);
  EXPECT_EQ(trio(), of(kT1));
  // A refused move moves none of them.
  EXPECT_NE(cli({"rollback", "base"}).status, 0);
  EXPECT_NE(cli({"point-latest", "base", "2026-0101-000009"}).status, 0);
  EXPECT_EQ(trio(), of(kT1));
  // The pointers are no layers and no findings.
  auto r = cli({"layers", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 1u) << r.out;
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 0) << r.out;
  // A build without a lock: its lock pointer dangles rather than naming
  // another build's lock.
  make_build(t.path(), "base", "2026-0101-000004", {"sif", "def"});
  ASSERT_EQ(cli({"point-latest", "base", "2026-0101-000004"}).status, 0);
  EXPECT_EQ(link_target(t / "base.lock"), "base/base-2026-0101-000004.lock");
  struct stat st;
  EXPECT_NE(::stat((t / "base.lock").c_str(), &st), 0);
}

// What the reference tool (or a crash between two renames) leaves: .sif
// moved alone. fsck reports each disagreeing pointer; --repair realigns
// them with .sif.
TEST_F(StoreCli, FsckFindsAndRepairsPointersThatDisagree) {
  ASSERT_EQ(cli({"point-latest", "base", kT3}).status, 0);
  make_pointer(t.path(), "base", "base/base-" + kT1 + ".sif");  // .sif alone
  auto r = cli({"fsck"});
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find(t / "base.lock" + ": stable pointer names base/base-" + kT3 +
                       ".lock, but base.sif names base/base-" + kT1 + ".sif"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(t / "base.def" + ": stable pointer names"), std::string::npos) << r.out;
  // check still hands out the image .sif names, and warns.
  r = cli({"check", "base"});
  EXPECT_EQ(r.out, t / ("base/base-" + kT1 + ".sif") + "\n") << r.err;
  EXPECT_NE(r.err.find("sifstore: warning: " + t / "base.lock" + " names base/base-" + kT3 +
                       ".lock, not the .lock of the build base.sif names"),
            std::string::npos)
      << r.err;
  r = cli({"fsck", "--repair"});
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("[pointed at base/base-" + kT1 + ".lock]"), std::string::npos) << r.out;
  EXPECT_EQ(link_target(t / "base.lock"), "base/base-" + kT1 + ".lock");
  EXPECT_EQ(link_target(t / "base.def"), "base/base-" + kT1 + ".def");
  EXPECT_EQ(link_target(t / "base.sif"), "base/base-" + kT1 + ".sif");
  EXPECT_EQ(cli({"fsck"}).status, 0);

  // Missing beside .sif (a store the reference made): no fault; --repair
  // adds it.
  ASSERT_EQ(::unlink((t / "base.def").c_str()), 0);
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 0) << r.out;
  r = cli({"fsck", "--repair"});
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(t / "base.def" + ": missing stable pointer"), std::string::npos) << r.out;
  EXPECT_EQ(link_target(t / "base.def"), "base/base-" + kT1 + ".def");

  // Left without .sif: reported, removed. A regular file of that name is
  // reported and left alone.
  ASSERT_EQ(::unlink((t / "base.sif").c_str()), 0);
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(t / "base.lock" + ": stable pointer names base/base-" + kT1 +
                       ".lock but layer 'base' has no latest pointer base.sif"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(cli({"fsck", "--repair"}).status, 0);
  EXPECT_FALSE(exists(t / "base.lock"));
  EXPECT_FALSE(exists(t / "base.def"));
  ASSERT_EQ(cli({"point-latest", "base", kT2}).status, 0);
  ASSERT_EQ(::unlink((t / "base.lock").c_str()), 0);
  write_file(t / "base.lock", "mine\n");
  r = cli({"fsck", "--repair"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(t / "base.lock" + ": not a symlink"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(t / "base.lock"), "mine\n");
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

// `list --json` composes its text without building a JSON document; it must
// print exactly what nlohmann-json's dump(2) prints for the same builds (as
// an ordered_json in the reference's key order), for any store root: the
// paths carry the root's bytes, whatever they are.
struct ListedBuild {
  std::string ts;
  bool lock, def, keep, active;
  int marker;  // 0 none, 1 .verified, 2 .unverified, 3 both (verified wins)
};

// n in decimal, zero-padded to width digits.
std::string digits(int n, size_t width) {
  std::string s = std::to_string(n);
  return std::string(width > s.size() ? width - s.size() : 0, '0') + s;
}

// Lays the builds out under root/base and returns what `list base --json`
// must print, made by nlohmann-json.
std::string expected_list_json(const std::string& root, std::vector<ListedBuild> builds) {
  for (const auto& b : builds) {
    std::vector<std::string> exts = {"sif"};
    if (b.lock) exts.push_back("lock");
    if (b.def) exts.push_back("def");
    if (b.keep) exts.push_back("keep");
    if (b.marker & 1) exts.push_back("verified");
    if (b.marker & 2) exts.push_back("unverified");
    make_build(root, "base", b.ts, exts);
    if (b.active) make_pointer(root, "base", "base/base-" + b.ts + ".sif");
  }
  std::sort(builds.begin(), builds.end(),
            [](const ListedBuild& a, const ListedBuild& b) { return a.ts > b.ts; });
  nlohmann::ordered_json doc = nlohmann::ordered_json::array();
  for (const auto& b : builds) {
    std::string base = root + "/base/base-" + b.ts;
    nlohmann::ordered_json o;
    o["ts"] = b.ts;
    o["sif"] = base + ".sif";
    o["lock"] = b.lock ? nlohmann::ordered_json(base + ".lock") : nullptr;
    o["def"] = b.def ? nlohmann::ordered_json(base + ".def") : nullptr;
    o["verified"] = b.marker == 0 ? nullptr : nlohmann::ordered_json(b.marker != 2);
    o["keep"] = b.keep;
    o["active"] = b.active;
    doc.push_back(o);
  }
  return doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

TEST(StoreCliListJson, SameBytesAsTheLibraryForHostileRoots) {
  TempDir t;
  const std::vector<std::string> names = {
      "plain",
      "sp ace \"quoted\" back\\slash",
      "new\nline\ttab\x01\x1f\x7f",
      "utf8-st\xc3\xb6re-\xe2\x82\xac-\xf0\x9f\x93\xa6",
      "bad\xff\xfe-utf8",
      "cut\xc3",
      "cut\xe2\x82-mid",
      "lone\x80\xbf-continuation",
      "overlong\xc0\xaf",
      "surrogate\xed\xa0\x80",
  };
  for (const auto& name : names) {
    std::string root = t / name;
    std::string expected =
        expected_list_json(root, {{kT1, true, true, false, false, 1},
                                  {kT2, false, true, true, true, 2},
                                  {kT3, true, false, false, false, 3},
                                  {"2026-0101-000004", false, false, true, false, 0}});
    auto r = sifstore(root, {"list", "base", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected) << "root "
                               << json(name).dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

// Every byte alone in an otherwise plain root: each one that needs escaping
// (or is not UTF-8 on its own) must be escaped as the library does it.
TEST(StoreCliListJson, SameBytesAsTheLibraryForEveryByte) {
  TempDir t;
  for (int c = 1; c < 256; ++c) {
    if (c == '/') continue;
    std::string root = t / ("b" + std::to_string(c) + "-" + std::string(1, static_cast<char>(c)));
    std::string expected = expected_list_json(root, {{kT1, true, false, false, true, c % 4}});
    auto r = sifstore(root, {"list", "base", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected) << "byte " << c;
  }
}

TEST(StoreCliListJson, SameBytesAsTheLibraryForRandomStores) {
  TempDir t;
  std::mt19937 rng(20260101);  // fixed: a failure can be replayed
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  for (int store = 0; store < 25; ++store) {
    // A root name of random bytes (no '/', no NUL), some of them printable.
    std::string name = "r" + std::to_string(store) + "-";
    for (int i = pick(12); i > 0; --i) {
      char c = pick(2) ? static_cast<char>(' ' + pick(95)) : static_cast<char>(1 + pick(255));
      if (c != '/') name += c;
    }
    std::vector<ListedBuild> builds;
    int n = pick(8), active = pick(n + 1);
    for (int i = 0; i < n; ++i) {
      std::string ts =
          "2026-" + digits(1 + pick(12), 2) + digits(1 + pick(28), 2) + "-" + digits(i, 6);
      builds.push_back({ts, pick(4) != 0, pick(4) != 0, pick(3) == 0, i == active, pick(4)});
    }
    std::string root = t / name;
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0) << store;
    ASSERT_EQ(::mkdir((root + "/base").c_str(), 0755), 0) << store;
    std::string expected = expected_list_json(root, builds);
    auto r = sifstore(root, {"list", "base", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, expected) << "store " << store;
  }
}

// The exact text, written out, for a root that needs escaping: the
// library's choices (no "\/", control characters as \u00XX, invalid UTF-8
// as U+FFFD, other UTF-8 as it is) are pinned here, not only compared.
TEST(StoreCliListJson, ExactTextForAnOddRoot) {
  TempDir t;
  std::string root = t / "a\"b\\c\nd\x01\xff\xc3\xa9";
  make_build(root, "base", kT1, {"sif", "def", "keep", "unverified"});
  make_build(root, "base", kT2, {"sif", "lock", "verified"});
  make_pointer(root, "base", "base/base-" + kT2 + ".sif");
  auto r = sifstore(root, {"list", "base", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string esc = t.path() + "/a\\\"b\\\\c\\nd\\u0001\xef\xbf\xbd\xc3\xa9/base/base-";
  EXPECT_EQ(r.out,
            "[\n"
            "  {\n"
            "    \"ts\": \"" +
                kT2 +
                "\",\n"
                "    \"sif\": \"" +
                esc + kT2 +
                ".sif\",\n"
                "    \"lock\": \"" +
                esc + kT2 +
                ".lock\",\n"
                "    \"def\": null,\n"
                "    \"verified\": true,\n"
                "    \"keep\": false,\n"
                "    \"active\": true\n"
                "  },\n"
                "  {\n"
                "    \"ts\": \"" +
                kT1 +
                "\",\n"
                "    \"sif\": \"" +
                esc + kT1 +
                ".sif\",\n"
                "    \"lock\": null,\n"
                "    \"def\": \"" +
                esc + kT1 +
                ".def\",\n"
                "    \"verified\": false,\n"
                "    \"keep\": true,\n"
                "    \"active\": false\n"
                "  }\n"
                "]\n");
  // A layer directory without builds, and a layer that is not there.
  ASSERT_EQ(::mkdir((root + "/empty").c_str(), 0755), 0);
  EXPECT_EQ(sifstore(root, {"list", "empty", "--json"}).out, "[]\n");
  EXPECT_EQ(sifstore(root, {"list", "nothing", "--json"}).out, "[]\n");
}

// A list longer than the writer's 64 KiB block: the blocks join up.
TEST(StoreCliListJson, ManyBuildsSameBytesAsTheLibrary) {
  TempDir t;
  std::vector<ListedBuild> builds;
  for (int i = 0; i < 700; ++i) {
    std::string ts = "2026-0102-" + digits(i, 6);
    builds.push_back({ts, i % 3 != 0, i % 5 != 0, i % 7 == 0, i == 350, i % 4});
  }
  std::string root = t / "many-\xe2\x82\xac";
  std::string expected = expected_list_json(root, builds);
  ASSERT_GT(expected.size(), 2u * 64 * 1024);
  auto r = sifstore(root, {"list", "base", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected);
}

// "--reason=" is an empty reason, as "--reason ''" is: a marker without a
// reason line, not a usage error.
TEST_F(StoreCli, EmptyReasonAfterEqualsSign) {
  const std::string marker = t / ("base/base-" + kT1 + ".unverified");
  for (const std::vector<std::string>& reason :
       {std::vector<std::string>{"--reason="}, std::vector<std::string>{"--reason", ""}}) {
    std::vector<std::string> args = {"mark-unverified", "base", kT1};
    args.insert(args.end(), reason.begin(), reason.end());
    auto r = cli(args);
    ASSERT_EQ(r.status, 0) << r.err;
    std::string body = read_file(marker);
    EXPECT_EQ(body.rfind("reproducibility unverified at ", 0), 0u) << body;
    EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 1) << body;
  }
  ASSERT_EQ(cli({"mark-unverified", "base", kT1, "--reason=pip:x: 1 -> 2"}).status, 0);
  EXPECT_NE(read_file(marker).find("\npip:x: 1 -> 2\n"), std::string::npos);
  // An option without a value stays a usage error with "=", empty or not.
  auto r = cli({"list", "base", "--json="});
  EXPECT_EQ(r.status, 2) << r.err;
  r = cli({"prune", "base", "--retain="});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_TRUE(exists(t / ("base/base-" + kT1 + ".sif")));
}

}  // namespace
}  // namespace sifstore::test
