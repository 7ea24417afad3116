#include "core/stamp.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/names.h"
#include "core/store.h"
#include "support/store_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::TempDir;

// 2026-11-25 14:30:00 UTC
constexpr std::time_t kNoon = 1795617000;

Clock fixed(std::time_t t) {
  return [t] { return t; };
}

TEST(FormatTs, UtcAndCalendarCarry) {
  EXPECT_EQ(format_ts(kNoon, TimeBase::kUtc), "2026-1125-143000");
  EXPECT_EQ(ts_plus_one_second("2026-1125-143000"), "2026-1125-143001");
  EXPECT_EQ(ts_plus_one_second("2026-1231-235959"), "2027-0101-000000");
  EXPECT_EQ(ts_plus_one_second("2028-0228-235959"), "2028-0229-000000");
}

TEST(TimeBaseRecord, NewStoreIsUtc) {
  TempDir t;
  auto root = Dir::open(t.path());
  EXPECT_EQ(store_time_base(root), TimeBase::kUtc);
  EXPECT_EQ(test::read_file(t / kTimeBaseFile), "utc\n");
}

// Two builds starting together in a new store: one records the time base,
// the other must never read the record before it is whole (e2e.parallel saw
// "malformed" when the file was created empty and written after).
TEST(TimeBaseRecord, ConcurrentFirstUsesAgree) {
  TempDir t;
  for (int round = 0; round < 200; ++round) {
    std::string dir = t / ("store" + std::to_string(round));
    test::write_file(dir + "/.placeholder", "");
    auto root = Dir::open(dir);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&] {
        try {
          if (store_time_base(root) != TimeBase::kUtc) ++failures;
        } catch (const Error&) {
          ++failures;
        }
      });
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0) << "round " << round;
    EXPECT_EQ(test::read_file(dir + "/" + kTimeBaseFile), "utc\n");
  }
}

TEST(TimeBaseRecord, ReferenceStoreKeepsLocalTime) {
  TempDir t;
  test::make_build(t.path(), "base", "2026-0101-000001");
  auto root = Dir::open(t.path());
  EXPECT_EQ(store_time_base(root), TimeBase::kLocal);
  EXPECT_EQ(test::read_file(t / kTimeBaseFile), "local\n");
  test::write_file(t / kTimeBaseFile, "martian\n");
  EXPECT_THROW(store_time_base(root), Error);
}

TEST(Reserve, UsesTheClockWhenAhead) {
  TempDir t;
  auto store = Store::open(t.path());
  EXPECT_EQ(store.reserve("base", fixed(kNoon)), "2026-1125-143000");
  EXPECT_TRUE(test::exists(t / "base/.base-2026-1125-143000.reserved"));
}

TEST(Reserve, SameSecondMovesForward) {
  TempDir t;
  auto store = Store::open(t.path());
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) got.push_back(store.reserve("base", fixed(kNoon)));
  EXPECT_EQ(got,
            (std::vector<std::string>{"2026-1125-143000", "2026-1125-143001", "2026-1125-143002",
                                      "2026-1125-143003", "2026-1125-143004"}));
}

// 30 `stamp LAYER` calls in one second hold 30 <ts> for a day, but run
// ahead of the clock only until it passes them: the next <ts> is the
// clock's time again 30 seconds later, not a day later.
TEST(Reserve, StampsRunAheadOnlyUntilTheClockPassesThem) {
  TempDir t;
  auto store = Store::open(t.path());
  for (int i = 0; i < 30; ++i) store.reserve("base", fixed(kNoon), ReservationHolder::kCaller);
  EXPECT_EQ(store.reserve("base", fixed(kNoon + 1)), "2026-1125-143030");
  EXPECT_EQ(store.reserve("base", fixed(kNoon + 40)), "2026-1125-143040");
}

TEST(Reserve, ClockSteppedBackStaysNewer) {
  TempDir t;
  test::make_build(t.path(), "base", "2026-1125-150000");  // a build "in the future"
  Dir(Dir::open(t.path())).write_file_atomic(kTimeBaseFile, "utc\n");
  auto store = Store::open(t.path());
  EXPECT_EQ(store.reserve("base", fixed(kNoon)), "2026-1125-150001");
}

TEST(Reserve, RepeatedLocalHourStaysNewer) {
  // A reference store stamps local time; when the clock falls back an hour
  // the wall clock repeats, and the next stamp must still sort last.
  TempDir t;
  test::make_build(t.path(), "base", "2026-1025-023000");
  Dir(Dir::open(t.path())).write_file_atomic(kTimeBaseFile, "local\n");
  auto store = Store::open(t.path());
  std::string ts = store.reserve("base", fixed(kNoon - 400 * 86400));  // far in the past
  EXPECT_EQ(ts, "2026-1025-023001");
}

TEST(Reserve, OnlyTheLayersOwnBuildsCount) {
  TempDir t;
  test::make_build(t.path(), "base-dev", "2030-0101-000000");
  Dir(Dir::open(t.path())).write_file_atomic(kTimeBaseFile, "utc\n");
  EXPECT_EQ(Store::open(t.path()).reserve("base", fixed(kNoon)), "2026-1125-143000");
}

TEST(Reserve, ConcurrentThreadsNeverShareATs) {
  TempDir t;
  auto store = Store::open(t.path());
  std::vector<std::string> got(64);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto s = Store::open(t.path());
      for (int j = 0; j < 8; ++j) got[i * 8 + j] = s.reserve("base", fixed(kNoon));
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> unique(got.begin(), got.end());
  EXPECT_EQ(unique.size(), got.size());
  EXPECT_EQ(*unique.begin(), "2026-1125-143000");
}

// Liveness of a reservation by what its file says of its holder.
TEST(Reserve, LivenessFollowsHostPidAndPidNamespace) {
  TempDir t;
  auto dir = Dir::open(t.path());
  char host[256] = {0};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  struct stat ns;
  ASSERT_EQ(::stat("/proc/self/ns/pid", &ns), 0);
  std::string here = std::string("host=") + host;
  std::string mine = " pidns=" + std::to_string(ns.st_ino);
  // A pid that is surely not running: a child that has been reaped.
  pid_t child = ::fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  std::string live_pid = " pid=" + std::to_string(::getpid());
  std::string dead_pid = " pid=" + std::to_string(child);
  auto live = [&](const std::string& text, time_t age = 0) {
    test::write_file(t / ".r", text + "\n");
    struct timespec times[2] = {{::time(nullptr) - age, 0}, {::time(nullptr) - age, 0}};
    EXPECT_EQ(::utimensat(AT_FDCWD, (t / ".r").c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
    return reservation_is_live(dir, ".r");
  };
  const time_t kDay = 24 * 3600;
  EXPECT_TRUE(live(here + live_pid + mine));
  EXPECT_FALSE(live(here + dead_pid + mine));
  EXPECT_FALSE(live(here + dead_pid));  // written before pidns was recorded
  // Another PID namespace (a build in a container): its pid says nothing
  // here, so it counts as live until it is a week old.
  EXPECT_TRUE(live(here + dead_pid + " pidns=1"));
  EXPECT_FALSE(live(here + dead_pid + " pidns=1", 8 * kDay));
  // Another host, the same.
  EXPECT_TRUE(live("host=elsewhere" + dead_pid + mine, 6 * kDay));
  EXPECT_FALSE(live("host=elsewhere" + dead_pid + mine, 8 * kDay));
  // The caller of `stamp LAYER`: a day.
  EXPECT_TRUE(live(here + " holder=caller"));
  EXPECT_FALSE(live(here + " holder=caller", 2 * kDay));
  // A reservation this process makes is live, and records its namespace.
  Store store = Store::open(t.path());
  std::string ts = store.reserve("base");
  std::string text = test::read_file(t / ("base/" + reservation_name("base", ts)));
  EXPECT_NE(text.find(mine), std::string::npos) << text;
  EXPECT_TRUE(reservation_is_live(*store.layer_dir("base"), reservation_name("base", ts)));
}

TEST(Reserve, ReleaseRemovesTheReservation) {
  TempDir t;
  auto store = Store::open(t.path());
  std::string ts = store.reserve("base", fixed(kNoon));
  release_reservation(*store.layer_dir("base"), "base", ts);
  EXPECT_FALSE(test::exists(t / ("base/" + reservation_name("base", ts))));
  // A released, never-published ts may be handed out again.
  EXPECT_EQ(store.reserve("base", fixed(kNoon)), ts);
}

}  // namespace
}  // namespace sifstore
