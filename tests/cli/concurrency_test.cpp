// Many `sifstore` processes at once on one layer of one store
// (docs/DESIGN.md#quality-bars: concurrent builds, prunes and pointer moves
// lose nothing).
//
// Eight workers loop for a bounded time, each doing what a build does:
// `stamp base` (reserves `.base-<ts>.reserved`), write the build's lock and
// def, then its image last (renamed into place), drop the reservation, then
// `point-latest base <ts>` and `prune base --retain 3 --json`. Every seventh
// build is protected (its `.keep` is written before the image). A sampler
// meanwhile reads the pointer and scans the layer directory. Checked:
//
//  - no two builds got the same <ts>; a stamp that began after another one
//    ended is newer;
//  - the pointer always names an existing build;
//  - every visible image has its lock and def;
//  - no prune removed a protected build, or a build with fewer than 3
//    unprotected builds newer than it in that prune's own view; each prune
//    saw every build published before it began and not pruned by another;
//  - at the end the store holds exactly the builds published and not
//    pruned, the pointer names one of them, and no reservation or temporary
//    file is left.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 8;
constexpr int kRetain = 3;
constexpr int kMaxIterations = 120;  // per worker
constexpr auto kTimeBudget = std::chrono::seconds(8);
const std::string kLayer = "base";

struct Stamp {
  std::string ts;
  Clock::time_point begin, end;
};

struct Prune {
  std::vector<std::string> pruned, kept;
  Clock::time_point begin, end;
};

struct Published {
  std::string ts;
  Clock::time_point at;  // the image is visible from here on
  bool keep = false;
};

// Everything the workers and the sampler record; guarded by `mu`.
struct Log {
  std::mutex mu;
  std::vector<Stamp> stamps;
  std::vector<Prune> prunes;
  std::vector<Published> published;
  std::vector<std::string> errors;
  int points_ok = 0, points_gone = 0;
  void error(const std::string& e) {
    std::lock_guard<std::mutex> g(mu);
    if (errors.size() < 20) errors.push_back(e);
  }
};

bool lexists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string readlink_or_empty(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

std::string build_file(const std::string& root, const std::string& ts, const char* suffix) {
  return root + "/" + kLayer + "/" + kLayer + "-" + ts + suffix;
}

void worker(const std::string& root, int id, Clock::time_point deadline, Log& log) {
  for (int i = 0; i < kMaxIterations && Clock::now() < deadline; ++i) {
    Stamp s;
    s.begin = Clock::now();
    auto r = sifstore(root, {"stamp", kLayer});
    s.end = Clock::now();
    if (r.status != 0) return log.error("worker " + std::to_string(id) + ": stamp: " + r.err);
    s.ts = r.out.substr(0, r.out.find('\n'));
    std::string reservation = root + "/" + kLayer + "/." + kLayer + "-" + s.ts + ".reserved";
    if (!lexists(reservation)) log.error("stamp " + s.ts + " left no reservation " + reservation);
    {
      std::lock_guard<std::mutex> g(log.mu);
      log.stamps.push_back(s);
    }

    // Publish as the build chain does: companions first, the image last.
    Published p{s.ts, {}, (id + i) % 7 == 0};
    write_file(build_file(root, s.ts, ".lock"), "[pip]\nnumpy==1.26.4\n");
    write_file(build_file(root, s.ts, ".def"), "Bootstrap: docker\nFrom: debian:12\n");
    write_file(build_file(root, s.ts, ".build.log"), "log\n");
    if (p.keep) write_file(build_file(root, s.ts, ".keep"), "prune-protected\n");
    std::string part = root + "/" + kLayer + "/.part-" + s.ts;
    write_file(part, "SIF\n");
    if (::rename(part.c_str(), build_file(root, s.ts, ".sif").c_str()) != 0)
      return log.error("rename " + part + " failed");
    p.at = Clock::now();
    if (::unlink(reservation.c_str()) != 0) log.error("reservation vanished: " + reservation);
    {
      std::lock_guard<std::mutex> g(log.mu);
      log.published.push_back(p);
    }

    // Point at this build, as a build does after publishing (another
    // worker's prune may have removed it already: a clean failure then), and
    // now and then at an older build, most likely pruned by now.
    std::string target = s.ts;
    if (i % 3 == 2) {
      std::lock_guard<std::mutex> g(log.mu);
      target = log.published[log.published.size() / 2].ts;
    }
    r = sifstore(root, {"point-latest", kLayer, target});
    {
      std::lock_guard<std::mutex> g(log.mu);
      if (r.status == 0) {
        ++log.points_ok;
      } else if (r.status == 1 && r.err.find("not found") != std::string::npos) {
        ++log.points_gone;
      } else {
        log.errors.push_back("point-latest " + target + ": exit " + std::to_string(r.status) +
                             ": " + r.err);
      }
    }

    Prune pr;
    pr.begin = Clock::now();
    r = sifstore(root, {"prune", kLayer, "--retain", std::to_string(kRetain), "--json"});
    pr.end = Clock::now();
    if (r.status != 0) return log.error("prune: " + r.err);
    try {
      json j = json::parse(r.out);
      pr.pruned = j.at("pruned").get<std::vector<std::string>>();
      pr.kept = j.at("kept").get<std::vector<std::string>>();
    } catch (const std::exception& e) {
      return log.error(std::string("prune printed bad JSON: ") + e.what() + "\n" + r.out);
    }
    {
      std::lock_guard<std::mutex> g(log.mu);
      log.prunes.push_back(pr);
    }
  }
}

// Reads the pointer and scans the layer directory until told to stop.
void sampler(const std::string& root, const std::atomic<bool>& stop, Log& log, int& samples) {
  const std::string pointer = root + "/" + kLayer + ".sif";
  const std::string layer_dir = root + "/" + kLayer;
  while (!stop.load()) {
    ++samples;
    std::string target = readlink_or_empty(pointer);
    if (!target.empty()) {
      struct stat st;
      if (::stat((root + "/" + target).c_str(), &st) != 0) {
        // Moved and pruned between readlink and stat? Then the text changed.
        if (readlink_or_empty(pointer) == target)
          log.error("the pointer names a missing build: " + target);
      }
    }
    for (const auto& name : list_dir(layer_dir)) {
      const std::string prefix = kLayer + "-";
      if (name.size() != prefix.size() + 16 + 4 || name.rfind(prefix, 0) != 0 ||
          name.compare(name.size() - 4, 4, ".sif") != 0)
        continue;
      std::string ts = name.substr(prefix.size(), 16);
      for (const char* suffix : {".lock", ".def"}) {
        // Prune removes the image first: a missing companion is a defect
        // only while the image is still there.
        if (!lexists(build_file(root, ts, suffix)) && lexists(build_file(root, ts, ".sif")))
          log.error("visible image " + name + " without its " + suffix);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

TEST(Concurrency, ManyProcessesOnOneLayerLoseNothing) {
  TempDir t;
  const std::string root = t / "store";
  Log log;
  int samples = 0;
  std::atomic<bool> stop{false};
  // The store and the layer directory exist before the sampler needs them.
  ASSERT_EQ(sifstore(root, {"stamp", kLayer}).status, 0);
  std::thread sample_thread(sampler, root, std::cref(stop), std::ref(log), std::ref(samples));
  const auto deadline = Clock::now() + kTimeBudget;
  std::vector<std::thread> workers;
  for (int id = 0; id < kWorkers; ++id)
    workers.emplace_back(worker, root, id, deadline, std::ref(log));
  for (auto& w : workers) w.join();
  stop = true;
  sample_thread.join();
  const double ran_for =
      std::chrono::duration<double>(Clock::now() - (deadline - kTimeBudget)).count();

  for (const auto& e : log.errors) ADD_FAILURE() << e;
  ASSERT_TRUE(log.errors.empty());
  ASSERT_GE(log.published.size(), static_cast<size_t>(2 * kWorkers)) << "too little ran";

  // Unique <ts>; a stamp that began after another ended is newer.
  std::set<std::string> unique;
  for (const auto& s : log.stamps) EXPECT_TRUE(unique.insert(s.ts).second) << "twice: " << s.ts;
  std::vector<Stamp> by_end = log.stamps;
  std::sort(by_end.begin(), by_end.end(),
            [](const Stamp& a, const Stamp& b) { return a.end < b.end; });
  for (const auto& b : log.stamps) {
    for (const auto& a : by_end) {
      if (!(a.end < b.begin)) break;
      EXPECT_LT(a.ts, b.ts) << "stamped after " << a.ts << " ended, but not newer";
    }
  }

  // Prunes: never a protected build; each pruned build had kRetain
  // unprotected builds newer than it in that prune's view; every build
  // published before a prune began and not pruned by another prune that
  // began before this one ended is in its view.
  std::set<std::string> keep, pruned_once;
  std::map<std::string, size_t> pruned_by;  // ts -> the prune that removed it
  for (const auto& p : log.published)
    if (p.keep) keep.insert(p.ts);
  for (size_t i = 0; i < log.prunes.size(); ++i) {
    const Prune& pr = log.prunes[i];
    std::set<std::string> view(pr.kept.begin(), pr.kept.end());
    for (const auto& x : pr.pruned) {
      EXPECT_TRUE(pruned_once.insert(x).second) << x << " pruned twice";
      pruned_by[x] = i;
      EXPECT_FALSE(keep.count(x)) << "protected build " << x << " was pruned";
      EXPECT_FALSE(view.count(x)) << x << " both kept and pruned";
      // The active build does not count toward retain: at most one of the
      // newer kept builds is not counted.
      auto newer = std::count_if(pr.kept.begin(), pr.kept.end(),
                                 [&](const std::string& y) { return y > x && !keep.count(y); });
      EXPECT_GE(newer, kRetain) << x << " pruned with only " << newer << " newer builds kept";
    }
  }
  for (size_t i = 0; i < log.prunes.size(); ++i) {
    const Prune& pr = log.prunes[i];
    std::set<std::string> view(pr.kept.begin(), pr.kept.end());
    view.insert(pr.pruned.begin(), pr.pruned.end());
    for (const auto& p : log.published) {
      if (!(p.at < pr.begin) || view.count(p.ts)) continue;
      auto by = pruned_by.find(p.ts);
      bool pruned_by_other =
          by != pruned_by.end() && by->second != i && log.prunes[by->second].begin < pr.end;
      EXPECT_TRUE(pruned_by_other) << "prune did not see " << p.ts << ", published before it";
    }
  }

  // The end state: exactly the published builds that no prune removed.
  std::set<std::string> expect;
  for (const auto& p : log.published)
    if (!pruned_once.count(p.ts)) expect.insert(p.ts);
  auto r = sifstore(root, {"list", kLayer, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<std::string> listed;
  int active = 0;
  for (const auto& b : json::parse(r.out)) {
    listed.insert(b["ts"].get<std::string>());
    EXPECT_FALSE(b["lock"].is_null()) << b.dump();
    EXPECT_FALSE(b["def"].is_null()) << b.dump();
    active += b["active"].get<bool>();
  }
  EXPECT_EQ(listed, expect);
  EXPECT_EQ(active, 1);
  for (const auto& k : keep) EXPECT_TRUE(listed.count(k)) << "protected " << k << " is gone";
  for (const auto& x : pruned_once) {
    for (const char* suffix : {".sif", ".lock", ".def", ".keep", ".build.log"})
      EXPECT_FALSE(lexists(build_file(root, x, suffix))) << x << suffix << " outlived prune";
  }
  std::string target = readlink_or_empty(root + "/" + kLayer + ".sif");
  EXPECT_TRUE(lexists(root + "/" + target)) << target;
  for (const auto& dir : {root, root + "/" + kLayer}) {
    for (const auto& name : list_dir(dir)) {
      EXPECT_EQ(name.find(".tmp."), std::string::npos) << "temporary left: " << name;
      // Only the first, unused stamp keeps its reservation.
      if (name.find(".reserved") != std::string::npos) {
        EXPECT_FALSE(unique.count(name.substr(kLayer.size() + 2, 16))) << name;
      }
    }
  }
  // The newest kRetain unprotected builds survive a final prune.
  r = sifstore(root, {"prune", kLayer, "--retain", std::to_string(kRetain), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> unprotected;
  for (const auto& ts : expect)
    if (!keep.count(ts)) unprotected.push_back(ts);
  std::sort(unprotected.rbegin(), unprotected.rend());
  for (size_t i = 0; i < unprotected.size() && i < static_cast<size_t>(kRetain); ++i)
    EXPECT_TRUE(lexists(build_file(root, unprotected[i], ".sif"))) << unprotected[i];

  std::printf(
      "[ concurrency ] %zu stamps, %zu builds published, %zu prunes removed %zu builds, "
      "%d pointer moves (%d to a build pruned meanwhile), %d samples in %.1f s\n",
      log.stamps.size(), log.published.size(), log.prunes.size(), pruned_once.size(), log.points_ok,
      log.points_gone, samples, ran_for);
}

}  // namespace
}  // namespace sifstore::test
