#include "core/config.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

TEST(Config, DefaultsWhenAbsentOrEmpty) {
  test::TempDir t;
  Config c = load_config(Dir::open(t.path()));
  EXPECT_EQ(c.retain, 10);
  EXPECT_FALSE(c.require_verified);
  c = parse_config("", "x");
  EXPECT_EQ(c.retain, 10);
  c = parse_config("other: 1\n", "x");
  EXPECT_EQ(c.retain, 10);
}

TEST(Config, ReadsImagesKeys) {
  test::TempDir t;
  test::write_file(t / "config.yaml", "images:\n  retain: 3\n  require_verified: true\n");
  Config c = load_config(Dir::open(t.path()));
  EXPECT_EQ(c.retain, 3);
  EXPECT_TRUE(c.require_verified);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(Config, BuildReuse) {
  EXPECT_TRUE(parse_config("", "x").reuse);
  EXPECT_TRUE(parse_config("images:\n  retain: 3\n", "x").reuse);
  EXPECT_FALSE(parse_config("build:\n  reuse: false\n", "x").reuse);
  EXPECT_TRUE(parse_config("build:\n  reuse: yes\n", "x").reuse);
  EXPECT_FALSE(parse_config("build: {reuse: false}\nimages:\n  retain: 2\n", "x").reuse);
  try {
    parse_config("images:\n  retain: 2\nbuild:\n  reuse: maybe\n", "c.yaml");
    ADD_FAILURE() << "reuse: maybe accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "c.yaml:4: build.reuse must be true or false, not 'maybe'");
  }
  EXPECT_THROW(parse_config("build:\n  reuse: [1]\n", "c.yaml"), Error);
  EXPECT_THROW(parse_config("build: 3\n", "c.yaml"), Error);
}

TEST(Config, InvalidRetainFallsBackWithWarning) {
  for (const char* bad : {"0", "-2", "ten", "1.5", "[1]"}) {
    Config c = parse_config(std::string("images:\n  retain: ") + bad + "\n", "cfg");
    EXPECT_EQ(c.retain, 10) << bad;
    ASSERT_EQ(c.warnings.size(), 1u) << bad;
    EXPECT_NE(c.warnings[0].find("retain"), std::string::npos);
  }
}

// SPEC §6: retain 0 in config.yaml is taken for a mistake, as the reference
// tool takes it; the warning says how to ask for it on purpose.
TEST(Config, RetainZeroSaysHowToAskForItExplicitly) {
  Config c = parse_config("images:\n  retain: 0\n", "cfg");
  EXPECT_EQ(c.retain, 10);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("pass --retain 0 or RETAIN 0"), std::string::npos) << c.warnings[0];
}

TEST(Config, MalformedIsAnErrorNamingTheFile) {
  try {
    parse_config("images: [unclosed\n", "/s/config.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/s/config.yaml"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_config("- a\n- b\n", "c"), Error);
  EXPECT_THROW(parse_config("images: 3\n", "c"), Error);
  EXPECT_THROW(parse_config("images:\n  require_verified: maybe\n", "c"), Error);
}

TEST(Config, ReadsStoreShared) {
  EXPECT_EQ(parse_config("", "x").shared, SharedMode::kUmask);
  EXPECT_EQ(parse_config("store:\n  shared: group\n", "x").shared, SharedMode::kGroup);
  EXPECT_EQ(parse_config("store:\n  shared: all\n", "x").shared, SharedMode::kAll);
  EXPECT_EQ(parse_config("store:\n  shared: umask\n", "x").shared, SharedMode::kUmask);
  // Beside images, which still reads.
  Config c = parse_config("images:\n  retain: 4\nstore:\n  shared: group\n", "x");
  EXPECT_EQ(c.retain, 4);
  EXPECT_EQ(c.shared, SharedMode::kGroup);
}

// A permission policy is not guessed: any other value is an error naming
// the file, the line, the value and the three words.
TEST(Config, BadStoreSharedIsAnError) {
  for (const char* bad : {"true", "world", "0660", "Group", "[group]", "{a: b}"}) {
    try {
      parse_config(std::string("images:\n  retain: 3\nstore:\n  shared: ") + bad + "\n",
                   "/s/config.yaml");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_EQ(m.rfind("/s/config.yaml:4: invalid store.shared", 0), 0u) << m;
      EXPECT_NE(m.find("group"), std::string::npos) << m;
      EXPECT_NE(m.find("umask"), std::string::npos) << m;
    }
  }
  EXPECT_THROW(parse_config("store: group\n", "c"), Error);
}

}  // namespace
}  // namespace sifstore
