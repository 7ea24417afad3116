#include "core/squashfs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "core/error.h"
#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::TempDir;
using FileType = SquashfsImage::FileType;

// Deterministic bytes that do not compress to nothing.
std::string noise(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen() & 0x3f) + ' ';
  return s;
}

class SquashfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing = test::sif_tools_missing();
    if (!missing.empty()) GTEST_SKIP() << missing;
    root_ = dir_ / "root";
    big_ = noise(300000, 1);  // several 128 KiB blocks and a fragment tail
    block_ = noise(131072, 2);
    test::write_file(root_ + "/etc/hostname", "box\n");
    test::write_file(root_ + "/etc/empty", "");
    test::write_file(root_ + "/usr/lib/big", big_);
    test::write_file(root_ + "/usr/lib/block", block_);
    test::write_file(root_ + "/usr/bin/tool", "#!/bin/sh\n");
    link("usr/bin", "bin");
    link("/usr/lib", "usr/lib64");
    link("../lib/big", "usr/bin/big-link");
    link("../../../../../etc", "usr/lib/up");  // climbs above the root
    link("b", "a");
    link("a", "b");
    link("/nonexistent", "dangling");
  }
  void link(const std::string& target, const std::string& name) {
    ASSERT_EQ(::symlink(target.c_str(), (root_ + "/" + name).c_str()), 0) << name;
  }
  std::string make(const std::string& compressor = "gzip") {
    std::string sif = dir_ / ("image-" + compressor + ".sif");
    test::make_squashfs(root_, sif + ".squashfs", compressor);
    test::make_sif(sif, sif + ".squashfs", "Bootstrap: scratch\n");
    return sif;
  }

  TempDir dir_;
  std::string root_, big_, block_;
};

TEST_F(SquashfsTest, ReadsFilesAndFollowsLinksInsideTheImage) {
  SifImage sif = SifImage::open(make());
  SquashfsImage fs = SquashfsImage::open_primary(sif);
  EXPECT_EQ(fs.read_file("/etc/hostname"), "box\n");
  EXPECT_EQ(fs.read_file("etc/hostname"), "box\n");
  EXPECT_EQ(fs.read_file("etc/empty"), "");
  EXPECT_EQ(fs.read_file("/usr/lib/big"), big_);
  EXPECT_EQ(fs.read_file("/usr/lib/block"), block_);
  EXPECT_EQ(fs.read_file("/bin/tool"), "#!/bin/sh\n");
  EXPECT_EQ(fs.read_file("/usr/lib64/big"), big_);
  EXPECT_EQ(fs.read_file("/bin/big-link"), big_);
  EXPECT_EQ(fs.read_file("/usr/lib/up/hostname"), "box\n");  // clamped at the root
  EXPECT_EQ(fs.read_file("/usr/./lib/../../etc/hostname"), "box\n");
  EXPECT_EQ(fs.real_path("/bin/big-link"), "/usr/lib/big");
  EXPECT_EQ(fs.real_path("/usr/lib64"), "/usr/lib");
  EXPECT_EQ(fs.real_path("/"), "/");
  EXPECT_EQ(fs.read_link("/bin"), "usr/bin");
  EXPECT_EQ(fs.read_link("/usr/lib64"), "/usr/lib");
  EXPECT_EQ(fs.read_link("/etc/hostname"), std::nullopt);
  EXPECT_EQ(fs.type_of("/bin"), FileType::kDirectory);
  EXPECT_EQ(fs.type_of("/bin", false), FileType::kSymlink);
  EXPECT_EQ(fs.type_of("/dangling"), std::nullopt);
  EXPECT_EQ(fs.type_of("/dangling", false), FileType::kSymlink);
  EXPECT_EQ(fs.read_file("/missing"), std::nullopt);
  EXPECT_EQ(fs.read_file("/etc/hostname/below"), std::nullopt);
  EXPECT_EQ(fs.read_file("/dangling"), std::nullopt);
  EXPECT_THROW(fs.read_file("/etc"), Error);
  EXPECT_THROW(fs.read_file("/usr/lib/big", 1000), Error);
  // A symlink loop does not resolve: it is missing, as stat() says ELOOP.
  EXPECT_EQ(fs.read_file("/a"), std::nullopt);
  EXPECT_EQ(fs.type_of("/a/b/c"), std::nullopt);
  EXPECT_EQ(fs.type_of("/a", false), FileType::kSymlink);
  EXPECT_EQ(fs.list_dir("/b"), std::nullopt);
  EXPECT_EQ(fs.read_head("/usr/lib/big", 10), big_.substr(0, 10));
  EXPECT_EQ(fs.read_head("/etc/hostname", 100), "box\n");
  EXPECT_THROW(fs.read_head("/etc", 10), Error);
  EXPECT_EQ(fs.read_file_if_regular("/etc"), std::nullopt);
  EXPECT_EQ(fs.read_file_if_regular("/bin/big-link"), big_);
  EXPECT_THROW(fs.read_file_if_regular("/usr/lib/big", 10), Error);
}

TEST_F(SquashfsTest, ListsDirectoriesInOrder) {
  SifImage sif = SifImage::open(make());
  SquashfsImage fs = SquashfsImage::open_primary(sif);
  auto root = fs.list_dir("/");
  ASSERT_TRUE(root);
  std::vector<std::string> names;
  for (const auto& e : *root) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "bin", "dangling", "etc", "usr"}));
  EXPECT_EQ((*root)[2].type, FileType::kSymlink);
  EXPECT_EQ((*root)[4].type, FileType::kDirectory);
  auto lib = fs.list_dir("/usr/lib64");
  ASSERT_TRUE(lib);
  ASSERT_EQ(lib->size(), 3u);
  EXPECT_EQ((*lib)[0].name, "big");
  EXPECT_EQ((*lib)[0].type, FileType::kRegular);
  EXPECT_EQ((*lib)[2].name, "up");
  EXPECT_EQ(fs.list_dir("/etc/hostname"), std::nullopt);
  EXPECT_EQ(fs.list_dir("/nowhere"), std::nullopt);
}

TEST_F(SquashfsTest, EveryCompressorLibsquashfsReads) {
  for (std::string comp : {"gzip", "xz", "zstd", "lz4"}) {
    SCOPED_TRACE(comp);
    SifImage sif = SifImage::open(make(comp));
    SquashfsImage fs = SquashfsImage::open_primary(sif);
    EXPECT_EQ(fs.read_file("/usr/lib/big"), big_);
  }
}

TEST_F(SquashfsTest, ReferenceImagePartition) {
  std::string path = std::string(SIFSTORE_SHARED_DIR) + "/testdata/sif/one-group.sif";
  if (!test::exists(path)) GTEST_SKIP() << "no " << path << " (../shared)";
  SifImage sif = SifImage::open(path);
  SquashfsImage fs = SquashfsImage::open_primary(sif);
  EXPECT_TRUE(fs.list_dir("/"));
  // The other partition is raw, not squashfs.
  try {
    SquashfsImage::open(sif, sif.descriptors()[0]);
    ADD_FAILURE() << "a raw partition opened as squashfs";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is Raw, not squashfs"), std::string::npos) << e.what();
  }
}

std::string error_of(const std::string& sif_bytes, const std::string& name) {
  try {
    SifImage sif = SifImage::parse(sif_bytes, name);
    SquashfsImage::open_primary(sif);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(SquashfsTest, CorruptFileSystemsAreErrorsNamingTheSif) {
  std::string bytes = test::read_file(make());
  SifImage sif = SifImage::parse(bytes, "x");
  const SifDescriptor part = sif.primary_partition();
  size_t at = static_cast<size_t>(part.offset);

  std::string bad_magic = bytes;
  bad_magic.replace(at, 4, "nope");
  std::string e = error_of(bad_magic, "magic.sif");
  EXPECT_EQ(e,
            "magic.sif: squashfs partition (descriptor ID 2): reading the super block: "
            "no squashfs magic in the super block");

  // The partition claims fewer bytes than the file system uses.
  std::string shrunk = bytes;
  size_t slot = static_cast<size_t>(sif.header().descriptors_offset) + kSifDescriptorSize;
  int64_t smaller = part.size / 2;
  for (int i = 0; i < 8; ++i) shrunk[slot + 25 + i] = static_cast<char>((smaller >> (8 * i)) & 255);
  e = error_of(shrunk, "shrunk.sif");
  EXPECT_NE(e.find("shrunk.sif: squashfs partition (descriptor ID 2): the file system is"),
            std::string::npos)
      << e;

  // A fragment count no file system of this size can hold (libsquashfs
  // would allocate the table for it up front).
  std::string fragments = bytes;
  fragments.replace(at + 16, 4, std::string("\xff\xff\xff\x7f", 4));
  e = error_of(fragments, "fragments.sif");
  EXPECT_NE(e.find("fragments.sif: squashfs partition (descriptor ID 2): the super block claims "
                   "2147483647 fragments"),
            std::string::npos)
      << e;

  // Garbage over the inode and directory tables.
  std::string garbage = bytes;
  for (size_t i = at + 96; i < static_cast<size_t>(part.offset + part.size); i += 7)
    garbage[i] = static_cast<char>(i * 31);
  e = error_of(garbage, "garbage.sif");
  if (e.empty()) {
    // The super block survived: reading must then fail, not crash.
    SifImage g = SifImage::parse(garbage, "garbage.sif");
    SquashfsImage fs = SquashfsImage::open_primary(g);
    EXPECT_THROW(
        {
          fs.read_file("/usr/lib/big");
          fs.list_dir("/usr/lib");
        },
        Error);
  } else {
    EXPECT_EQ(e.rfind("garbage.sif: squashfs partition", 0), 0u) << e;
  }
}

// Reads everything reachable, depth first; errors are fine (counted, and
// they must name the image), crashes not.
void read_everything(const SquashfsImage& fs, const std::string& dir, int depth, int& errors) {
  if (depth > 8) return;
  auto entries = fs.list_dir(dir);
  if (!entries) return;
  for (const auto& e : *entries) {
    std::string path = dir + "/" + e.name;
    try {
      if (e.type == FileType::kDirectory) read_everything(fs, path, depth + 1, errors);
      if (e.type == FileType::kRegular) fs.read_file(path);
      if (e.type == FileType::kSymlink) fs.type_of(path);
    } catch (const Error& err) {
      ++errors;
      EXPECT_EQ(std::string(err.what()).rfind("fuzzed.sif: ", 0), 0u) << err.what();
    }
  }
}

TEST_F(SquashfsTest, RandomCorruptionNeverCrashes) {
  std::string bytes = test::read_file(make());
  SifImage sif = SifImage::parse(bytes, "x");
  const SifDescriptor part = sif.primary_partition();
  std::mt19937 gen(42);
  std::uniform_int_distribution<size_t> pos(static_cast<size_t>(part.offset),
                                            static_cast<size_t>(part.offset + part.size - 1));
  int errors = 0;
  for (int round = 0; round < 300; ++round) {
    std::string b = bytes;
    for (int k = 0; k < 1 + round % 8; ++k) b[pos(gen)] = static_cast<char>(gen());
    try {
      SifImage s = SifImage::parse(b, "fuzzed.sif");
      SquashfsImage fs = SquashfsImage::open_primary(s);
      read_everything(fs, "", 0, errors);
    } catch (const Error& e) {
      ++errors;
      EXPECT_EQ(std::string(e.what()).rfind("fuzzed.sif: ", 0), 0u) << e.what();
    }
  }
  // Corruption is noticed (most flips land in compressed data), and every
  // report named the image.
  EXPECT_GT(errors, 30);
}

}  // namespace
}  // namespace sifstore
