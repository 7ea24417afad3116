// One store shared by many hosts (a cluster's NFS store), simulated on one
// machine: every `sifstore` process of a simulated host runs in its own UTS
// namespace whose hostname is that host's (`unshare -u`, as root; else
// `unshare -r -u` in a user namespace; else the tests are skipped, saying
// why). Processes of different hosts then see each other's reservations as
// those of another host, exactly as on a cluster; they still share the
// kernel, so the per-layer OFD lock is the same lock NFS would forward to
// its server.
//
// ManyHostsBuildPruneAndPointOneLayer: for a bounded time, eight builders
// (host1..host8) run real `sifstore build` with the stand-in builder (each
// build sleeps a random 0-1.5 s inside the builder, so builds overlap one
// another and the prunes; every fourth build of host8 fails), two pruners
// (host9, host10) run `prune --retain 3`, a pointer (host11) runs
// `point-latest` on a listed build or `rollback`, and a protector (host12)
// runs `protect` and now and then `unprotect`. A sampler reads the pointer
// and scans the layer meanwhile. Checked:
//
//  - every build exits 0, every injected failure exits 1: no build was
//    disturbed by another host (its reservation, partial image and log are
//    live to the others);
//  - every published <ts> is unique across all hosts;
//  - the pointer never names a missing build; a visible image never lacks
//    its lock or locked def (prune removes the image first);
//  - each prune removed only published builds, none twice, never one
//    protected (protect succeeded, unprotect not yet begun) before that
//    prune began, and (pruners' own reports) only with at least 3 newer
//    builds kept in the same prune;
//  - at the end the layer holds exactly the published builds no prune
//    reported, every still-protected build among them, the 3 newest builds
//    of the whole run, the pointer on one of them; a last dry-run prune
//    finds nothing (retain was honoured by the concurrent prunes, the last
//    of which ran after every change); no reservation, partial or temporary
//    file is left; fsck's only findings are the build logs of the failed
//    builds (kept on purpose), and after `fsck --repair` fsck exits 0.
//
// KilledBuildIsLiveElsewhereAndDebrisAtHome: a build on hostA killed with
// SIGKILL leaves its reservation (`host=hostA pid=N`) and partial image;
// a build and `fsck --repair` on hostB leave them alone (the owner may be
// running there: only its own host can tell), `fsck --repair` on hostA
// clears them (its pid is dead there).
//
// MarkersWaitingForTheLockRecheckTheBuild: protect, mark-verified and
// mark-unverified that had to wait for the layer lock (held by another
// host's prune) find the build gone when they get it, and fail instead of
// leaving an orphan marker.
//
// LeftoverTemporaryOfTheSamePid: a process killed between writing a
// temporary (".<name>.tmp.<pid>.<n>") and renaming it leaves it behind; a
// process with the same pid on another host (or in another container: here
// pid 1 of a fresh PID namespace) writes the same names and must not fail
// on them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kLayer = "base";
constexpr int kBuilders = 8;
constexpr int kRetain = 3;
// $SIFSTORE_MULTIHOST_SECONDS runs it longer (a soak test).
std::chrono::seconds duration() {
  const char* s = std::getenv("SIFSTORE_MULTIHOST_SECONDS");
  return std::chrono::seconds(s && std::atoi(s) > 5 ? std::atoi(s) : 24);
}
// Pointer moves and protection changes stop this long before the builders,
// so the builds' own prunes run after the last of them.
constexpr auto kQuietTail = std::chrono::seconds(4);

const std::string kStandin = std::string(SIFSTORE_SOURCE_DIR) + "/tests/standin/apptainer";

// ---------------------------------------------------------------------------
// Simulated hosts.

enum class HostMode { kNone, kUts, kUserUts };

struct HostSupport {
  HostMode mode = HostMode::kNone;
  std::string why;  // for the skip message
};

const HostSupport& host_support() {
  static const HostSupport support = [] {
    HostSupport s;
    const std::vector<std::string> probe = {
        "sh", "-c", "hostname sifstore-probe && test \"$(hostname)\" = sifstore-probe"};
    std::vector<std::string> argv = {"unshare", "-u", "--"};
    argv.insert(argv.end(), probe.begin(), probe.end());
    RunResult r = run(argv);
    if (r.status == 0) {
      s.mode = HostMode::kUts;
      return s;
    }
    s.why = "unshare -u: " + r.err;
    argv = {"unshare", "-r", "-u", "--"};
    argv.insert(argv.end(), probe.begin(), probe.end());
    r = run(argv);
    if (r.status == 0) {
      s.mode = HostMode::kUserUts;
      std::printf("[ multihost ] unshare -u failed (%s); using user namespaces (unshare -r -u)\n",
                  s.why.c_str());
      return s;
    }
    s.why += "; unshare -r -u: " + r.err;
    return s;
  }();
  return support;
}

// argv run as a process of `host`: in a fresh UTS namespace named so. The
// namespace is entered by exec, so the pid is that of argv[0] itself.
std::vector<std::string> on_host(const std::string& host, const std::vector<std::string>& argv) {
  std::vector<std::string> v = {"unshare"};
  if (host_support().mode == HostMode::kUserUts) v.push_back("-r");
  v.insert(v.end(), {"-u", "--", "sh", "-c", "hostname \"$0\" && exec \"$@\"", host});
  v.insert(v.end(), argv.begin(), argv.end());
  return v;
}

std::vector<std::string> sifstore_argv(const std::string& root,
                                       const std::vector<std::string>& args) {
  std::vector<std::string> v = {SIFSTORE_EXE, "--root", root};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

RunResult sifstore_on(const std::string& host, const std::string& root,
                      const std::vector<std::string>& args,
                      const std::vector<std::string>& env = {}) {
  return run(on_host(host, sifstore_argv(root, args)), env);
}

// Skips the test unless hosts can be simulated and the stand-in can build.
#define REQUIRE_MULTIHOST()                                                               \
  do {                                                                                    \
    if (host_support().mode == HostMode::kNone)                                           \
      GTEST_SKIP() << "cannot simulate hosts (no UTS namespace): " << host_support().why; \
    for (const char* tool : {"python3", "mksquashfs", "siftool"}) {                       \
      if (run({"sh", "-c", std::string("command -v ") + tool}).status != 0)               \
        GTEST_SKIP() << tool << " is missing (scripts/install-deps.sh installs it)";      \
    }                                                                                     \
  } while (0)

// ---------------------------------------------------------------------------
// Small helpers.

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

// The <ts> of a visible `base-<ts><suffix>` name, or nullopt.
std::optional<std::string> ts_of(const std::string& name, const std::string& suffix) {
  const std::string prefix = kLayer + "-";
  if (name.size() != prefix.size() + 16 + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  return name.substr(prefix.size(), 16);
}

std::string def_text() { return "Bootstrap: scratch\n\n%post\n    echo multihost\n"; }

// ---------------------------------------------------------------------------
// What the workers record; guarded by mu.

struct Build {
  std::string host, ts;
  bool ok = false;
  std::vector<std::string> pruned;
  Clock::time_point begin, end;
};

struct Prune {
  std::string host;
  std::vector<std::string> pruned, kept;
  Clock::time_point begin, end;
};

struct Protection {
  Clock::time_point protected_at;                    // protect returned 0
  std::optional<Clock::time_point> unprotect_begin;  // unprotect was started
};

struct Log {
  std::mutex mu;
  std::vector<Build> builds;
  std::vector<Prune> prunes;
  std::map<std::string, Protection> protections;
  std::vector<std::string> failed_logs;  // build logs named by the injected failures
  int failed_as_injected = 0, point_moves = 0, point_gone = 0, rollbacks = 0;
  int protects = 0, unprotects = 0, samples = 0, max_in_flight = 0;
  std::vector<std::string> errors;
  void error(const std::string& e) {
    std::lock_guard<std::mutex> g(mu);
    if (errors.size() < 30) errors.push_back(e);
  }
};

std::string brief(const RunResult& r) {
  return "exit " + std::to_string(r.status) + ": " + r.err.substr(0, 800);
}

// A command that names a build another host may just have pruned fails
// cleanly with "build not found".
bool gone(const RunResult& r) {
  return r.status == 1 && r.err.find("build not found") != std::string::npos;
}

std::vector<std::string> listed_ts(const std::string& host, const std::string& root, Log& log) {
  RunResult r = sifstore_on(host, root, {"list", kLayer, "--json"});
  std::vector<std::string> out;
  if (r.status != 0) {
    if (r.err.find("not found") == std::string::npos) log.error(host + ": list: " + brief(r));
    return out;
  }
  try {
    for (const auto& b : json::parse(r.out)) out.push_back(b.at("ts").get<std::string>());
  } catch (const std::exception& e) {
    log.error(host + ": list printed bad JSON: " + e.what());
  }
  return out;
}

// ---------------------------------------------------------------------------
// The workers.

void builder(int id, const std::string& root, const std::string& def, const std::string& tmp,
             Clock::time_point deadline, Log& log) {
  const std::string host = "host" + std::to_string(id);
  std::mt19937 rng(static_cast<unsigned>(id) * 7919u);
  for (int i = 0; Clock::now() < deadline; ++i) {
    const bool fail = id == kBuilders && i % 4 == 3;
    char hang[32];
    std::snprintf(hang, sizeof hang, "%.2f", static_cast<double>(rng() % 1500) / 1000.0);
    std::vector<std::string> env = {std::string("SIFSTORE_STANDIN_HANG=") + hang, "TMPDIR=" + tmp};
    if (fail) env.push_back("SIFSTORE_STANDIN_FAIL=1");
    Build b;
    b.host = host;
    b.begin = Clock::now();
    RunResult r = sifstore_on(host, root,
                              {"build", kLayer, "--def", def, "--builder", kStandin, "--rebuild",
                               "--retain", std::to_string(kRetain), "--json", "-q"},
                              env);
    b.end = Clock::now();
    if (fail) {
      auto at = r.err.find("(log: ");
      if (r.status == 1 && r.err.find("build of " + kLayer + " failed") != std::string::npos &&
          at != std::string::npos) {
        std::lock_guard<std::mutex> g(log.mu);
        ++log.failed_as_injected;
        log.failed_logs.push_back(r.err.substr(at + 6, r.err.find(')', at) - at - 6));
      } else {
        log.error(host + ": an injected failure did not fail the build cleanly: " + brief(r));
      }
      continue;
    }
    if (r.status != 0) {
      log.error(host + ": build: " + brief(r));
      continue;
    }
    try {
      json j = json::parse(r.out);
      b.ts = j.at("ts").get<std::string>();
      b.pruned = j.at("pruned").get<std::vector<std::string>>();
      b.ok = true;
    } catch (const std::exception& e) {
      log.error(host + ": build printed bad JSON: " + e.what() + "\n" + r.out);
      continue;
    }
    std::lock_guard<std::mutex> g(log.mu);
    log.builds.push_back(std::move(b));
  }
}

void pruner(int id, const std::string& root, const std::atomic<bool>& builders_done, Log& log) {
  const std::string host = "host" + std::to_string(id);
  bool last = false;
  while (!last) {
    last = builders_done.load();  // one more prune after the last build
    Prune p;
    p.host = host;
    p.begin = Clock::now();
    RunResult r =
        sifstore_on(host, root, {"prune", kLayer, "--retain", std::to_string(kRetain), "--json"});
    p.end = Clock::now();
    if (r.status != 0) {
      log.error(host + ": prune: " + brief(r));
    } else {
      try {
        json j = json::parse(r.out);
        p.pruned = j.at("pruned").get<std::vector<std::string>>();
        p.kept = j.at("kept").get<std::vector<std::string>>();
        std::lock_guard<std::mutex> g(log.mu);
        log.prunes.push_back(std::move(p));
      } catch (const std::exception& e) {
        log.error(host + ": prune printed bad JSON: " + e.what());
      }
    }
    if (!last) std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
}

void pointer(const std::string& root, Clock::time_point stop_at, Log& log) {
  const std::string host = "host11";
  std::mt19937 rng(11);
  while (Clock::now() < stop_at) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (rng() % 3 == 0) {
      RunResult r = sifstore_on(host, root, {"rollback", kLayer});
      // No older build (all pruned but the active one) is a clean refusal.
      if (r.status == 0) {
        std::lock_guard<std::mutex> g(log.mu);
        ++log.rollbacks;
      } else if (r.status != 1 || r.err.find("sifstore: error:") != 0) {
        log.error(host + ": rollback: " + brief(r));
      }
      continue;
    }
    auto builds = listed_ts(host, root, log);
    if (builds.empty()) continue;
    const std::string ts = builds[rng() % builds.size()];
    RunResult r = sifstore_on(host, root, {"point-latest", kLayer, ts});
    std::lock_guard<std::mutex> g(log.mu);
    if (r.status == 0) {
      ++log.point_moves;
    } else if (gone(r)) {
      ++log.point_gone;
    } else {
      log.errors.push_back(host + ": point-latest " + ts + ": " + brief(r));
    }
  }
}

void protector(const std::string& root, Clock::time_point stop_at, Log& log) {
  const std::string host = "host12";
  std::mt19937 rng(12);
  std::vector<std::string> held;  // protected by us, not yet unprotected
  while (Clock::now() < stop_at) {
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    if (!held.empty() && rng() % 3 == 0) {
      size_t k = rng() % held.size();
      const std::string ts = held[k];
      held.erase(held.begin() + static_cast<long>(k));
      {
        std::lock_guard<std::mutex> g(log.mu);
        log.protections[ts].unprotect_begin = Clock::now();
      }
      RunResult r = sifstore_on(host, root, {"unprotect", kLayer, ts});
      if (r.status != 0) {
        log.error(host + ": unprotect " + ts + " (protected, so never pruned): " + brief(r));
      } else {
        std::lock_guard<std::mutex> g(log.mu);
        ++log.unprotects;
      }
      continue;
    }
    auto builds = listed_ts(host, root, log);
    if (builds.empty()) continue;
    const std::string ts = builds[rng() % builds.size()];
    {
      std::lock_guard<std::mutex> g(log.mu);
      if (log.protections.count(ts)) continue;  // each build is protected at most once
    }
    RunResult r = sifstore_on(host, root, {"protect", kLayer, ts});
    if (r.status == 0) {
      std::lock_guard<std::mutex> g(log.mu);
      log.protections[ts].protected_at = Clock::now();
      ++log.protects;
      held.push_back(ts);
    } else if (!gone(r)) {
      log.error(host + ": protect " + ts + ": " + brief(r));
    }
  }
}

// Reads the pointer and scans the layer until told to stop.
void sampler(const std::string& root, const std::atomic<bool>& stop, Log& log) {
  const std::string pointer = root + "/" + kLayer + ".sif";
  const std::string layer_dir = root + "/" + kLayer;
  while (!stop.load()) {
    std::string target = readlink_or_empty(pointer);
    if (!target.empty() && !lexists(root + "/" + target) && readlink_or_empty(pointer) == target) {
      // <ts> are never reused, so a target missing while the text stayed the
      // same was missing while the pointer named it.
      log.error("the pointer names a missing build: " + target);
    }
    int in_flight = 0;
    for (const auto& name : list_dir(layer_dir)) {
      if (name.size() > 9 && name.compare(name.size() - 9, 9, ".reserved") == 0) ++in_flight;
      auto ts = ts_of(name, ".sif");
      if (!ts) continue;
      for (const char* suffix : {".lock", ".def"}) {
        if (!lexists(build_file(root, *ts, suffix)) && lexists(build_file(root, *ts, ".sif")))
          log.error("visible image " + name + " without its " + suffix);
      }
    }
    {
      std::lock_guard<std::mutex> g(log.mu);
      ++log.samples;
      log.max_in_flight = std::max(log.max_in_flight, in_flight);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(MultiHost, ManyHostsBuildPruneAndPointOneLayer) {
  REQUIRE_MULTIHOST();
  TempDir t;
  const std::string root = t / "store";
  const std::string def = t / "small.def";
  const std::string tmp = t / "tmp";
  write_file(def, def_text());
  write_file(tmp + "/.keep", "");
  Log log;
  // The layer exists before the sampler looks at it.
  {
    Build b{"host1", "", true, {}, Clock::now(), {}};
    RunResult r = sifstore_on(
        "host1", root,
        {"build", kLayer, "--def", def, "--builder", kStandin, "--rebuild", "-q", "--json"},
        {"TMPDIR=" + tmp});
    ASSERT_EQ(r.status, 0) << r.err;
    b.ts = json::parse(r.out).at("ts").get<std::string>();
    b.end = Clock::now();
    log.builds.push_back(b);
  }
  std::atomic<bool> stop_sampler{false}, builders_done{false};
  std::thread sample_thread(sampler, root, std::cref(stop_sampler), std::ref(log));
  const auto start = Clock::now();
  const auto deadline = start + duration();
  std::vector<std::thread> builders, others;
  for (int id = 1; id <= kBuilders; ++id)
    builders.emplace_back(builder, id, root, def, tmp, deadline, std::ref(log));
  others.emplace_back(pruner, 9, root, std::cref(builders_done), std::ref(log));
  others.emplace_back(pruner, 10, root, std::cref(builders_done), std::ref(log));
  others.emplace_back(pointer, root, deadline - kQuietTail, std::ref(log));
  others.emplace_back(protector, root, deadline - kQuietTail, std::ref(log));
  for (auto& b : builders) b.join();
  builders_done = true;
  for (auto& o : others) o.join();
  stop_sampler = true;
  sample_thread.join();
  const double ran_for = std::chrono::duration<double>(Clock::now() - start).count();

  for (const auto& e : log.errors) ADD_FAILURE() << e;
  ASSERT_TRUE(log.errors.empty());
  ASSERT_GE(log.builds.size(), static_cast<size_t>(2 * kBuilders)) << "too little ran";
  ASSERT_GE(log.prunes.size(), 10u) << "too little ran";

  // Unique <ts> across every host.
  std::set<std::string> published;
  for (const auto& b : log.builds)
    EXPECT_TRUE(published.insert(b.ts).second) << "two builds got " << b.ts;
  std::set<std::string> hosts_published;
  for (const auto& b : log.builds) hosts_published.insert(b.host);
  EXPECT_EQ(hosts_published.size(), static_cast<size_t>(kBuilders)) << "a host never published";

  // Every prune report, from the pruners and the builds' own prune step.
  struct Report {
    std::string who;
    const std::vector<std::string>* pruned;
    // When the command began and ended: the prune ran in between (a
    // build's prune step runs at its end, after publishing).
    Clock::time_point began, ended;
  };
  std::vector<Report> reports;
  for (const auto& p : log.prunes)
    reports.push_back({p.host + " prune", &p.pruned, p.begin, p.end});
  for (const auto& b : log.builds)
    reports.push_back({b.host + " build " + b.ts, &b.pruned, b.begin, b.end});
  std::set<std::string> pruned;
  for (const auto& rep : reports) {
    for (const auto& x : *rep.pruned) {
      EXPECT_TRUE(published.count(x)) << rep.who << " pruned " << x << ", never published";
      EXPECT_TRUE(pruned.insert(x).second) << x << " pruned twice (again by " << rep.who << ")";
      auto p = log.protections.find(x);
      if (p != log.protections.end() && p->second.protected_at < rep.began &&
          (!p->second.unprotect_begin || rep.ended < *p->second.unprotect_begin))
        ADD_FAILURE() << rep.who << " pruned " << x << ", protected before it began";
    }
  }
  for (const auto& p : log.prunes) {
    for (const auto& x : p.pruned) {
      auto newer =
          std::count_if(p.kept.begin(), p.kept.end(), [&](const std::string& y) { return y > x; });
      EXPECT_GE(newer, kRetain) << p.host << " pruned " << x << " keeping only " << newer
                                << " newer builds";
    }
  }

  // The end state.
  std::set<std::string> expect;
  for (const auto& ts : published)
    if (!pruned.count(ts)) expect.insert(ts);
  RunResult r = sifstore(root, {"list", kLayer, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::set<std::string> listed;
  int active = 0, unprotected_inactive = 0;
  for (const auto& b : json::parse(r.out)) {
    const std::string ts = b["ts"].get<std::string>();
    listed.insert(ts);
    EXPECT_FALSE(b["lock"].is_null()) << b.dump();
    EXPECT_FALSE(b["def"].is_null()) << b.dump();
    active += b["active"].get<bool>();
    if (!b["active"].get<bool>() && !b["keep"].get<bool>()) ++unprotected_inactive;
  }
  EXPECT_EQ(listed, expect);
  EXPECT_EQ(active, 1);
  EXPECT_LE(unprotected_inactive, kRetain);
  for (const auto& [ts, p] : log.protections) {
    if (p.unprotect_begin) continue;
    EXPECT_TRUE(listed.count(ts)) << "protected build " << ts << " is gone";
    EXPECT_TRUE(lexists(build_file(root, ts, ".keep"))) << ts;
  }
  std::vector<std::string> newest(published.rbegin(), published.rend());
  for (size_t i = 0; i < newest.size() && i < static_cast<size_t>(kRetain); ++i)
    EXPECT_TRUE(listed.count(newest[i]))
        << "one of the " << kRetain << " newest, " << newest[i] << ", is gone";
  for (const auto& x : pruned) {
    for (const char* suffix : {".sif", ".lock", ".def", ".rough.def", ".keep", ".build.log"})
      EXPECT_FALSE(lexists(build_file(root, x, suffix))) << x << suffix << " outlived its prune";
  }
  const std::string target = readlink_or_empty(root + "/" + kLayer + ".sif");
  EXPECT_TRUE(listed.count(target.substr(kLayer.size() * 2 + 2, 16))) << target;
  for (const auto& dir : {root, root + "/" + kLayer}) {
    for (const auto& name : list_dir(dir)) {
      if (name[0] != '.') continue;
      // A published build's identity record (.<layer>-<ts>.identity) lives
      // with its image.
      const std::string id_prefix = "." + kLayer + "-", id_suffix = ".identity";
      if (name.size() == id_prefix.size() + 16 + id_suffix.size() &&
          name.compare(0, id_prefix.size(), id_prefix) == 0 &&
          name.compare(name.size() - id_suffix.size(), id_suffix.size(), id_suffix) == 0 &&
          listed.count(name.substr(id_prefix.size(), 16)))
        continue;
      EXPECT_TRUE(name == ".sifstore-lock" || name == ".sifstore-timebase" ||
                  (dir == root && name == ".sifstore-source-identities"))
          << "left behind: " << dir << "/" << name;
    }
  }
  r = sifstore(root, {"prune", kLayer, "--retain", std::to_string(kRetain), "--dry-run", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(json::parse(r.out).at("pruned").empty()) << "retain not honoured: " << r.out;

  // fsck: only the logs of the failed builds, kept on purpose.
  for (const auto& path : log.failed_logs)
    EXPECT_TRUE(lexists(path)) << "the log of a failed build is gone: " << path;
  r = sifstore(root, {"fsck", "--json"});
  std::set<std::string> orphan_logs;
  const json fsck_report = json::parse(r.out);
  for (const auto& f : fsck_report.at("findings")) {
    const std::string path = f.at("path").get<std::string>();
    const std::string name = path.substr(path.rfind('/') + 1);
    auto ts = ts_of(name, ".build.log");
    if (ts && !published.count(*ts) &&
        f.at("problem").get<std::string>().find("orphan") != std::string::npos) {
      orphan_logs.insert(*ts);
    } else {
      ADD_FAILURE() << "fsck: " << f.dump();
    }
  }
  EXPECT_EQ(orphan_logs.size(), static_cast<size_t>(log.failed_as_injected));
  r = sifstore(root, {"fsck", "--repair"});
  EXPECT_EQ(sifstore(root, {"fsck"}).status, 0) << "after fsck --repair";

  std::printf(
      "[ multihost ] %.1f s, %d hosts (%s): %zu builds published by %d builders (%d failed as "
      "injected), up to %d in flight; %zu pruner runs, %zu builds pruned; %d point-latest "
      "(%d on a build pruned meanwhile), %d rollbacks; %d protects, %d unprotects; %d samples; "
      "%zu builds left\n",
      ran_for, kBuilders + 4,
      host_support().mode == HostMode::kUts ? "unshare -u" : "unshare -r -u", log.builds.size(),
      kBuilders, log.failed_as_injected, log.max_in_flight, log.prunes.size(), pruned.size(),
      log.point_moves, log.point_gone, log.rollbacks, log.protects, log.unprotects, log.samples,
      listed.size());
}

// ---------------------------------------------------------------------------

// Starts argv in the background; output to /dev/null.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.push_back(*e);
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  return pid;
}

std::vector<std::string> hidden_of(const std::string& layer_dir, const std::string& ts) {
  std::vector<std::string> out;
  for (const auto& name : list_dir(layer_dir))
    if (name[0] == '.' && name.find(ts) != std::string::npos) out.push_back(name);
  return out;
}

TEST(MultiHost, KilledBuildIsLiveElsewhereAndDebrisAtHome) {
  REQUIRE_MULTIHOST();
  TempDir t;
  const std::string root = t / "store";
  const std::string layer_dir = root + "/" + kLayer;
  const std::string def = t / "small.def";
  write_file(def, def_text());
  write_file(t / "tmp/.keep", "");

  // hostA's build stops with its partial image on disk; then it is killed.
  pid_t pid =
      spawn(on_host("hostA", sifstore_argv(root, {"build", kLayer, "--def", def, "--builder",
                                                  kStandin, "--rebuild", "-q"})),
            {"SIFSTORE_STANDIN_HANG=60", "SIFSTORE_STANDIN_HANG_AT=sif", "TMPDIR=" + t / "tmp"});
  ASSERT_GT(pid, 0);
  std::string ts;
  for (int i = 0; i < 400 && ts.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!lexists(layer_dir)) continue;  // the build has not created it yet
    for (const auto& name : list_dir(layer_dir)) {
      const std::string prefix = "." + kLayer + "-";
      if (name.rfind(prefix, 0) == 0 && name.find(".partial.sif") != std::string::npos)
        ts = name.substr(prefix.size(), 16);
    }
  }
  ASSERT_FALSE(ts.empty()) << "hostA's build never wrote its partial image";
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const std::string reservation = "." + kLayer + "-" + ts + ".reserved";
  struct stat pidns;  // hostA's processes share this test's PID namespace
  ASSERT_EQ(::stat("/proc/self/ns/pid", &pidns), 0);
  EXPECT_EQ(
      read_file(layer_dir + "/" + reservation),
      "host=hostA pid=" + std::to_string(pid) + " pidns=" + std::to_string(pidns.st_ino) + "\n");
  const auto debris = hidden_of(layer_dir, ts);
  ASSERT_GE(debris.size(), 3u);  // reservation, partial image, partial log, build def

  // On hostB the owner might be running: a build and fsck --repair there
  // leave every file of it alone.
  RunResult r = sifstore_on(
      "hostB", root,
      {"build", kLayer, "--def", def, "--builder", kStandin, "--rebuild", "-q", "--json"},
      {"TMPDIR=" + t / "tmp"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GT(json::parse(r.out).at("ts").get<std::string>(), ts);
  r = sifstore_on("hostB", root, {"fsck", "--repair"});
  EXPECT_EQ(hidden_of(layer_dir, ts), debris) << r.out;

  // On hostA the pid is dead: debris.
  r = sifstore_on("hostA", root, {"fsck", "--repair"});
  EXPECT_TRUE(hidden_of(layer_dir, ts).empty()) << r.out;
  r = sifstore_on("hostA", root, {"fsck", "--repair"});
  r = sifstore_on("hostB", root, {"fsck"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(sifstore(root, {"list", kLayer, "--json"}).status, 0);
}

// Whether some process waits for an fcntl lock on the file with inode ino
// (a "->" line of /proc/locks).
bool lock_waiter_on(ino_t ino) {
  std::ifstream locks("/proc/locks");
  const std::string needle = ":" + std::to_string(ino) + " ";
  for (std::string line; std::getline(locks, line);)
    if (line.find("->") != std::string::npos && line.find(needle) != std::string::npos) return true;
  return false;
}

TEST(MultiHost, MarkersWaitingForTheLockRecheckTheBuild) {
  if (!lexists("/proc/locks")) GTEST_SKIP() << "no /proc/locks to see a process wait for a lock";
  TempDir t;
  const std::string root = t / "store";
  const std::string ts = "2026-0101-000000";
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{{"protect", kLayer, ts},
                                             {"mark-verified", kLayer, ts},
                                             {"mark-unverified", kLayer, ts, "--reason", "x"}}) {
    SCOPED_TRACE(cmd[0]);
    for (const char* suffix : {".sif", ".lock", ".def"})
      write_file(build_file(root, ts, suffix), "x\n");
    // Another host's prune holds the layer lock...
    const std::string lock_path = root + "/" + kLayer + "/.sifstore-lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    ASSERT_GE(fd, 0);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &fl), 0);
    struct stat st;
    ASSERT_EQ(::fstat(fd, &st), 0);
    // ...while the command checks the build and waits for the lock.
    RunResult r;
    std::thread command([&] { r = sifstore(root, cmd); });
    bool waiting = false;
    for (int i = 0; i < 200 && !(waiting = lock_waiter_on(st.st_ino)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    // The prune removes the build, then lets go.
    for (const char* suffix : {".sif", ".lock", ".def"})
      ::unlink(build_file(root, ts, suffix).c_str());
    ::close(fd);
    command.join();
    ASSERT_TRUE(waiting) << "the command never waited for the lock: " << r.err;
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("build not found"), std::string::npos) << r.err;
    for (const char* suffix : {".keep", ".verified", ".unverified"})
      EXPECT_FALSE(lexists(build_file(root, ts, suffix))) << "orphan marker " << suffix;
  }
}

TEST(MultiHost, LeftoverTemporaryOfTheSamePid) {
  if (run({"unshare", "-p", "-f", "--", "sh", "-c", "test $$ = 1"}).status != 0)
    GTEST_SKIP() << "cannot run a process as pid 1 of a new PID namespace (unshare -p -f)";
  TempDir t;
  const std::string root = t / "store";
  const std::string ts = "2026-0101-000000";
  for (const char* suffix : {".sif", ".lock", ".def"})
    write_file(build_file(root, ts, suffix), "x\n");
  // What a killed pid 1 elsewhere left: temporaries of the pointer and of a marker.
  for (int n = 0; n < 4; ++n) {
    write_file(root + "/." + kLayer + ".sif.tmp.1." + std::to_string(n), "");
    write_file(root + "/" + kLayer + "/." + kLayer + "-" + ts + ".keep.tmp.1." + std::to_string(n),
               "");
  }
  auto as_pid_1 = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"unshare", "-p", "-f", "--"};
    auto s = sifstore_argv(root, args);
    argv.insert(argv.end(), s.begin(), s.end());
    return run(argv);
  };
  RunResult r = as_pid_1({"point-latest", kLayer, ts});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(readlink_or_empty(root + "/" + kLayer + ".sif"),
            kLayer + "/" + kLayer + "-" + ts + ".sif");
  r = as_pid_1({"protect", kLayer, ts});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(lexists(build_file(root, ts, ".keep")));
}

}  // namespace
}  // namespace sifstore::test
