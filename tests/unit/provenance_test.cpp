// The provenance objects a build adds (core/provenance.h) join the object
// group of the image's primary partition: group 1 in an image laid out as
// Apptainer lays it out (so `apptainer sign`, which signs each group,
// covers them), no group in an image whose partition is in none.
#include "core/provenance.h"

#include <gtest/gtest.h>

#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::run;
using test::TempDir;

PackageLock small_lock() {
  PackageLock lock;
  lock.dpkg["libc6"] = "2.36-9";
  lock.facts["def-sha256"] = std::string(64, 'a');
  return lock;
}

// The groups (0: none) of the objects named `name`, by siftool's reading.
std::vector<uint32_t> groups_of_ours(const std::string& sif) {
  std::vector<uint32_t> out;
  SifImage image = SifImage::open(sif);
  for (const auto& d : image.descriptors())
    if (d.name == kSbomObjectName || d.name == kProvenanceObjectName || d.name == kLockObjectName)
      out.push_back(d.group_id);
  return out;
}

TEST(Provenance, ObjectsJoinThePrimaryPartitionsGroup) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  test::write_file(tmp / "tree/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
  test::make_sif_from_tree(tmp / "g.sif", tmp / "tree", "Bootstrap: scratch\n");
  ASSERT_EQ(SifImage::open(tmp / "g.sif").primary_partition().group_id, 1u);
  // The same partition in no group, as `siftool add` without --groupid.
  ASSERT_EQ(run({"siftool", "new", tmp / "n.sif"}).status, 0);
  ASSERT_EQ(run({"siftool", "add", "--datatype", "4", "--parttype", "2", "--partfs", "1",
                 "--partarch", "2", tmp / "n.sif", tmp / "g.sif.squashfs"})
                .status,
            0);
  ASSERT_EQ(SifImage::open(tmp / "n.sif").primary_partition().group_id, 0u);

  Dir dir = Dir::open(tmp.path());
  for (const char* name : {"g.sif", "n.sif"})
    embed_provenance(dir, name, "base", "20260101-000000", small_lock(), 1700000000);
  EXPECT_EQ(groups_of_ours(tmp / "g.sif"), (std::vector<uint32_t>{1, 1, 1}));
  EXPECT_EQ(groups_of_ours(tmp / "n.sif"), (std::vector<uint32_t>{0, 0, 0}));

  // siftool agrees, and reads back what was written.
  SifImage image = SifImage::open(tmp / "g.sif");
  const SifDescriptor& lock = image.descriptors().back();
  ASSERT_EQ(lock.name, kLockObjectName);
  EXPECT_EQ(run({"siftool", "dump", std::to_string(lock.id), tmp / "g.sif"}).out,
            format_lock(embedded_lock(small_lock())));
  auto info = run({"siftool", "info", std::to_string(lock.id), tmp / "g.sif"});
  EXPECT_NE(info.out.find("Group ID:     1\n"), std::string::npos) << info.out;
}

}  // namespace
}  // namespace sifstore
