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

// A check of an unchanged build hashes nothing -- the record written at
// publish vouches for the image, its lock and its locked def -- so it maps
// none of the modules (core/module.h): no libcrypto, libcurl or librpm. A
// check that must hash (no record) loads the crypto module.
TEST_F(Identity, CheckOfAnUnchangedBuildLoadsNoModule) {
  std::string ts = build();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  for (int i = 0; i < 2; ++i) {
    auto r = run({SIFSTORE_EXE, "--root", t / "store", "check", "base"}, {"LD_DEBUG=files"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, sif(ts) + "\n");
    EXPECT_NE(r.err.find("libyaml-cpp"), std::string::npos) << "LD_DEBUG shows no loading";
    for (const char* lib : {"sifstore-", "libcrypto", "libcurl", "librpm"})
      EXPECT_EQ(r.err.find(lib), std::string::npos) << lib << " loaded:\n" << r.err;
  }
  ASSERT_EQ(::unlink(record(ts).c_str()), 0);
  auto hashed = run({SIFSTORE_EXE, "--root", t / "store", "check", "base"}, {"LD_DEBUG=files"});
  EXPECT_EQ(hashed.status, 0) << hashed.err;
  EXPECT_NE(hashed.err.find("sifstore-crypto.so"), std::string::npos) << "no hash after unlink";
  // That check found the image, lock and def as built and recorded all
  // three: the next one hashes nothing again.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto after = run({SIFSTORE_EXE, "--root", t / "store", "check", "base"}, {"LD_DEBUG=files"});
  EXPECT_EQ(after.status, 0) << after.err;
  EXPECT_EQ(after.err.find("sifstore-crypto"), std::string::npos) << after.err;
}

// The record written at publish vouches for the lock and the locked def
// too; a change to either (even one that keeps size and mtime) is still
// found by check.
TEST_F(Identity, CompanionsChangedAfterPublishAreStillRefused) {
  for (const char* ext : {"lock", "def"}) {
    std::string ts = build();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_EQ(sifstore(t / "store", {"check", "base"}).status, 0);
    ASSERT_NE(read_file(record(ts)).find("identity 2\n"), std::string::npos)
        << read_file(record(ts));
    std::string file = t / ("store/base/base-" + ts + "." + ext);
    ASSERT_EQ(run({"cp", "-p", file, t / "saved"}).status, 0);
    std::string text = read_file(file);
    size_t at = text.find('e');
    ASSERT_NE(at, std::string::npos);
    text[at] = 'E';
    int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    ASSERT_EQ(run({"touch", "-r", t / "saved", file}).status, 0);
    auto r = sifstore(t / "store", {"check", "base"});
    EXPECT_EQ(r.status, 1) << ext;
    EXPECT_NE(r.err.find(file + " changed after it was built"), std::string::npos) << r.err;
  }
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
