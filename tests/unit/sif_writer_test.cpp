// The SIF writer against siftool, the reference implementation: objects
// SifStore adds are listed by `siftool list`/`info` with their types,
// `siftool dump` returns exactly the bytes written, and the image is laid
// out as `siftool add` lays out the same object.
#include "core/sif_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cctype>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/text.h"
#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::run;
using test::TempDir;

// The SIF made by the stand-in's way: def, JSON, primary squashfs partition.
std::string make_image(const TempDir& tmp, const std::string& name) {
  test::write_file(tmp / "tree/etc/hello", "hi\n");
  test::make_sif_from_tree(tmp / name, tmp / "tree", "Bootstrap: scratch\n");
  return tmp / name;
}

std::string siftool_type_of(const std::string& sif, uint32_t id) {
  auto r = run({"siftool", "info", std::to_string(id), sif});
  EXPECT_EQ(r.status, 0) << r.err;
  return r.out;
}

TEST(SifWriter, ObjectsAreWhatSiftoolReads) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  std::string sif = make_image(tmp, "a.sif");
  SifImage before = SifImage::open(sif);
  std::string sbom = "{\"bomFormat\":\"CycloneDX\"}\n";
  std::string prov = "{\"layer\":\"a\"}";
  std::string lock = "# scitex-container lock\n[pip]\n[dpkg]\nlibc6=2.36\n";
  Dir dir = Dir::open(tmp.path());
  auto ids = add_sif_objects(dir, "a.sif",
                             {{kSifSbom, "sbom.cdx.json", sbom, kSifSbomCycloneDxJson},
                              {kSifGenericJson, "provenance.json", prov, 0},
                              {kSifGeneric, "sifstore.lock", lock, 0}},
                             1700000000);
  ASSERT_EQ(ids.size(), 3u);

  auto list = run({"siftool", "list", sif});
  ASSERT_EQ(list.status, 0) << list.err;
  EXPECT_NE(list.out.find("SBOM (cyclonedx-json)"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("JSON.Generic"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("Generic/Raw"), std::string::npos) << list.out;
  EXPECT_NE(siftool_type_of(sif, ids[0]).find("Format:       cyclonedx-json"), std::string::npos);
  EXPECT_NE(siftool_type_of(sif, ids[1]).find("Data Type:    JSON.Generic"), std::string::npos);

  const std::string written[] = {sbom, prov, lock};
  for (size_t i = 0; i < 3; ++i) {
    auto dump = run({"siftool", "dump", std::to_string(ids[i]), sif});
    ASSERT_EQ(dump.status, 0) << dump.err;
    EXPECT_EQ(dump.out, written[i]);
  }

  // Every object that was there is byte for byte where it was.
  SifImage after = SifImage::open(sif);
  ASSERT_EQ(after.descriptors().size(), before.descriptors().size() + 3);
  for (size_t i = 0; i < before.descriptors().size(); ++i) {
    const auto& a = before.descriptors()[i];
    const auto& b = after.descriptors()[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.offset, b.offset);
    EXPECT_EQ(before.read_object(a, 1u << 30), after.read_object(b, 1u << 30));
  }
  EXPECT_EQ(after.header().id, before.header().id);
  EXPECT_EQ(after.header().created_at, before.header().created_at);
  EXPECT_EQ(after.header().modified_at, 1700000000);
  EXPECT_EQ(after.header().descriptors_free, before.header().descriptors_free - 3);
  EXPECT_EQ(after.file_size(), before.file_size() + sbom.size() + prov.size() + lock.size());
  // The squashfs still mounts: siftool verifies nothing, so read it back.
  EXPECT_EQ(run({"siftool", "header", sif}).status, 0);
}

// The same object added by `siftool add` and by SifStore to copies of one
// image: the same header and descriptor, except the times siftool takes
// from the clock.
TEST(SifWriter, LaysOutAnObjectAsSiftoolAdd) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  std::string ours = make_image(tmp, "ours.sif");
  std::string theirs = tmp / "theirs.sif";
  ASSERT_EQ(run({"cp", ours, theirs}).status, 0);
  std::string data = "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.5\"}";
  test::write_file(tmp / "sbom.json", data);
  auto add = run({"siftool", "add", theirs, tmp / "sbom.json", "--datatype", "9", "--sbomformat",
                  "cyclonedx-json"});
  ASSERT_EQ(add.status, 0) << add.err;
  Dir dir = Dir::open(tmp.path());
  add_sif_objects(dir, "ours.sif", {{kSifSbom, "", data, kSifSbomCycloneDxJson}}, 1700000000);

  SifImage a = SifImage::open(ours), b = SifImage::open(theirs);
  EXPECT_EQ(a.file_size(), b.file_size());
  EXPECT_EQ(a.header().descriptors_free, b.header().descriptors_free);
  EXPECT_EQ(a.header().data_size, b.header().data_size);
  EXPECT_EQ(a.header().data_offset, b.header().data_offset);
  ASSERT_EQ(a.descriptors().size(), b.descriptors().size());
  const SifDescriptor& x = a.descriptors().back();
  const SifDescriptor& y = b.descriptors().back();
  EXPECT_EQ(x.id, y.id);
  EXPECT_EQ(x.data_type, y.data_type);
  EXPECT_EQ(x.group_id, y.group_id);
  EXPECT_EQ(x.linked_id, y.linked_id);
  EXPECT_EQ(x.offset, y.offset);
  EXPECT_EQ(x.size, y.size);
  EXPECT_EQ(x.size_with_padding, y.size_with_padding);
  EXPECT_EQ(x.sbom_format, y.sbom_format);
  // Byte for byte, once the clock's fields are set alike: header bytes 72-80
  // (modified) and the descriptor's created/modified fields.
  std::string ra = test::read_file(ours), rb = test::read_file(theirs);
  ASSERT_EQ(ra.size(), rb.size());
  size_t row = static_cast<size_t>(a.header().descriptors_offset) +
               (a.descriptors().size() - 1) * kSifDescriptorSize;
  for (size_t off : {size_t(72), row + 41, row + 49}) rb.replace(off, 8, ra.substr(off, 8));
  EXPECT_TRUE(ra == rb) << "images differ beyond the clock fields";
}

TEST(SifWriter, AnImageWithoutFreeSlotsIsLeftAlone) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  std::string sif = make_image(tmp, "a.sif");
  int64_t free_slots = SifImage::open(sif).header().descriptors_free;
  Dir dir = Dir::open(tmp.path());
  std::vector<SifNewObject> many(static_cast<size_t>(free_slots) + 1,
                                 SifNewObject{kSifGenericJson, "x", "{}", 0});
  std::string before = test::read_file(sif);
  try {
    add_sif_objects(dir, "a.sif", many, 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("descriptor slots are free"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(test::read_file(sif), before);
  EXPECT_EQ(test::list_dir(tmp.path()).size(), 4u);  // a.sif, a.sif.squashfs, tree, no temp
  // Exactly the free slots fill up.
  many.pop_back();
  add_sif_objects(dir, "a.sif", many, 1);
  EXPECT_EQ(SifImage::open(sif).header().descriptors_free, 0);
  EXPECT_EQ(run({"siftool", "list", sif}).status, 0);
}

TEST(SifWriter, RefusesASymlinkAndANonSif) {
  TempDir tmp;
  test::write_file(tmp / "x.sif", "not a sif at all, just text that is long enough to be read");
  ASSERT_EQ(::symlink("x.sif", (tmp / "l.sif").c_str()), 0);
  Dir dir = Dir::open(tmp.path());
  EXPECT_THROW(add_sif_objects(dir, "l.sif", {{kSifGeneric, "", "x", 0}}, 1), Error);
  EXPECT_THROW(add_sif_objects(dir, "x.sif", {{kSifGeneric, "", "x", 0}}, 1), Error);
  EXPECT_EQ(test::list_dir(tmp.path()), (std::vector<std::string>{"l.sif", "x.sif"}));
}

}  // namespace
}  // namespace sifstore

namespace sifstore {
namespace {

// In place (the build's unpublished partial image) gives the same bytes as
// the temporary renamed over the image.
TEST(SifWriter, InPlaceWritesTheSameImage) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  std::string a = make_image(tmp, "a.sif");
  ASSERT_EQ(run({"cp", a, tmp / "b.sif"}).status, 0);
  std::vector<SifNewObject> objects = {{kSifSbom, "s", "{\"x\":1}", kSifSbomSpdxJson},
                                       {kSifGeneric, "l", "lock\n", 0}};
  Dir dir = Dir::open(tmp.path());
  add_sif_objects(dir, "a.sif", objects, 1700000000, SifWrite::kReplace);
  auto ids = add_sif_objects(dir, "b.sif", objects, 1700000000, SifWrite::kInPlace);
  EXPECT_TRUE(test::read_file(a) == test::read_file(tmp / "b.sif"));
  auto dump = run({"siftool", "dump", std::to_string(ids[0]), tmp / "b.sif"});
  EXPECT_EQ(dump.out, "{\"x\":1}");
  EXPECT_NE(run({"siftool", "list", tmp / "b.sif"}).out.find("SBOM (spdx-json)"),
            std::string::npos);
}

}  // namespace
}  // namespace sifstore

namespace sifstore {
namespace {

// Rows "ID|GROUP|LINK|POSITION|TYPE" of `siftool list`: id -> group column.
std::map<std::string, std::string> siftool_groups(const std::string& sif) {
  auto r = run({"siftool", "list", sif});
  EXPECT_EQ(r.status, 0) << r.err;
  std::map<std::string, std::string> out;
  for (const auto& line : split(r.out, '\n')) {
    auto f = split(line, '|');
    if (f.size() == 5 && !f[0].empty() && std::isdigit(static_cast<unsigned char>(f[0][0])))
      out[std::string(trim(f[0]))] = std::string(trim(f[1]));
  }
  return out;
}

// An object put in group 1 is where `siftool add --groupid 1` puts it
// (stored as 1 | 0xf0000000): siftool lists it in group 1, dumps its bytes,
// and the image is byte for byte siftool's but for the clock.
TEST(SifWriter, ObjectsJoinTheGroupAsked) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  std::string ours = make_image(tmp, "ours.sif");
  std::string theirs = tmp / "theirs.sif";
  ASSERT_EQ(run({"cp", ours, theirs}).status, 0);
  std::string data = "# scitex-container lock\n[dpkg]\nlibc6=2.36\n";
  test::write_file(tmp / "lock.txt", data);
  auto add = run({"siftool", "add", theirs, tmp / "lock.txt", "--datatype", "7", "--groupid", "1",
                  "--filename", "sifstore.lock"});
  ASSERT_EQ(add.status, 0) << add.err;
  Dir dir = Dir::open(tmp.path());
  auto ids =
      add_sif_objects(dir, "ours.sif", {{kSifGeneric, "sifstore.lock", data, 0, 1}}, 1700000000);
  ASSERT_EQ(ids.size(), 1u);
  std::string id = std::to_string(ids[0]);
  EXPECT_EQ(siftool_groups(ours)[id], "1");
  EXPECT_NE(siftool_type_of(ours, ids[0]).find("Group ID:     1\n"), std::string::npos)
      << siftool_type_of(ours, ids[0]);
  EXPECT_EQ(run({"siftool", "dump", id, ours}).out, data);
  SifImage a = SifImage::open(ours);
  EXPECT_EQ(a.descriptors().back().group_id, a.primary_partition().group_id);

  std::string ra = test::read_file(ours), rb = test::read_file(theirs);
  ASSERT_EQ(ra.size(), rb.size());
  size_t row = static_cast<size_t>(a.header().descriptors_offset) +
               (a.descriptors().size() - 1) * kSifDescriptorSize;
  for (size_t off : {size_t(72), row + 41, row + 49}) rb.replace(off, 8, ra.substr(off, 8));
  EXPECT_TRUE(ra == rb) << "images differ beyond the clock fields";

  // Group 0 is no group; an ID that does not fit beside the mask is refused.
  add_sif_objects(dir, "ours.sif", {{kSifGeneric, "n", "x", 0, 0}}, 1700000000);
  EXPECT_EQ(siftool_groups(ours)[std::to_string(ids[0] + 1)], "NONE");
  EXPECT_THROW(add_sif_objects(dir, "ours.sif", {{kSifGeneric, "n", "x", 0, 0x10000000u}}, 1),
               Error);
}

}  // namespace
}  // namespace sifstore
