#include "core/builder_version.h"

#include <gtest/gtest.h>

namespace sifstore {
namespace {

TEST(BuilderVersion, ParsesTheVersionLine) {
  auto r = parse_builder_version("apptainer version 1.1.9");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->product, "apptainer");
  EXPECT_EQ(r->major, 1);
  EXPECT_EQ(r->minor, 1);
  EXPECT_EQ(r->patch, 9);
  r = parse_builder_version("apptainer version 1.3.4-standin");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->minor, 3);
  r = parse_builder_version("singularity-ce version 3.11");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->product, "singularity-ce");
  EXPECT_EQ(r->patch, 0);
  EXPECT_FALSE(parse_builder_version("unknown"));
  EXPECT_FALSE(parse_builder_version(""));
  EXPECT_FALSE(parse_builder_version("apptainer version 99999999999999999999.1"));
}

TEST(BuilderVersion, BuildArgumentsFromApptainer12) {
  EXPECT_FALSE(builder_has_build_args("apptainer version 1.1.9"));
  EXPECT_FALSE(builder_has_build_args("apptainer version 1.0.3"));
  EXPECT_TRUE(builder_has_build_args("apptainer version 1.2.0"));
  EXPECT_TRUE(builder_has_build_args("apptainer version 1.3.4-standin"));
  EXPECT_TRUE(builder_has_build_args("apptainer version 2.0.0"));
  EXPECT_FALSE(builder_has_build_args("singularity-ce version 3.11.4"));
  EXPECT_TRUE(builder_has_build_args("singularity-ce version 4.1.0"));
  EXPECT_FALSE(builder_has_build_args("singularity version 3.8.7"));
  // Unknown: the builder speaks for itself.
  EXPECT_TRUE(builder_has_build_args("unknown"));
  EXPECT_TRUE(builder_has_build_args("mybuilder 0.1"));
}

}  // namespace
}  // namespace sifstore
