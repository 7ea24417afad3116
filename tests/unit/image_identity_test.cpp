#include "core/image_identity.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/names.h"
#include "core/sha256.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::exists;
using test::read_file;
using test::TempDir;
using test::write_file;

const char* kTs = "2026-0101-000001";

// A layer directory with one image; waits past the file system's clock tick
// so that a record written next is not "racy".
struct Fixture {
  TempDir t;
  std::string layer_dir = t / "base";
  std::string sif = layer_dir + "/base-" + kTs + ".sif";
  std::string record = layer_dir + "/" + identity_record_name("base", kTs);
  std::string digest;
  Fixture() {
    write_file(sif, std::string(100000, 'a'));
    digest = sha256_hex(std::string(100000, 'a'));
    settle();
  }
  Dir dir() const { return Dir::open(layer_dir); }
  static void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }
  ImageDigest check(bool force = false) const {
    return image_sha256(dir(), "base", kTs, digest, force);
  }
};

// Overwrites the first byte in place (same size) and restores atime and
// mtime, as `touch -r` from a saved copy does.
void overwrite_same_size_keep_mtime(const std::string& path) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "b", 1, 0), 1);
  ::close(fd);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  struct stat after;
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  ASSERT_EQ(after.st_size, st.st_size);
  ASSERT_EQ(after.st_mtim.tv_sec, st.st_mtim.tv_sec);
  ASSERT_EQ(after.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
}

TEST(ImageIdentity, RecordRoundTrips) {
  IdentityRecord r;
  r.sha256 = std::string(64, 'f');
  r.identity = {12, 34, 1700000000, 5, 1700000001, 999999999};
  std::string text = format_identity_record(r);
  EXPECT_EQ(text,
            "sifstore image identity 1\nsha256 " + r.sha256 +
                "\ninode 12\nsize 34\nmtime 1700000000.000000005\nctime 1700000001.999999999\n");
  auto back = parse_identity_record(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sha256, r.sha256);
  EXPECT_TRUE(back->identity == r.identity);
}

TEST(ImageIdentity, GarbledRecordsDoNotParse) {
  IdentityRecord r;
  r.sha256 = std::string(64, 'f');
  r.identity = {12, 34, 1700000000, 5, 1700000001, 6};
  const std::string good = format_identity_record(r);
  ASSERT_TRUE(parse_identity_record(good));
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  for (const std::string& bad :
       {std::string(), good.substr(0, good.size() - 1), good + "extra\n",
        replaced("identity 1", "identity 2"), replaced("sha256 f", "sha256 F"),
        replaced("sha256 f", "sha256 "), replaced("inode 12", "inode -12"),
        replaced("inode 12", "inode 1 2"), replaced("size 34", "size 34x"),
        replaced(".000000005", ".5"), replaced(".000000005", ".0000000050"),
        replaced("ctime", "atime"), replaced("mtime 1700000000", "mtime "),
        replaced("\ninode", "\r\ninode")}) {
    EXPECT_FALSE(parse_identity_record(bad)) << bad;
  }
}

TEST(ImageIdentity, SecondCheckOfAnUnchangedImageDoesNotHash) {
  Fixture f;
  EXPECT_FALSE(exists(f.record));
  auto first = f.check();
  EXPECT_TRUE(first.hashed);
  EXPECT_EQ(first.sha256, f.digest);
  ASSERT_TRUE(exists(f.record));
  auto second = f.check();
  EXPECT_FALSE(second.hashed);
  EXPECT_EQ(second.sha256, f.digest);
  // fsck --hash-images always hashes.
  EXPECT_TRUE(f.check(/*force=*/true).hashed);
}

TEST(ImageIdentity, SameSizeOverwriteWithRestoredMtimeIsRehashedAndRefused) {
  Fixture f;
  ASSERT_TRUE(f.check().hashed);
  ASSERT_FALSE(f.check().hashed);
  overwrite_same_size_keep_mtime(f.sif);
  auto d = f.check();
  EXPECT_TRUE(d.hashed);
  EXPECT_NE(d.sha256, f.digest);
  // The record is not renewed for a digest that does not match.
  EXPECT_TRUE(f.check().hashed);
}

TEST(ImageIdentity, ReplacedImageIsRehashed) {
  Fixture f;
  ASSERT_TRUE(f.check().hashed);
  write_file(f.sif + ".new", std::string(100000, 'a'));
  ASSERT_EQ(::rename((f.sif + ".new").c_str(), f.sif.c_str()), 0);  // a new inode
  Fixture::settle();
  auto d = f.check();
  EXPECT_TRUE(d.hashed);
  EXPECT_EQ(d.sha256, f.digest);
  EXPECT_FALSE(f.check().hashed);  // recorded anew
}

TEST(ImageIdentity, MissingOrGarbledRecordMeansAFullHash) {
  Fixture f;
  ASSERT_TRUE(f.check().hashed);
  ASSERT_FALSE(f.check().hashed);
  std::string text = read_file(f.record);
  write_file(f.record, text.substr(0, text.size() - 3) + "x\n");
  EXPECT_TRUE(f.check().hashed);
  ASSERT_EQ(::unlink(f.record.c_str()), 0);
  EXPECT_TRUE(f.check().hashed);
  // A record that is a directory or a symlink is never read.
  ASSERT_EQ(::unlink(f.record.c_str()), 0);
  ASSERT_EQ(::mkdir(f.record.c_str(), 0755), 0);
  EXPECT_TRUE(f.check().hashed);
  EXPECT_TRUE(f.check().hashed);
}

TEST(ImageIdentity, RecordOfAnotherDigestIsNotTrusted) {
  Fixture f;
  ASSERT_TRUE(f.check().hashed);
  // The lock now names another digest (a lock rewritten for another image).
  std::string other = std::string(64, '0');
  auto d = image_sha256(f.dir(), "base", kTs, other);
  EXPECT_TRUE(d.hashed);
  EXPECT_EQ(d.sha256, f.digest);
}

TEST(ImageIdentity, RacyRecordIsNotTrusted) {
  Fixture f;
  ASSERT_TRUE(f.check().hashed);
  // A record stamped in the same clock tick as the image's last change
  // could miss a change made in that tick.
  struct stat st;
  ASSERT_EQ(::stat(f.sif.c_str(), &st), 0);
  struct timespec times[2] = {st.st_ctim, st.st_ctim};
  ASSERT_EQ(::utimensat(AT_FDCWD, f.record.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_FALSE(identity_vouches(f.dir(), "base", kTs, f.digest));
  EXPECT_TRUE(f.check().hashed);   // rehashed and recorded anew ...
  EXPECT_FALSE(f.check().hashed);  // ... and trusted since
}

TEST(ImageIdentity, NoRecordWhenTheImageChangedDuringTheHash) {
  Fixture f;
  auto before = identity_of(f.dir(), std::string("base-") + kTs + ".sif");
  ASSERT_TRUE(before);
  overwrite_same_size_keep_mtime(f.sif);
  record_identity(f.dir(), "base", kTs, *before, f.digest);
  EXPECT_FALSE(exists(f.record));
}

TEST(ImageIdentity, PublishingRenameKeepsTheRecord) {
  Fixture f;
  std::string partial = f.layer_dir + "/.base-" + kTs + ".partial.sif";
  ASSERT_EQ(::rename(f.sif.c_str(), partial.c_str()), 0);
  auto before = identity_of(f.dir(), ".base-" + std::string(kTs) + ".partial.sif");
  ASSERT_TRUE(before);
  ASSERT_EQ(::rename(partial.c_str(), f.sif.c_str()), 0);
  record_identity(f.dir(), "base", kTs, *before, f.digest, /*renamed=*/true);
  ASSERT_TRUE(exists(f.record));
  // Written in the rename's clock tick, the record would be racy: it is
  // rewritten until it is not, so the very first check trusts it.
  EXPECT_TRUE(identity_vouches(f.dir(), "base", kTs, f.digest));
  EXPECT_FALSE(f.check().hashed);
}

}  // namespace
}  // namespace sifstore
