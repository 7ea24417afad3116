// core/text.h: the shared text toolkit.
#include "core/text.h"

#include <gtest/gtest.h>

namespace sifstore {
namespace {

using Lines = std::vector<std::string_view>;
using Pieces = std::vector<std::string>;

TEST(Text, StartsAndEndsWith) {
  EXPECT_TRUE(starts_with("abc", "ab"));
  EXPECT_TRUE(starts_with("abc", ""));
  EXPECT_FALSE(starts_with("ab", "abc"));
  EXPECT_FALSE(starts_with("xabc", "ab"));
  EXPECT_TRUE(ends_with("abc", "bc"));
  EXPECT_TRUE(ends_with("abc", ""));
  EXPECT_FALSE(ends_with("bc", "abc"));
  EXPECT_FALSE(ends_with("abcx", "bc"));
}

TEST(Text, AsciiSpaceIsCIsspace) {
  for (int c = 0; c < 256; ++c)
    EXPECT_EQ(is_ascii_space(static_cast<char>(c)), c == ' ' || (c >= '\t' && c <= '\r')) << c;
}

TEST(Text, TrimDefaultsToAsciiSpace) {
  EXPECT_EQ(trim(" \t\r\n\v\fa b\f\v\n\r\t "), "a b");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_EQ(trim("\xc2\xa0x\xc2\xa0"), "\xc2\xa0x\xc2\xa0");  // bytes only: U+00A0 is kept
}

TEST(Text, TrimGivenCharacters) {
  EXPECT_EQ(trim(" \tvalue\r\n", " \t\r"), "value\r\n");
  EXPECT_EQ(trim("\"\"quoted\"", "\""), "quoted");
  EXPECT_EQ(trim("aaa", "a"), "");
}

TEST(Text, ToLowerTouchesAsciiLettersOnly) {
  EXPECT_EQ(to_lower("Foo_BAR-9.Z"), "foo_bar-9.z");
  EXPECT_EQ(to_lower("\xc3\x84"), "\xc3\x84");  // "Ä" stays
  EXPECT_EQ(to_lower(""), "");
}

TEST(Text, LinesOfEndsAtLfCrLfAndCr) {
  EXPECT_EQ(lines_of(""), Lines{});
  EXPECT_EQ(lines_of("a"), Lines{"a"});
  EXPECT_EQ(lines_of("a\n"), Lines{"a"});
  EXPECT_EQ(lines_of("a\nb"), (Lines{"a", "b"}));
  EXPECT_EQ(lines_of("a\r\nb\rc\n"), (Lines{"a", "b", "c"}));
  EXPECT_EQ(lines_of("a\n\nb"), (Lines{"a", "", "b"}));
  EXPECT_EQ(lines_of("a\n\r\n"), (Lines{"a", ""}));
  EXPECT_EQ(lines_of("a\r\r\n"), (Lines{"a", ""}));
  EXPECT_EQ(lines_of("\n"), Lines{""});
}

TEST(Text, SplitKeepsEmptyPieces) {
  EXPECT_EQ(split("", ':'), Pieces{""});
  EXPECT_EQ(split("a", ':'), Pieces{"a"});
  EXPECT_EQ(split("a::b", ':'), (Pieces{"a", "", "b"}));
  EXPECT_EQ(split(":a:", ':'), (Pieces{"", "a", ""}));
  EXPECT_EQ(split("x\ny\n", '\n'), (Pieces{"x", "y", ""}));
}

TEST(Text, JoinIsTheInverseOfSplit) {
  EXPECT_EQ(join({}, "\n"), "");
  EXPECT_EQ(join({"a"}, ", "), "a");
  EXPECT_EQ(join({"a", "", "b"}, "::"), "a::::b");
  for (std::string s : {"", "x", "x\n", "\nx\n\ny", "\n\n"})
    EXPECT_EQ(join(split(s, '\n'), "\n"), s);
}

TEST(Text, KeyedRecordValuesReadOnlyTheExactShape) {
  using Values = std::vector<std::string_view>;
  auto v = keyed_record_values("rec 1\na x\nbb \n", "rec 1", {"a", "bb"});
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (Values{"x", ""}));
  // Anything else is absent: another header, a missing or extra line, keys
  // out of order, a key without its blank, no final line end.
  for (std::string_view bad :
       {"rec 2\na x\nbb y\n", "rec 1\na x\n", "rec 1\na x\nbb y\nc z\n", "rec 1\nbb y\na x\n",
        "rec 1\nax\nbb y\n", "rec 1\na x\nbb", "rec 1\na x\nbb y", "", "rec 1\n"})
    EXPECT_FALSE(keyed_record_values(bad, "rec 1", {"a", "bb"})) << bad;
}

}  // namespace
}  // namespace sifstore
