// Constant-time check: the image identity record `.<layer>-<ts>.identity`
// lives with its build (written at publish and by check, removed by prune,
// an orphan for fsck), and a change it could miss by size and mtime alone
// is still refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

const std::string kStandin = std::string(SIFSTORE_SOURCE_DIR) + "/tests/standin/apptainer";

class Identity : public ::testing::Test {
 protected:
  std::string build() {
    write_file(t / "src/layer.def",
               "Bootstrap: scratch\n\n%post\n  echo " + std::to_string(n++) + "\n");
    auto r = sifstore(t / "store", {"build", "base", "--def", t / "src/layer.def", "--builder",
                                    kStandin, "-q", "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    auto pos = r.out.find("\"ts\": \"");
    EXPECT_NE(pos, std::string::npos) << r.out;
    return pos == std::string::npos ? "" : r.out.substr(pos + 7, 16);
  }
  std::string record(const std::string& ts) { return t / ("store/base/.base-" + ts + ".identity"); }
  std::string sif(const std::string& ts) { return t / ("store/base/base-" + ts + ".sif"); }
  TempDir t;
  int n = 0;
};

TEST_F(Identity, RecordedAtPublishAndRenewedByCheck) {
  std::string ts = build();
  EXPECT_TRUE(exists(record(ts)));
  ASSERT_EQ(::unlink(record(ts).c_str()), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto r = sifstore(t / "store", {"check", "base"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, sif(ts) + "\n");
  EXPECT_TRUE(exists(record(ts)));
  // list shows no trace of it; fsck finds nothing wrong.
  r = sifstore(t / "store", {"list", "base", "--json"});
  EXPECT_EQ(r.out.find("identity"), std::string::npos) << r.out;
  EXPECT_EQ(sifstore(t / "store", {"fsck"}).status, 0);
}

TEST_F(Identity, SameSizeOverwriteThenTouchRIsRefused) {
  std::string ts = build();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_EQ(sifstore(t / "store", {"check", "base"}).status, 0);
  ASSERT_EQ(sifstore(t / "store", {"check", "base"}).status, 0);
  // Save the times, overwrite one byte in place, restore them: `touch -r`.
  ASSERT_EQ(run({"cp", "-p", sif(ts), t / "saved"}).status, 0);
  int fd = ::open(sif(ts).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, 100), 1);
  byte = static_cast<char>(byte ^ 1);
  ASSERT_EQ(::pwrite(fd, &byte, 1, 100), 1);
  ::close(fd);
  ASSERT_EQ(run({"touch", "-r", t / "saved", sif(ts)}).status, 0);
  struct stat a, b;
  ASSERT_EQ(::stat(sif(ts).c_str(), &a), 0);
  ASSERT_EQ(::stat((t / "saved").c_str(), &b), 0);
  ASSERT_EQ(a.st_size, b.st_size);
  ASSERT_EQ(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
  ASSERT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
  for (int i = 0; i < 2; ++i) {
    auto r = sifstore(t / "store", {"check", "base"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find(sif(ts) + " changed after it was built"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(Identity, RecordGoesWithPrune) {
  std::string old_ts = build();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a new <ts>
  std::string new_ts = build();
  ASSERT_NE(old_ts, new_ts);
  ASSERT_TRUE(exists(record(old_ts)));
  ASSERT_TRUE(exists(record(new_ts)));
  auto r = sifstore(t / "store", {"prune", "base", "--retain", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(exists(sif(old_ts)));
  EXPECT_FALSE(exists(record(old_ts)));
  EXPECT_TRUE(exists(record(new_ts)));
}

TEST_F(Identity, OrphanRecordIsFoundAndRepairedByFsck) {
  std::string ts = build();
  write_file(t / "store/base/.base-2020-0101-000000.identity", "sifstore image identity 1\n");
  auto r = sifstore(t / "store", {"fsck"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(".base-2020-0101-000000.identity: orphan: no image"), std::string::npos)
      << r.out;
  r = sifstore(t / "store", {"fsck", "--repair"});
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_FALSE(exists(t / "store/base/.base-2020-0101-000000.identity"));
  EXPECT_TRUE(exists(record(ts)));
  EXPECT_EQ(sifstore(t / "store", {"fsck"}).status, 0);
}

TEST_F(Identity, FsckHashImagesRecordsAndCatchesChanges) {
  std::string ts = build();
  ASSERT_EQ(::unlink(record(ts).c_str()), 0);
  ASSERT_EQ(sifstore(t / "store", {"fsck", "--hash-images"}).status, 0);
  EXPECT_TRUE(exists(record(ts)));
}

}  // namespace
}  // namespace sifstore::test
