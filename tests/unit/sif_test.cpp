#include "core/sif.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "core/text.h"
#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::run;
using test::TempDir;

std::string testdata_dir() { return std::string(SIFSTORE_SHARED_DIR) + "/testdata/sif"; }

// One row of `siftool list`.
struct ListRow {
  std::string id, group, link, position, type;
};

std::vector<ListRow> siftool_list(const std::string& path) {
  auto r = run({"siftool", "list", path});
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<ListRow> rows;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '-' || line.rfind("ID", 0) == 0) continue;
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream ls(line);
    while (std::getline(ls, cell, '|')) cells.emplace_back(trim(cell, " \t"));
    EXPECT_EQ(cells.size(), 5u) << line;
    if (cells.size() == 5) rows.push_back({cells[0], cells[1], cells[2], cells[3], cells[4]});
  }
  return rows;
}

// "Key: value" lines of `siftool header`.
std::map<std::string, std::string> siftool_header(const std::string& path) {
  auto r = run({"siftool", "header", path});
  EXPECT_EQ(r.status, 0) << r.err;
  std::map<std::string, std::string> fields;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon != std::string::npos)
      fields[line.substr(0, colon)] = trim(std::string_view(line).substr(colon + 1), " \t");
  }
  return fields;
}

// Our rendering of a descriptor in siftool's columns.
ListRow our_row(const SifDescriptor& d) {
  ListRow row;
  row.id = std::to_string(d.id);
  row.group = d.group_id ? std::to_string(d.group_id) : "NONE";
  if (d.linked_id == 0)
    row.link = "NONE";
  else
    row.link = std::to_string(d.linked_id) + (d.linked_to_group ? "   (G)" : "");
  row.position = std::to_string(d.offset) + "-" + std::to_string(d.offset + d.size);
  row.type = d.type_text();
  return row;
}

bool have_siftool() { return run({"/bin/sh", "-c", "command -v siftool"}).status == 0; }

std::vector<std::string> testdata_images() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(testdata_dir()))
    if (e.path().extension() == ".sif") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Sif, ReadsEveryReferenceImageAsSiftoolLists) {
  if (!test::exists(testdata_dir())) GTEST_SKIP() << "no " << testdata_dir() << " (../shared)";
  if (!have_siftool()) GTEST_SKIP() << "siftool is not installed (Debian package siftool)";
  auto images = testdata_images();
  ASSERT_GE(images.size(), 8u);
  size_t compared = 0;
  for (const auto& path : images) {
    SCOPED_TRACE(path);
    SifImage sif = SifImage::open(path);
    auto rows = siftool_list(path);
    ASSERT_EQ(sif.descriptors().size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const SifDescriptor& d = sif.descriptors()[i];
      ListRow ours = our_row(d);
      EXPECT_EQ(ours.id, rows[i].id);
      EXPECT_EQ(ours.group, rows[i].group);
      EXPECT_EQ(ours.link, rows[i].link);
      EXPECT_EQ(ours.position, rows[i].position);
      // The Debian siftool (2.8) predates the OCI object types and calls
      // them "Unknown"; anything else must read exactly as siftool says.
      bool newer_than_siftool = rows[i].type == "Unknown" &&
                                (d.data_type == kSifOciBlob || d.data_type == kSifOciRootIndex);
      if (!newer_than_siftool) {
        EXPECT_EQ(ours.type, rows[i].type);
      }
      ++compared;
    }
    auto h = siftool_header(path);
    EXPECT_EQ(sif.header().version, h["Version"]);
    EXPECT_EQ(std::to_string(sif.header().descriptors_free), h["Descriptors Free"]);
    EXPECT_EQ(std::to_string(sif.header().descriptors_total), h["Descriptors Total"]);
    EXPECT_EQ(std::to_string(sif.header().descriptors_offset), h["Descriptors Offset"]);
    EXPECT_EQ(std::to_string(sif.header().data_offset), h["Data Offset"]);
    if (h.count("Primary Architecture"))
      EXPECT_EQ(sif.header().arch, h["Primary Architecture"]);
    else
      EXPECT_EQ(sif.header().arch, "unknown");
    if (h.count("ID"))
      EXPECT_EQ(sif.header().id, h["ID"]);
    else
      EXPECT_EQ(sif.header().id, "00000000-0000-0000-0000-000000000000");
  }
  EXPECT_GE(compared, 15u);
}

TEST(Sif, ReferenceObjectMetadata) {
  if (!test::exists(testdata_dir())) GTEST_SKIP() << "no " << testdata_dir() << " (../shared)";
  SifImage sbom = SifImage::open(testdata_dir() + "/one-object-sbom.sif");
  ASSERT_EQ(sbom.descriptors().size(), 1u);
  EXPECT_EQ(sbom.descriptors()[0].data_type, kSifSbom);
  EXPECT_EQ(sif_sbom_format_name(sbom.descriptors()[0].sbom_format), "cyclonedx-json");

  SifImage blob = SifImage::open(testdata_dir() + "/one-object-oci-blob.sif");
  ASSERT_EQ(blob.descriptors().size(), 1u);
  EXPECT_EQ(blob.descriptors()[0].type_text(), "OCI.Blob");
  const std::string& digest = blob.descriptors()[0].digest;
  EXPECT_EQ(digest.rfind("sha256:", 0), 0u) << digest;
  EXPECT_EQ(digest.size(), 7u + 64u) << digest;

  SifImage signed_image = SifImage::open(testdata_dir() + "/one-group-signed-pgp.sif");
  const auto& sig = signed_image.descriptors().back();
  EXPECT_EQ(sig.data_type, kSifSignature);
  EXPECT_TRUE(sig.linked_to_group);
  EXPECT_EQ(sig.linked_id, 1u);
  EXPECT_EQ(sig.entity.size(), 40u) << sig.entity;
  EXPECT_EQ(signed_image.primary_partition().id, 2u);
  EXPECT_EQ(signed_image.primary_partition().fs_type, kSifFsSquash);

  SifImage empty = SifImage::open(testdata_dir() + "/empty.sif");
  EXPECT_TRUE(empty.descriptors().empty());
  EXPECT_FALSE(empty.definition());
  EXPECT_THROW(empty.primary_partition(), Error);
}

class MadeSif : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing = test::sif_tools_missing();
    if (!missing.empty()) GTEST_SKIP() << missing;
    test::write_file(dir_ / "root/etc/hostname", "box\n");
    test::make_sif_from_tree(dir_ / "image.sif", dir_ / "root", kDef);
    bytes_ = test::read_file(dir_ / "image.sif");
  }
  // A copy of the image with `patch` applied, written to a new file.
  std::string patched(const std::string& name, size_t at, const std::string& patch) {
    std::string b = bytes_;
    b.replace(at, patch.size(), patch);
    test::write_file(dir_ / name, b);
    return dir_ / name;
  }
  std::string error_of(const std::string& path) {
    try {
      SifImage::open(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  static constexpr const char* kDef = "Bootstrap: docker\nFrom: debian:12\n\n%post\n  true\n";
  TempDir dir_;
  std::string bytes_;
};

TEST_F(MadeSif, HeaderDescriptorsAndDefinition) {
  SifImage sif = SifImage::open(dir_ / "image.sif");
  EXPECT_EQ(sif.header().version, "01");
  EXPECT_EQ(sif.header().arch, "amd64");
  EXPECT_EQ(sif.file_size(), bytes_.size());
  ASSERT_EQ(sif.descriptors().size(), 2u);
  EXPECT_EQ(sif.descriptors()[0].data_type, kSifDeffile);
  EXPECT_EQ(sif.descriptors()[0].group_id, 1u);
  ASSERT_TRUE(sif.definition());
  EXPECT_EQ(*sif.definition(), kDef);
  const SifDescriptor& part = sif.primary_partition();
  EXPECT_EQ(part.type_text(), "FS (Squashfs/*System/amd64)");
  std::string squashfs = test::read_file(dir_ / "image.sif.squashfs");
  EXPECT_EQ(part.size, static_cast<int64_t>(squashfs.size()));
  EXPECT_EQ(bytes_.substr(static_cast<size_t>(part.offset), squashfs.size()), squashfs);
  // The same bytes parsed from memory read the same.
  SifImage mem = SifImage::parse(bytes_, "memory");
  ASSERT_EQ(mem.descriptors().size(), 2u);
  EXPECT_EQ(mem.read_object(mem.descriptors()[1]), squashfs);
}

TEST_F(MadeSif, BadMagicAndVersion) {
  std::string e = error_of(patched("magic.sif", 32, "NOT_MAGIC"));
  EXPECT_NE(e.find("magic.sif"), std::string::npos) << e;
  EXPECT_NE(e.find("not a SIF image (bad magic"), std::string::npos) << e;
  e = error_of(patched("version.sif", 42, "99"));
  EXPECT_NE(e.find("unsupported SIF version \"99"), std::string::npos) << e;
  test::write_file(dir_ / "text.sif", "Bootstrap: docker\n");
  e = error_of(dir_ / "text.sif");
  EXPECT_NE(e.find("not a SIF image"), std::string::npos) << e;
}

TEST_F(MadeSif, EveryTruncationIsAnErrorNamingTheFile) {
  // Cut the image at many lengths: every cut before the end of the last
  // object is reported, none crashes or reads out of bounds.
  size_t end_of_objects = 0;
  SifImage whole = SifImage::parse(bytes_, "whole");
  for (const auto& d : whole.descriptors())
    end_of_objects = std::max(end_of_objects, static_cast<size_t>(d.offset + d.size));
  ASSERT_EQ(end_of_objects, bytes_.size());
  size_t errors = 0;
  for (size_t len = 0; len < bytes_.size(); len += (len < 200 ? 1 : 509)) {
    try {
      SifImage::parse(bytes_.substr(0, len), "cut.sif");
      ADD_FAILURE() << "a SIF cut at " << len << " bytes was accepted";
    } catch (const Error& e) {
      ++errors;
      EXPECT_EQ(std::string(e.what()).rfind("cut.sif: ", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(errors, 100u);
  std::string cut = patched("cut.sif", 0, "");
  ASSERT_EQ(::truncate(cut.c_str(), static_cast<off_t>(bytes_.size() - 1)), 0);
  std::string e = error_of(cut);
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  cut = patched("short.sif", 0, "");
  ASSERT_EQ(::truncate(cut.c_str(), 100), 0);
  e = error_of(cut);
  EXPECT_NE(e.find("truncated SIF image: 100 bytes"), std::string::npos) << e;
}

// Little-endian bytes of v.
std::string le64(int64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 255);
  return s;
}

TEST_F(MadeSif, DescriptorPastTheEnd) {
  SifImage sif = SifImage::parse(bytes_, "x");
  size_t table = static_cast<size_t>(sif.header().descriptors_offset);
  // The second descriptor (the partition) is in slot 1: move its offset
  // past the end, then make its size overflow.
  size_t slot = table + kSifDescriptorSize;
  std::string e = error_of(patched("offset.sif", slot + 17, le64(1LL << 40)));
  EXPECT_NE(
      e.find("offset.sif: truncated or corrupt SIF: descriptor ID 2 (FS) points past the end"),
      std::string::npos)
      << e;
  e = error_of(patched("size.sif", slot + 25, le64(INT64_MAX)));
  EXPECT_NE(e.find("points past the end"), std::string::npos) << e;
  // Offset and size each within range, their sum not (found by sif_fuzz).
  std::string both = bytes_;
  both.replace(slot + 17, 8, le64(INT64_MAX / 2 + 7));
  both.replace(slot + 25, 8, le64(INT64_MAX / 2 + 9));
  test::write_file(dir_ / "sum.sif", both);
  e = error_of(dir_ / "sum.sif");
  EXPECT_NE(e.find("points past the end"), std::string::npos) << e;
  e = error_of(patched("negative.sif", slot + 25, le64(-5)));
  EXPECT_NE(e.find("negative offset or size"), std::string::npos) << e;
  e = error_of(patched("total.sif", 88, le64(INT64_MAX / 2)));
  EXPECT_NE(e.find("corrupt SIF header: descriptors total"), std::string::npos) << e;
  e = error_of(patched("table.sif", 96, le64(static_cast<int64_t>(bytes_.size()) - 100)));
  EXPECT_NE(e.find("descriptor table"), std::string::npos) << e;
  e = error_of(patched("free.sif", 80, le64(-1)));
  EXPECT_NE(e.find("descriptors free"), std::string::npos) << e;
}

TEST_F(MadeSif, PrimaryPartitionRules) {
  // Turn the partition into a plain System partition: no primary one.
  SifImage sif = SifImage::parse(bytes_, "x");
  size_t slot = static_cast<size_t>(sif.header().descriptors_offset) + kSifDescriptorSize;
  std::string p = patched("noprim.sif", slot + 201 + 4, std::string("\x01\0\0\0", 4));
  try {
    SifImage::open(p).primary_partition();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no primary system partition"), std::string::npos);
  }
  // The definition object as a second primary partition: ambiguous.
  size_t slot0 = static_cast<size_t>(sif.header().descriptors_offset);
  std::string b = bytes_;
  b.replace(slot0, 4, std::string("\x04\x40\0\0", 4));
  b.replace(slot0 + 201 + 4, 4, std::string("\x02\0\0\0", 4));
  try {
    SifImage::parse(b, "two.sif").primary_partition();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than one primary"), std::string::npos);
  }
}

TEST(SifOpen, NotARegularFile) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo.sif").c_str(), 0600), 0);
  EXPECT_THROW(SifImage::open(dir / "fifo.sif"), Error);  // does not block
  EXPECT_THROW(SifImage::open(dir.path()), Error);
  try {
    SifImage::open(dir / "missing.sif");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.sif"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sifstore
