// `sifstore inspect`: SIF header, descriptors and definition, on genuine
// images (made with mksquashfs + siftool, and the Sylabs reference images).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

RunResult inspect(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {SIFSTORE_EXE, "inspect"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

class Inspect : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing = sif_tools_missing();
    if (!missing.empty()) GTEST_SKIP() << missing;
    write_file(dir_ / "root/etc/os-release", "ID=debian\n");
    make_sif_from_tree(dir_ / "image.sif", dir_ / "root", kDef);
  }
  static constexpr const char* kDef = "Bootstrap: docker\nFrom: debian:12\n\n%post\n  echo hi\n";
  TempDir dir_;
};

TEST_F(Inspect, HumanOutput) {
  auto r = inspect({dir_ / "image.sif"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* want :
       {"SIF image:", "Version:               01", "Primary architecture:  amd64",
        "Primary partition:     ID 2", "Descriptors:           2 used of 48", "Def.FILE",
        "FS (Squashfs/*System/amd64)", "Definition file (descriptor ID 1):\n"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  EXPECT_NE(r.out.find(kDef), std::string::npos) << r.out;
}

TEST_F(Inspect, JsonOutput) {
  auto r = inspect({dir_ / "image.sif", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["path"], dir_ / "image.sif");
  EXPECT_EQ(j["header"]["version"], "01");
  EXPECT_EQ(j["header"]["arch"], "amd64");
  EXPECT_EQ(j["header"]["descriptors_total"], 48);
  ASSERT_EQ(j["descriptors"].size(), 2u);
  EXPECT_EQ(j["descriptors"][0]["data_type"], "Def.FILE");
  EXPECT_EQ(j["descriptors"][0]["group"], 1);
  EXPECT_EQ(j["descriptors"][1]["type"], "FS (Squashfs/*System/amd64)");
  EXPECT_EQ(j["descriptors"][1]["fs_type"], "Squashfs");
  EXPECT_EQ(j["descriptors"][1]["partition_type"], "*System");
  EXPECT_EQ(j["descriptors"][1]["link"], nullptr);
  EXPECT_EQ(j["primary_partition"], 2);
  EXPECT_EQ(j["definition"], kDef);
  EXPECT_EQ(j["size"].get<uint64_t>(), read_file(dir_ / "image.sif").size());
}

TEST(InspectReference, EveryReferenceImageAgreesWithSiftool) {
  std::string dir = std::string(SIFSTORE_SHARED_DIR) + "/testdata/sif";
  if (!exists(dir)) GTEST_SKIP() << "no " << dir << " (../shared)";
  bool siftool = run({"/bin/sh", "-c", "command -v siftool"}).status == 0;
  int images = 0;
  for (const auto& name : list_dir(dir)) {
    if (name.size() < 4 || name.substr(name.size() - 4) != ".sif") continue;
    ++images;
    auto r = inspect({dir + "/" + name, "--json"});
    ASSERT_EQ(r.status, 0) << name << ": " << r.err;
    json j = json::parse(r.out);
    if (!siftool) continue;
    // Each descriptor's start-end, as siftool lists them.
    auto list = run({"siftool", "list", dir + "/" + name});
    for (const auto& d : j["descriptors"]) {
      std::string pos = "|" + std::to_string(d["offset"].get<int64_t>()) + "-" +
                        std::to_string(d["offset"].get<int64_t>() + d["size"].get<int64_t>());
      EXPECT_NE(list.out.find(pos), std::string::npos) << name << " " << pos << "\n" << list.out;
    }
  }
  EXPECT_GE(images, 8);
}

TEST(InspectErrors, NotASifAndUsage) {
  TempDir dir;
  write_file(dir / "text.sif", "Bootstrap: docker\nFrom: debian:12\n");
  auto r = inspect({dir / "text.sif"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("sifstore: error: " + dir / "text.sif" + ": not a SIF image", 0), 0u)
      << r.err;
  r = inspect({dir / "missing.sif"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("missing.sif"), std::string::npos) << r.err;
  EXPECT_EQ(inspect({}).status, 2);
  EXPECT_EQ(inspect({"a.sif", "b.sif"}).status, 2);
  r = inspect({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("usage: sifstore [--root DIR] inspect SIF [--json]"), std::string::npos);
}

}  // namespace
}  // namespace sifstore::test
