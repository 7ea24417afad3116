// An image signed after it was published (core/sif_signatures.h): the
// digest of the image as published, computed from the signed image, for
// signatures added as siftool adds them (unaligned) and as `apptainer sign`
// adds them (page aligned, linked to group 1), after an image already
// signed at its build; and any other change still differs.
#include "core/sif_signatures.h"

#include <gtest/gtest.h>

#include "core/sha256.h"
#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::run;
using test::TempDir;

// A SIF laid out as Apptainer's (definition and primary partition in
// group 1) and then SifStore's: a small object last, so that its data ends
// off a page boundary (the squashfs is padded to 4 KiB).
std::string make_image(const TempDir& tmp, const std::string& name) {
  test::write_file(tmp / "tree/etc/hello", "hi\n");
  test::make_sif_from_tree(tmp / name, tmp / "tree", "Bootstrap: scratch\n");
  test::write_file(tmp / "lock.txt", "# scitex-container lock\n");
  auto r =
      run({"siftool", "add", tmp / name, tmp / "lock.txt", "--datatype", "7", "--groupid", "1"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(SifImage::open(tmp / name).file_size() % 4096, 0u);
  return tmp / name;
}

// Adds a signature object: siftool's way (unaligned, no link) or
// `apptainer sign`'s (page aligned, linked to group 1).
void sign(const TempDir& tmp, const std::string& sif, const std::string& entity_tail,
          bool as_apptainer) {
  test::write_file(tmp / "sig.bin", "-----BEGIN PGP SIGNATURE-----\n" + entity_tail + "\n");
  const std::string entity = "433FE984155206BD962725E20E8713472A8799" + entity_tail;
  std::vector<std::string> argv = {"siftool", "add",        sif, tmp / "sig.bin", "--datatype",
                                   "5",       "--signhash", "1", "--signentity",  entity};
  if (as_apptainer)
    for (const char* a : {"--alignment", "4096", "--link", "4026531841"}) argv.push_back(a);
  auto r = run(argv);
  ASSERT_EQ(r.status, 0) << r.err;
}

PublishedSif published_now(const std::string& sif) {
  PublishedSif as;
  SifImage image = SifImage::open(sif);
  as.modified_at = image.header().modified_at;
  for (const auto& d : image.descriptors())
    if (d.data_type == kSifSignature) as.signature_ids.insert(d.id);
  return as;
}

TEST(SifSignatures, AnAddedSignatureIsUndoneInTheDigest) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  for (bool as_apptainer : {false, true}) {
    TempDir tmp;
    std::string sif = make_image(tmp, "a.sif");
    std::string published = sha256_file(sif);
    PublishedSif as = published_now(sif);
    EXPECT_FALSE(published_sha256(SifImage::open(sif), as)) << "nothing added yet";
    sign(tmp, sif, "01", as_apptainer);
    ASSERT_NE(sha256_file(sif), published);
    if (as_apptainer) {
      const SifDescriptor sig = SifImage::open(sif).descriptors().back();
      EXPECT_EQ(sig.offset % 4096, 0) << "apptainer sign aligns to the page";
      EXPECT_TRUE(sig.linked_to_group);
    }
    auto p = published_sha256(SifImage::open(sif), as);
    ASSERT_TRUE(p) << as_apptainer;
    EXPECT_EQ(p->sha256, published) << "apptainer's way: " << as_apptainer;
    ASSERT_EQ(p->added.size(), 1u);
    EXPECT_EQ(p->added[0].entity, "433FE984155206BD962725E20E8713472A879901");
    EXPECT_TRUE(p->at_build.empty());
  }
}

// Signed at its build, then again later by another key: the digest keeps
// the first signature (it was published) and undoes only the second.
TEST(SifSignatures, ASignatureAddedToASignedImage) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  std::string sif = make_image(tmp, "a.sif");
  sign(tmp, sif, "01", true);
  std::string published = sha256_file(sif);
  PublishedSif as = published_now(sif);
  ASSERT_EQ(as.signature_ids.size(), 1u);
  sign(tmp, sif, "02", true);
  auto p = published_sha256(SifImage::open(sif), as);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->sha256, published);
  ASSERT_EQ(p->added.size(), 1u);
  ASSERT_EQ(p->at_build.size(), 1u);
  EXPECT_EQ(p->added[0].entity, "433FE984155206BD962725E20E8713472A879902");
  EXPECT_EQ(p->at_build[0].entity, "433FE984155206BD962725E20E8713472A879901");
  // Without the lock's record of the build's signature both count as
  // added, and the digest is not the published image's.
  PublishedSif forgetful = as;
  forgetful.signature_ids.clear();
  auto q = published_sha256(SifImage::open(sif), forgetful);
  EXPECT_TRUE(!q || q->sha256 != published);
}

// Any other change still differs: another object (before or after the
// signature), or a byte of an object's data.
TEST(SifSignatures, AnyOtherChangeDiffers) {
  if (auto why = test::sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  TempDir tmp;
  test::write_file(tmp / "x.json", "{}");
  for (int variant = 0; variant < 3; ++variant) {
    std::string sif = make_image(tmp, "v" + std::to_string(variant) + ".sif");
    std::string published = sha256_file(sif);
    PublishedSif as = published_now(sif);
    if (variant == 0) {
      ASSERT_EQ(run({"siftool", "add", sif, tmp / "x.json", "--datatype", "6"}).status, 0);
    }
    sign(tmp, sif, "01", true);
    if (variant == 1) {
      ASSERT_EQ(run({"siftool", "add", sif, tmp / "x.json", "--datatype", "6"}).status, 0);
    }
    if (variant == 2) {
      std::string bytes = test::read_file(sif);
      const SifDescriptor part = SifImage::open(sif).primary_partition();
      bytes[static_cast<size_t>(part.offset + part.size / 2)] ^= 1;
      test::write_file(sif, bytes);
    }
    auto p = published_sha256(SifImage::open(sif), as);
    EXPECT_TRUE(!p || p->sha256 != published) << "variant " << variant;
  }
}

TEST(SifSignatures, PublishedStateFromTheLock) {
  PackageLock lock;
  EXPECT_FALSE(published_sif(lock));
  lock.facts["sif-modified-at"] = "1700000000";
  auto as = published_sif(lock);
  ASSERT_TRUE(as);
  EXPECT_EQ(as->modified_at, 1700000000);
  EXPECT_TRUE(as->signature_ids.empty());
  lock.facts["signed-at-build"] = "7 9";
  as = published_sif(lock);
  ASSERT_TRUE(as);
  EXPECT_EQ(as->signature_ids, (std::set<uint32_t>{7, 9}));
  for (const char* bad : {"yes", "7,9", "7  9", "-1", ""}) {
    lock.facts["signed-at-build"] = bad;
    EXPECT_FALSE(published_sif(lock)) << bad;
  }
  lock.facts["signed-at-build"] = "7";
  lock.facts["sif-modified-at"] = "17x";
  EXPECT_FALSE(published_sif(lock));
}

}  // namespace
}  // namespace sifstore
