#include "core/holds.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/names.h"

namespace sifstore {
namespace {

TEST(HoldNames, RoundTrip) {
  EXPECT_EQ(hold_name("base", "2026-0101-000001", "123_4"), ".base-2026-0101-000001.hold.123_4");
  auto p = parse_hold_name("base", ".base-2026-0101-000001.hold.123+1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->ts, "2026-0101-000001");
  EXPECT_EQ(p->id, "123+1");
  for (const char* bad : {".base-2026-0101-000001.hold.", ".base-2026-0101-000001.hold.a.b",
                          ".base-2026-0101-000001.hold.x/y", ".base-2026-0101-00000x.hold.1",
                          "base-2026-0101-000001.hold.1", ".base-2026-0101-000001.held.1",
                          ".base2-2026-0101-000001.hold.1"})
    EXPECT_FALSE(parse_hold_name("base", bad)) << bad;
  EXPECT_FALSE(is_valid_hold_id(std::string(65, '1')));
  EXPECT_FALSE(is_valid_hold_id(".tmp."));
}

TEST(HoldFile, RoundTripAndStrictParse) {
  Hold h;
  h.job = "42";
  h.until = 1700000000;
  h.host = "node1";
  h.created = 1690000000;
  std::string text = format_hold(h);
  EXPECT_EQ(text, "sifstore hold 1\njob 42\nuntil 1700000000\nhost node1\ncreated 1690000000\n");
  auto back = parse_hold(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->job, "42");
  EXPECT_EQ(back->until, 1700000000);
  EXPECT_EQ(back->created, 1690000000);
  EXPECT_EQ(back->host, "node1");
  for (const std::string& bad :
       {std::string(), text + "x\n", text.substr(0, text.size() - 1),
        std::string("sifstore hold 2\njob \nuntil 1\nhost h\ncreated 1\n"),
        std::string("sifstore hold 1\njob a/b\nuntil 1\nhost h\ncreated 1\n"),
        std::string("sifstore hold 1\njob \nuntil -1\nhost h\ncreated 1\n")})
    EXPECT_FALSE(parse_hold(bad)) << bad;
}

TEST(HoldUntil, Forms) {
  const int64_t now = 1000000;
  EXPECT_EQ(parse_hold_until("90s", now), now + 90);
  EXPECT_EQ(parse_hold_until("30m", now), now + 1800);
  EXPECT_EQ(parse_hold_until("12h", now), now + 12 * 3600);
  EXPECT_EQ(parse_hold_until("2d", now), now + 2 * 86400);
  EXPECT_EQ(parse_hold_until("@1700000000", now), 1700000000);
  EXPECT_GT(parse_hold_until("2030-01-02T03:04", now), 1890000000);
  EXPECT_EQ(parse_hold_until("2030-01-02", now) + 3 * 3600 + 4 * 60,
            parse_hold_until("2030-01-02T03:04:00", now));
  for (const char* bad :
       {"", "h", "12x", "-5m", "@", "@x", "tomorrow", "2030-13-01", "2030-01-02T"})
    EXPECT_THROW(parse_hold_until(bad, now), Error) << bad;
}

TEST(HoldJudge, TimeRuleWithoutAJob) {
  HoldJudge judge(1000);
  Hold h;
  h.until = 1001;
  EXPECT_EQ(judge.judge(h).state, HoldState::kLive);
  h.until = 1000;
  EXPECT_EQ(judge.judge(h).state, HoldState::kDead);
}

}  // namespace
}  // namespace sifstore
