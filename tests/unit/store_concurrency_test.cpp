// In-process concurrency of the store: threads of one process publishing,
// pointing, rolling back, marking, protecting and pruning builds of one layer
// while others list it. Each thread opens its own Store (its own directory
// handles), as separate commands would; the layer lock (an OFD lock) excludes
// threads as it excludes processes. The `tsan` preset runs them (with the
// rest of the unit tests) under ThreadSanitizer.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/layer_lock.h"
#include "core/names.h"
#include "core/stamp.h"
#include "core/store.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::TempDir;

constexpr std::time_t kNoon = 1795617000;  // 2026-11-25 14:30:00 UTC
const char* kLayer = "base";

Clock fixed_clock() {
  return [] { return kNoon; };
}

std::string image_content(const std::string& ts) { return "image of base-" + ts + "\n"; }

// What the build chain does to publish, without a builder: reserve a <ts>,
// write the artifacts under the layer lock, release the reservation.
std::string publish(const Store& store) {
  std::string ts = store.reserve(kLayer, fixed_clock());
  Dir dir = *store.layer_dir(kLayer);
  {
    LayerLock lock(dir);
    dir.write_file_atomic(artifact_name(kLayer, ts, Artifact::kLock), "");
    dir.write_file_atomic(artifact_name(kLayer, ts, Artifact::kSif), image_content(ts));
    release_reservation(dir, kLayer, ts);
  }
  return ts;
}

// An Error that a racing thread may legitimately get: the build it named was
// pruned meanwhile, or there is nothing to roll back to.
bool expected_race(const Error& e) {
  std::string m = e.what();
  return m.find("build not found") != std::string::npos ||
         m.find("has no build older") != std::string::npos;
}

// Invariants that hold whenever the layer lock is held: the pointer names a
// build whose image is a regular file with its full content, and no build
// carries both markers.
void check_under_lock(const Store& store, std::atomic<int>& failures) {
  Dir dir = *store.layer_dir(kLayer);
  LayerLock lock(dir);
  if (auto active = store.active_ts(kLayer)) {
    auto content = dir.read_file(artifact_name(kLayer, *active, Artifact::kSif));
    if (!content || *content != image_content(*active)) {
      ADD_FAILURE() << "pointer names " << *active << " whose image is missing or partial";
      ++failures;
    }
  }
  for (const auto& b : store.list(kLayer)) {
    if (dir.exists(artifact_name(kLayer, b.ts, Artifact::kVerified)) &&
        dir.exists(artifact_name(kLayer, b.ts, Artifact::kUnverified))) {
      ADD_FAILURE() << b.ts << " is both verified and unverified";
      ++failures;
    }
  }
}

// Invariants of a lock-free listing: newest first, no <ts> twice, at most one
// active build.
void check_listing(const std::vector<Build>& builds, std::atomic<int>& failures) {
  int active = 0;
  for (size_t i = 0; i < builds.size(); ++i) {
    if (builds[i].active) ++active;
    if (!is_valid_ts(builds[i].ts) || (i > 0 && !(builds[i].ts < builds[i - 1].ts))) {
      ADD_FAILURE() << "listing out of order at " << builds[i].ts;
      ++failures;
    }
  }
  if (active > 1) {
    ADD_FAILURE() << active << " active builds in one listing";
    ++failures;
  }
}

TEST(StoreConcurrency, ThreadsMutatingOneLayerKeepItsInvariants) {
  TempDir t;
  auto store = Store::open_or_create(t.path());
  std::vector<std::string> published;
  std::mutex mu;
  std::set<std::string> protected_ts;
  for (int i = 0; i < 3; ++i) published.push_back(publish(store));
  store.point_latest(kLayer, published.back());

  std::atomic<int> publishers_left{2};
  std::atomic<int> failures{0};
  std::atomic<int> operations{0};
  std::vector<std::thread> threads;

  auto some_build = [&](std::mt19937& rng) -> std::optional<std::string> {
    auto builds = Store::open(t.path()).list(kLayer);
    if (builds.empty()) return std::nullopt;
    return builds[std::uniform_int_distribution<size_t>(0, builds.size() - 1)(rng)].ts;
  };
  // Runs op, counting it; an Error other than an expected race is a failure.
  auto attempt = [&](const char* what, const std::function<void()>& op) {
    try {
      op();
      ++operations;
    } catch (const Error& e) {
      if (!expected_race(e)) {
        ADD_FAILURE() << what << ": " << e.what();
        ++failures;
      }
    }
  };

  for (int p = 0; p < 2; ++p) {
    threads.emplace_back([&] {
      auto s = Store::open(t.path());
      for (int i = 0; i < 12; ++i) {
        std::string ts = publish(s);
        {
          std::lock_guard<std::mutex> g(mu);
          published.push_back(ts);
        }
        attempt("point-latest", [&] { s.point_latest(kLayer, ts); });
      }
      --publishers_left;
    });
  }
  threads.emplace_back([&] {  // pointer: point-latest and rollback at random
    auto s = Store::open(t.path());
    std::mt19937 rng(1);
    while (publishers_left > 0) {
      if (auto ts = some_build(rng)) attempt("point-latest", [&] { s.point_latest(kLayer, *ts); });
      attempt("rollback", [&] { s.rollback(kLayer, std::nullopt); });
    }
  });
  threads.emplace_back([&] {  // markers and protection
    auto s = Store::open(t.path());
    std::mt19937 rng(2);
    for (int i = 0; publishers_left > 0; ++i) {
      auto ts = some_build(rng);
      if (!ts) continue;
      switch (i % 3) {
        case 0:
          attempt("mark-verified", [&] { s.mark_verified(kLayer, *ts); });
          break;
        case 1:
          attempt("mark-unverified", [&] { s.mark_unverified(kLayer, *ts, "drift"); });
          break;
        default:
          if (i % 9 == 2) {
            attempt("protect", [&] {
              s.protect(kLayer, *ts);
              std::lock_guard<std::mutex> g(mu);
              protected_ts.insert(*ts);
            });
          }
      }
    }
  });
  threads.emplace_back([&] {  // prune
    auto s = Store::open(t.path());
    while (publishers_left > 0) attempt("prune", [&] { s.prune(kLayer, 2); });
  });
  for (int l = 0; l < 2; ++l) {
    threads.emplace_back([&] {  // listers
      auto s = Store::open(t.path());
      while (publishers_left > 0) {
        try {
          check_listing(s.list(kLayer), failures);
          if (s.layers().size() != 1) {
            ADD_FAILURE() << "layers() does not show exactly one layer";
            ++failures;
          }
          check_under_lock(s, failures);
        } catch (const Error& e) {
          ADD_FAILURE() << "lister: " << e.what();
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(operations.load(), 24);
  RecordProperty("operations", operations.load());
  RecordProperty("published", static_cast<int>(published.size()));

  // Every reservation handed out a distinct <ts>, and none is left.
  std::set<std::string> unique(published.begin(), published.end());
  EXPECT_EQ(unique.size(), published.size());
  Dir dir = *store.layer_dir(kLayer);
  for (const auto& e : dir.scan()) {
    EXPECT_EQ(e.name.find(".reserved"), std::string::npos) << e.name;
    EXPECT_EQ(e.name.find(".tmp."), std::string::npos) << e.name;
  }
  // Nothing protected was pruned, and every image left is whole.
  for (const auto& ts : protected_ts) {
    EXPECT_EQ(dir.read_file(artifact_name(kLayer, ts, Artifact::kSif)), image_content(ts)) << ts;
    EXPECT_TRUE(dir.exists(artifact_name(kLayer, ts, Artifact::kLock))) << ts;
  }
  auto builds = store.list(kLayer);
  for (const auto& b : builds)
    EXPECT_EQ(dir.read_file(artifact_name(kLayer, b.ts, Artifact::kSif)), image_content(b.ts));
  check_under_lock(store, failures);
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(store.active_ts(kLayer).has_value());

  // One more prune leaves exactly the active, the protected and the 2 newest
  // others.
  store.prune(kLayer, 2);
  std::set<std::string> expect(protected_ts.begin(), protected_ts.end());
  expect.insert(*store.active_ts(kLayer));
  int others = 0;
  for (const auto& b : store.list(kLayer))
    if (!expect.count(b.ts) && others < 2) {
      expect.insert(b.ts);
      ++others;
    }
  std::set<std::string> left;
  for (const auto& b : store.list(kLayer)) left.insert(b.ts);
  EXPECT_EQ(left, expect);
}

TEST(StoreConcurrency, RacingMarkersLeaveExactlyOneWholeMarker) {
  TempDir t;
  auto store = Store::open_or_create(t.path());
  std::string ts = publish(store);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto s = Store::open(t.path());
      for (int j = 0; j < 25; ++j) {
        if ((i + j) % 2)
          s.mark_verified(kLayer, ts);
        else
          s.mark_unverified(kLayer, ts, "reason " + std::to_string(i));
      }
    });
  }
  for (auto& th : threads) th.join();
  Dir dir = *store.layer_dir(kLayer);
  auto verified = dir.read_file(artifact_name(kLayer, ts, Artifact::kVerified));
  auto unverified = dir.read_file(artifact_name(kLayer, ts, Artifact::kUnverified));
  EXPECT_NE(verified.has_value(), unverified.has_value());
  if (verified) {
    EXPECT_EQ(verified->rfind("round-trip verified at ", 0), 0u) << *verified;
  }
  if (unverified) {
    EXPECT_EQ(unverified->rfind("reproducibility unverified at ", 0), 0u) << *unverified;
    EXPECT_NE(unverified->find("\nreason "), std::string::npos) << *unverified;
  }
  for (const auto& e : dir.scan()) EXPECT_EQ(e.name.find(".tmp."), std::string::npos) << e.name;
}

}  // namespace
}  // namespace sifstore
