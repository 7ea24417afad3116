#include "core/names.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace sifstore {
namespace {

TEST(LayerName, AcceptsOrdinaryNames) {
  for (const char* n : {"base", "python-3.11", "app_v2", "A", "x.y-z_1"})
    EXPECT_TRUE(is_valid_layer_name(n)) << n;
}

TEST(LayerName, RejectsEscapesAndOddNames) {
  for (const char* n : {"", ".", "..", "../x", "a/b", "/abs", ".hidden", "-flag", "a b", "a\nb",
                        "caf\xc3\xa9"})
    EXPECT_FALSE(is_valid_layer_name(n)) << n;
  EXPECT_FALSE(is_valid_layer_name(std::string(129, 'a')));
  EXPECT_TRUE(is_valid_layer_name(std::string(128, 'a')));
}

TEST(LayerName, ErrorSaysWhy) {
  try {
    check_layer_name("a/b");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'a/b'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_layer_name(""), Error);
  EXPECT_NO_THROW(check_layer_name("base"));
}

// Layer `x.sif` would be the directory where layer `x` has its pointer:
// every artifact suffix is refused at the end of a name, and said so.
TEST(LayerName, RejectsArtifactSuffixes) {
  for (const char* n : {"x.sif", "x.lock", "x.def", "x.verified", "x.unverified", "x.keep",
                        "x.build.log", "x.rough.def", "a.b.sif"}) {
    EXPECT_FALSE(is_valid_layer_name(n)) << n;
    try {
      check_layer_name(n);
      ADD_FAILURE() << n << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("ends in '."), std::string::npos) << e.what();
    }
  }
  for (const char* n : {"x.sifx", "sif", "x.log", "x.build", "x-sif", "x.sif.d", "lock"})
    EXPECT_TRUE(is_valid_layer_name(n)) << n;
}

TEST(Timestamp, ShapeAndCalendar) {
  EXPECT_TRUE(has_ts_shape("2026-1125-143000"));
  EXPECT_TRUE(is_valid_ts("2026-1125-143000"));
  EXPECT_TRUE(has_ts_shape("2026-1399-999999"));
  EXPECT_FALSE(is_valid_ts("2026-1399-999999"));
  for (const char* t : {"", "2026-1125-14300", "2026-1125-1430000", "2026_1125-143000",
                        "2026-11251-43000", "abcd-1125-143000", "2026-0025-143000",
                        "2026-1100-143000", "2026-1125-243000", "2026-1125-146000"})
    EXPECT_FALSE(is_valid_ts(t)) << t;
  EXPECT_THROW(check_ts("yesterday"), Error);
}

TEST(Artifacts, NamesRoundTrip) {
  for (Artifact a : kAllArtifacts) {
    std::string name = artifact_name("base", "2026-0101-000000", a);
    auto parsed = parse_artifact_name("base", name);
    ASSERT_TRUE(parsed) << name;
    EXPECT_EQ(parsed->ts, "2026-0101-000000");
    EXPECT_EQ(parsed->artifact, a);
  }
  EXPECT_EQ(artifact_name("b", "2026-0101-000000", Artifact::kBuildLog),
            "b-2026-0101-000000.build.log");
}

TEST(Artifacts, PrefixLayersDoNotMatch) {
  // "base-dev-<ts>.sif" belongs to layer "base-dev", not "base".
  EXPECT_FALSE(parse_artifact_name("base", "base-dev-2026-0101-000000.sif"));
  EXPECT_TRUE(parse_artifact_name("base-dev", "base-dev-2026-0101-000000.sif"));
  EXPECT_FALSE(parse_artifact_name("base", "base-2026-0101-000000.sif.tmp"));
  EXPECT_FALSE(parse_artifact_name("base", "base-2026-0101-000000.verify.lock"));
  EXPECT_FALSE(parse_artifact_name("base", ".base-2026-0101-000000.sif"));
  EXPECT_FALSE(parse_artifact_name("base", "base-2026-0101-00000.sif"));
}

TEST(Pointer, TargetsReadLikeTheReference) {
  EXPECT_EQ(pointer_name("base"), "base.sif");
  EXPECT_EQ(pointer_target("base", "2026-0101-000000"), "base/base-2026-0101-000000.sif");
  EXPECT_EQ(ts_from_pointer_target("base", "base/base-2026-0101-000000.sif"), "2026-0101-000000");
  EXPECT_EQ(ts_from_pointer_target("base", "/abs/store/base/base-2026-0101-000001.sif"),
            "2026-0101-000001");
  EXPECT_EQ(ts_from_pointer_target("base", "./elsewhere/base-2026-0101-000002.sif"),
            "2026-0101-000002");
  EXPECT_EQ(ts_from_pointer_target("base", "other/other-2026-0101-000000.sif"), std::nullopt);
  EXPECT_EQ(ts_from_pointer_target("base", "base/base-2026-0101-000000.lock"), std::nullopt);
  EXPECT_EQ(ts_from_pointer_target("base", ""), std::nullopt);
}

}  // namespace
}  // namespace sifstore

namespace sifstore {
namespace {

TEST(HiddenNames, IdentityRecordRoundTrips) {
  EXPECT_EQ(identity_record_name("base", "2026-0101-000001"), ".base-2026-0101-000001.identity");
  EXPECT_EQ(parse_hidden_name("base", ".base-2026-0101-000001.identity", kIdentitySuffix),
            "2026-0101-000001");
  for (const char* bad : {"base-2026-0101-000001.identity", ".base-2026-0101-000001.identityx",
                          ".base-2026-0101-00000x.identity", ".base2-2026-0101-000001.identity",
                          ".bas-2026-0101-000001.identity", ".base-2026-0101-000001.sif"})
    EXPECT_FALSE(parse_hidden_name("base", bad, kIdentitySuffix)) << bad;
}

}  // namespace
}  // namespace sifstore
