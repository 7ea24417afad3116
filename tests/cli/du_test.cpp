// `sifstore du`: bytes per layer and per build, and what prune would free,
// measured against stat and against what a real prune then frees.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "support/store_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

const std::string kT[] = {"2026-0101-000001", "2026-0101-000002", "2026-0101-000003",
                          "2026-0101-000004", "2026-0101-000005"};

uint64_t blocks(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512u;
}

class Du : public ::testing::Test {
 protected:
  void SetUp() override {
    // Builds of different sizes: the image of build i holds i * 20,000 bytes.
    for (int i = 0; i < 5; ++i) {
      make_build(t.path(), "base", kT[i], {"lock", "def"});
      write_file(t / ("base/base-" + kT[i] + ".sif"), std::string((i + 1) * 20000, 'x'));
    }
    make_build(t.path(), "base", kT[0], {"keep"});
    write_file(t / ("base/.base-" + kT[1] + ".identity"), std::string(5000, 'i'));
    make_pointer(t.path(), "base", "base/base-" + kT[3] + ".sif");
    make_build(t.path(), "app", kT[0]);
    make_pointer(t.path(), "app", "app/app-" + kT[0] + ".sif");
  }
  uint64_t build_bytes(const std::string& layer, const std::string& ts) {
    uint64_t n = 0;
    for (const char* ext :
         {".sif", ".lock", ".def", ".keep", ".verified", ".unverified", ".build.log", ".rough.def"})
      n += blocks(t / (layer + "/" + layer + "-" + ts + ext));
    return n + blocks(t / (layer + "/." + layer + "-" + ts + ".identity"));
  }
  uint64_t layer_bytes(const std::string& layer) {
    uint64_t n = blocks(t / (layer + ".sif"));
    for (const auto& name : list_dir(t / layer)) n += blocks(t / (layer + "/" + name));
    return n;
  }
  json du(const std::vector<std::string>& args) {
    auto r = sifstore(t.path(), args);
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out);
  }
  TempDir t;
};

TEST_F(Du, LayerBuildsAndWhatPruneFrees) {
  json j = du({"du", "base", "--retain", "1", "--json"});
  ASSERT_EQ(j["layers"].size(), 1u);
  const json& l = j["layers"][0];
  EXPECT_EQ(l["layer"], "base");
  EXPECT_EQ(l["bytes"], layer_bytes("base"));
  ASSERT_EQ(l["builds"].size(), 5u);
  uint64_t prunable = 0;
  std::vector<std::string> pruned;
  for (const auto& b : l["builds"]) {
    std::string ts = b["ts"];
    EXPECT_EQ(b["bytes"], build_bytes("base", ts)) << ts;
    if (b["pruned_by_prune"]) {
      prunable += b["bytes"].get<uint64_t>();
      pruned.push_back(ts);
    }
  }
  // Newest first: 5 is retained, 4 active, 3 and 2 pruned, 1 kept by .keep.
  EXPECT_EQ(pruned, (std::vector<std::string>{kT[2], kT[1]}));
  EXPECT_EQ(l["builds"][1]["active"], true);
  EXPECT_EQ(l["builds"][4]["keep"], true);
  EXPECT_EQ(l["prunable_bytes"], prunable);
  EXPECT_GT(prunable, 0u);
  EXPECT_EQ(j["prunable_bytes"], prunable);

  // The dry run removed nothing; the real prune frees exactly that.
  uint64_t before = layer_bytes("base");
  auto r = sifstore(t.path(), {"prune", "base", "--retain", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, kT[2] + "\n" + kT[1] + "\n");
  EXPECT_EQ(layer_bytes("base"), before - prunable);
  j = du({"du", "base", "--retain", "1", "--json"});
  EXPECT_EQ(j["prunable_bytes"], 0u);
}

TEST_F(Du, EveryLayerAndTheConfiguredRetain) {
  write_file(t / "config.yaml", "images:\n  retain: 2\n");
  json j = du({"du", "--json"});
  EXPECT_EQ(j["retain"], 2);
  ASSERT_EQ(j["layers"].size(), 2u);
  EXPECT_EQ(j["layers"][0]["layer"], "app");
  EXPECT_EQ(j["layers"][1]["layer"], "base");
  EXPECT_EQ(j["bytes"], layer_bytes("app") + layer_bytes("base"));
  // retain 2: 5 and 3 retained, 4 active, 1 keep: only 2 goes.
  EXPECT_EQ(j["prunable_bytes"], build_bytes("base", kT[1]));

  auto r = sifstore(t.path(), {"du"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("LAYER"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("base   5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("prune --retain 2 would free"), std::string::npos) << r.out;
  r = sifstore(t.path(), {"du", "base"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(kT[1] + "  "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("prune frees"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("active"), std::string::npos) << r.out;
}

TEST_F(Du, BadInputIsAClearError) {
  auto snap = snapshot(t.path());
  auto r = sifstore(t.path(), {"du", "nope"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("sifstore: error: layer 'nope' not found"), std::string::npos) << r.err;
  r = sifstore(t.path(), {"du", "../x"});
  EXPECT_EQ(r.status, 2);  // a LAYER that cannot exist is a usage error
  EXPECT_NE(r.err.find("invalid layer name"), std::string::npos) << r.err;
  r = sifstore(t.path(), {"du", "--retain", "-1"});
  EXPECT_EQ(r.status, 2);
  r = sifstore(t / "missing", {"du"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("store not found"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(t.path()), snap);
}

}  // namespace
}  // namespace sifstore::test
