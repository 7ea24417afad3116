// Fault injection: disk full and I/O errors during every write of the
// commands that write into a store, and a prune killed at every unlink.
//
// faultshim.c (LD_PRELOAD) makes the Nth write()/fsync()/rename()/link/
// symlink/open(O_CREAT) of the sifstore process fail. For each command, the
// calls it makes are counted once; then for every N and for ENOSPC and EIO
// the command runs on a fresh store with call N failing, and the test asserts:
// exit 1 with a `sifstore: error:` naming a file and the errno text; every
// file outside the ones the command may change is exactly as before (nothing
// kept lost); a file it may change is absent or whole (never half-written);
// no temporary file is left; the latest pointer names an existing image; and
// `sifstore fsck` finds nothing (after `fsck --repair` for a build's debris).
// Then the same command without a fault succeeds, as after freeing space.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "cli/build_fixture.h"
#include "core/error.h"
#include "core/lockfile.h"
#include "support/store_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

const std::string kShim = SIFSTORE_FAULTSHIM;
const char* kT1 = "2026-0101-000001";
const char* kT2 = "2026-0101-000002";
const char* kT3 = "2026-0101-000003";

// The environment that loads the shim into sifstore (and only sifstore).
std::vector<std::string> shim_env(const std::string& log, const std::string& extra) {
  std::vector<std::string> env = {"LD_PRELOAD=" + kShim, "SIFSTORE_FAULT_PROGRAM=sifstore",
                                  "SIFSTORE_FAULT_LOG=" + log};
  // An ASan runtime wants to come first among the preloaded libraries: tell
  // it not to mind (in this process's environment, which sifstore inherits,
  // so the setting is not shadowed by the inherited ASAN_OPTIONS).
  const char* asan = std::getenv("ASAN_OPTIONS");
  if (!asan || !std::strstr(asan, "verify_asan_link_order=0"))
    ::setenv("ASAN_OPTIONS", (std::string(asan ? asan : "") + ":verify_asan_link_order=0").c_str(),
             1);
  if (!extra.empty()) {
    std::istringstream words(extra);
    for (std::string w; words >> w;) env.push_back(w);
  }
  return env;
}

// The line of a shim log for the call that failed ("" when none did).
std::string failed_call(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line))
    if (line.size() > 5 && line.compare(line.size() - 5, 5, " FAIL") == 0) return line;
  return "";
}

// "total <n> unlinks <k>" from a shim log.
std::pair<long, long> totals(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  long total = -1, unlinks = -1;
  while (std::getline(in, line))
    if (line.rfind("total ", 0) == 0)
      std::sscanf(line.c_str(), "total %ld unlinks %ld", &total, &unlinks);
  return {total, unlinks};
}

// A store of three builds of "base", latest -> T3, T2 verified, with the
// layer lock file and time base already there.
void make_store(const std::string& root) {
  make_build(root, "base", kT1);
  make_build(root, "base", kT2, {"sif", "lock", "def", "verified"});
  make_build(root, "base", kT3);
  make_pointer(root, "base", std::string("base/base-") + kT3 + ".sif");
  write_file(root + "/base/.sifstore-lock", "");
  write_file(root + "/.sifstore-timebase", "utc\n");
}

bool whole(const std::string& rel, const std::string& content) {
  auto ends = [&](const char* s) {
    return rel.size() > std::strlen(s) &&
           rel.compare(rel.size() - std::strlen(s), std::strlen(s), s) == 0;
  };
  if (ends(".verified"))
    return content.rfind("round-trip verified at ", 0) == 0 && content.back() == '\n';
  if (ends(".unverified"))
    return content.rfind("reproducibility unverified at ", 0) == 0 && content.back() == '\n';
  if (ends(".keep")) return content == "prune-protected\n";
  if (ends(".lock")) {
    try {
      parse_lock(content, rel);
      return true;
    } catch (const Error&) {
      return false;
    }
  }
  if (ends(".reserved")) return content.rfind("host=", 0) == 0 && content.back() == '\n';
  return !content.empty() && content.back() == '\n';
}

// Asserts the store after a failed command: see the file comment.
void check_store(const std::string& root, const std::map<std::string, std::string>& before,
                 const std::set<std::string>& may_change, const std::string& what) {
  auto after = snapshot(root);
  std::set<std::string> paths;
  for (const auto& [p, c] : before) paths.insert(p);
  for (const auto& [p, c] : after) paths.insert(p);
  for (const auto& p : paths) {
    EXPECT_EQ(p.find(".tmp."), std::string::npos) << what << ": temporary left: " << p;
    auto b = before.find(p);
    auto a = after.find(p);
    if (!may_change.count(p)) {
      EXPECT_TRUE(b != before.end() && a != after.end() && b->second == a->second)
          << what << ": " << p << " changed (" << (b == before.end() ? "<absent>" : b->second)
          << " -> " << (a == after.end() ? "<absent>" : a->second) << ")";
    } else if (a != after.end() && a->second.rfind("-> ", 0) != 0 &&
               (b == before.end() || b->second != a->second)) {
      EXPECT_TRUE(whole(p, a->second)) << what << ": " << p << " is not whole: " << a->second;
    }
  }
  // The pointer names an image that exists.
  auto ptr = after.find("base.sif");
  if (ptr != after.end()) {
    std::string target = ptr->second.substr(3);
    EXPECT_TRUE(after.count(target) && after.at(target).rfind("sif of ", 0) == 0)
        << what << ": pointer names " << target;
  }
}

struct Case {
  std::vector<std::string> args;
  std::set<std::string> may_change;  // relative to the root
};

std::string art(const char* ts, const std::string& ext) {
  return std::string("base/base-") + ts + "." + ext;
}

// Runs c under the shim for every failing call and both errnos.
void run_faults(const Case& c) {
  std::string what = c.args[0];
  long total;
  {
    TempDir t;
    std::string root = t / "containers";
    make_store(root);
    RunResult r = run(
        [&] {
          std::vector<std::string> a = {SIFSTORE_EXE, "--root", root};
          a.insert(a.end(), c.args.begin(), c.args.end());
          return a;
        }(),
        shim_env(t / "count.log", ""), t.path());
    ASSERT_EQ(r.status, 0) << what << " without faults: " << r.err;
    total = totals(t / "count.log").first;
    ASSERT_GT(total, 0) << what << ": the shim counted no call (is it loaded?)";
  }
  int cases = 0;
  for (const char* err : {"ENOSPC", "EIO"}) {
    std::string text = std::strcmp(err, "EIO") == 0 ? std::strerror(EIO) : std::strerror(ENOSPC);
    for (long n = 1; n <= total; ++n) {
      TempDir t;
      std::string root = t / "containers";
      make_store(root);
      auto before = snapshot(root);
      std::vector<std::string> argv = {SIFSTORE_EXE, "--root", root};
      argv.insert(argv.end(), c.args.begin(), c.args.end());
      std::string label = what + " with call " + std::to_string(n) + "/" + std::to_string(total) +
                          " failing with " + err;
      RunResult r =
          run(argv,
              shim_env(t / "fault.log", std::string("SIFSTORE_FAULT_AT=") + std::to_string(n) +
                                            " SIFSTORE_FAULT_ERRNO=" + err),
              t.path());
      EXPECT_EQ(r.status, 1) << label << "\n" << r.out << r.err;
      EXPECT_EQ(r.err.rfind("sifstore: error: ", 0), 0u) << label << ": " << r.err;
      EXPECT_NE(r.err.find(text), std::string::npos) << label << ": " << r.err;
      EXPECT_NE(r.err.find(t.path()), std::string::npos) << label << ": names no file: " << r.err;
      check_store(root, before, c.may_change, label);
      RunResult fsck = run({SIFSTORE_EXE, "--root", root, "fsck"});
      EXPECT_EQ(fsck.status, 0) << label << ": fsck\n" << fsck.out << fsck.err;
      RunResult again = run(argv, {}, t.path());
      EXPECT_EQ(again.status, 0) << label << ": retried without the fault: " << again.err;
      ++cases;
      if (::testing::Test::HasFailure()) return;  // one broken case says enough
    }
  }
  ::testing::Test::RecordProperty("calls", static_cast<int>(total));
  ::testing::Test::RecordProperty("cases", cases);
}

TEST(Faults, MarkVerified) {
  run_faults({{"mark-verified", "base", kT1}, {art(kT1, "verified"), art(kT1, "unverified")}});
}

TEST(Faults, MarkUnverified) {
  run_faults({{"mark-unverified", "base", kT2, "--reason", "pip drifted"},
              {art(kT2, "verified"), art(kT2, "unverified")}});
}

TEST(Faults, Protect) { run_faults({{"protect", "base", kT1}, {art(kT1, "keep")}}); }

TEST(Faults, PointLatest) { run_faults({{"point-latest", "base", kT1}, {"base.sif"}}); }

TEST(Faults, Rollback) { run_faults({{"rollback", "base", "--to", kT2}, {"base.sif"}}); }

TEST(Faults, RollbackToPrevious) {
  // Retried, it rolls back once more (T3 -> T2 failed or not, then -> T1):
  // both end on a build that exists, which check_store asserts.
  run_faults({{"rollback", "base"}, {"base.sif"}});
}

TEST(Faults, Prune) {
  run_faults(
      {{"prune", "base", "--retain", "1"}, {art(kT1, "sif"), art(kT1, "lock"), art(kT1, "def")}});
}

TEST(Faults, LockDefOutput) {
  // `lock def -o FILE` writes its output the same way, outside the store.
  TempDir t;
  write_file(t / "rough.def",
             "Bootstrap: docker\nFrom: debian:12\n\n%post\n    pip install numpy\n");
  write_file(t / "x.lock", "# scitex-container lock\n[pip]\nnumpy==1.26.4\n[dpkg]\n[node]\n\n");
  std::vector<std::string> argv = {
      SIFSTORE_EXE, "lock", "def", t / "rough.def", t / "x.lock", "-o", t / "out/locked.def"};
  write_file(t / "out/locked.def", "old\n");
  RunResult r = run(argv, shim_env(t / "count.log", ""));
  ASSERT_EQ(r.status, 0) << r.err;
  std::string locked = read_file(t / "out/locked.def");
  long total = totals(t / "count.log").first;
  ASSERT_GT(total, 0);
  for (const char* err : {"ENOSPC", "EIO"}) {
    for (long n = 1; n <= total; ++n) {
      write_file(t / "out/locked.def", "old\n");
      std::string label =
          std::string("lock def with call ") + std::to_string(n) + " failing with " + err;
      RunResult f = run(argv, shim_env(t / "fault.log", "SIFSTORE_FAULT_AT=" + std::to_string(n) +
                                                            " SIFSTORE_FAULT_ERRNO=" + err));
      EXPECT_EQ(f.status, 1) << label << ": " << f.err;
      EXPECT_NE(f.err.find(t / "out"), std::string::npos) << label << ": " << f.err;
      std::string now = read_file(t / "out/locked.def");
      EXPECT_TRUE(now == "old\n" || now == locked) << label << ": half-written: " << now;
      EXPECT_EQ(list_dir(t / "out"), std::vector<std::string>{"locked.def"}) << label;
    }
  }
}

// The build chain (stand-in builder): the failing call may be any write of
// the build (its def, log, lock, locked def, rough def, the renames that
// publish it, the pointer). The previous build must stay whole and active
// unless the new one was published; debris is what fsck --repair clears.
class BuildFaults : public BuildChainTest {};

TEST_F(BuildFaults, EveryWriteOfABuild) {
  std::string first = build_ok("base");
  ASSERT_FALSE(first.empty());
  auto kept = snapshot(root + "/base");
  std::string log = t / "count.log";
  RunResult r = build("base", "base.def", {}, shim_env(log, ""));
  ASSERT_EQ(r.status, 0) << r.err;
  long total = totals(log).first;
  ASSERT_GT(total, 5);
  // Back to one build for every faulty run.
  std::string second = latest("base");
  ASSERT_EQ(cli({"point-latest", "base", first}).status, 0);
  ASSERT_EQ(cli({"prune", "base", "--retain", "0"}).status, 0);
  ASSERT_EQ(builds("base"), std::vector<std::string>{first});
  int cases = 0, log_writes = 0, not_reached = 0;
  for (long n = 1; n <= total; ++n) {
    const char* err = n % 2 ? "ENOSPC" : "EIO";
    std::string label = "build with call " + std::to_string(n) + "/" + std::to_string(total) +
                        " failing with " + err;
    RunResult f = build("base", "base.def", {},
                        shim_env(t / "fault.log", "SIFSTORE_FAULT_AT=" + std::to_string(n) +
                                                      " SIFSTORE_FAULT_ERRNO=" + err));
    std::string call = failed_call(t / "fault.log");
    ::unlink((t / "fault.log").c_str());
    label += " (" + call + ")";
    // A line of the build log that cannot be written does not fail the build
    // (core/chain.cpp); anything else does.
    bool log_write = call.find(" write fd ") != std::string::npos &&
                     call.find(".build.log") != std::string::npos;
    // Nor does the image's identity record (core/image_identity.h): without
    // it the next check hashes the image in full; nor the %files sources'
    // identity cache (core/input_key.h).
    bool identity_write = call.find(".identity") != std::string::npos ||
                          call.find(".sifstore-source-identities") != std::string::npos;
    if (call.empty()) {
      // This build made fewer calls than the counted one (it had less to
      // clear or prune): nothing failed, so it succeeds.
      EXPECT_EQ(f.status, 0) << label << "\n" << f.err;
      ++not_reached;
    } else if ((log_write || identity_write) && f.status == 0) {
      ++log_writes;
    } else {
      EXPECT_EQ(f.status, 1) << label << "\n" << f.err;
      EXPECT_NE(f.err.find("sifstore: error: "), std::string::npos) << label << ": " << f.err;
    }
    // The first build is untouched.
    auto now = snapshot(root + "/base");
    for (const auto& [p, c] : kept) {
      if (p.rfind(".", 0) == 0) continue;  // the lock file, reservations
      EXPECT_TRUE(now.count(p) && now[p] == c) << label << ": " << p << " changed";
    }
    // Every visible artifact of the failed build is whole: its lock parses.
    for (const auto& [p, c] : now) {
      if (p.rfind(".", 0) == 0 || kept.count(p)) continue;
      if (p.size() > 5 && p.compare(p.size() - 5, 5, ".lock") == 0) {
        EXPECT_NO_THROW(parse_lock(c, p)) << label << ": " << p;
      }
    }
    // A published build's log holds the lock's digest (tamper evidence): a
    // failed write of that line fails the build instead.
    if (f.status == 0) {
      for (const auto& [p, c] : now) {
        if (kept.count(p) || p.size() < 10 || p.compare(p.size() - 10, 10, ".build.log") != 0)
          continue;
        EXPECT_NE(c.find("sifstore: lock-sha256: "), std::string::npos) << label << ": " << p;
      }
    }
    std::string active = latest("base");
    EXPECT_TRUE(exists(artifact("base", active, "sif"))) << label << ": latest -> " << active;
    RunResult repair = cli({"fsck", "--repair"});
    EXPECT_NE(repair.status, 2) << label << ": " << repair.err;
    RunResult fsck = cli({"fsck"});
    EXPECT_EQ(fsck.status, 0) << label << ": after fsck --repair:\n" << fsck.out << fsck.err;
    for (const auto& name : list_dir(root + "/base"))
      EXPECT_EQ(name.find(".tmp."), std::string::npos) << label << ": " << name;
    // Back to the first build only.
    cli({"point-latest", "base", first});
    cli({"prune", "base", "--retain", "0"});
    ++cases;
    if (HasFailure()) break;
  }
  RecordProperty("calls", static_cast<int>(total));
  RecordProperty("cases", cases);
  RecordProperty("log_writes_tolerated", log_writes);
  RecordProperty("not_reached", not_reached);
  (void)second;
}

// Prune killed (SIGKILL) before each of its unlinks: the kept builds are
// untouched, the pointer stands, and prune run again finishes the job; what
// the killed prune left of a half-removed build (an image already gone) is
// orphan artifacts, which fsck --repair removes.
TEST(InterruptedPrune, KilledAtEveryUnlink) {
  const char* ts[] = {"2026-0101-000001", "2026-0101-000002", "2026-0101-000003",
                      "2026-0101-000004", "2026-0101-000005", "2026-0101-000006"};
  const std::vector<std::string> all = {"sif", "lock", "def", "verified", "build.log", "rough.def"};
  auto setup = [&](const std::string& root) {
    for (const char* s : ts) make_build(root, "base", s, all);
    write_file(root + "/base/base-" + ts[1] + ".keep", "prune-protected\n");
    make_pointer(root, "base", std::string("base/base-") + ts[3] + ".sif");
  };
  // Newest first: 6 kept (retain 1), 5 pruned, 4 active, 3 pruned, 2 .keep, 1 pruned.
  const std::set<std::string> kept = {ts[5], ts[3], ts[1]};
  long unlinks;
  {
    TempDir t;
    setup(t / "c");
    RunResult r = run({SIFSTORE_EXE, "--root", t / "c", "prune", "base", "--retain", "1"},
                      shim_env(t / "count.log", ""));
    ASSERT_EQ(r.status, 0) << r.err;
    unlinks = totals(t / "count.log").second;
    ASSERT_GE(unlinks, 18);  // 3 builds x 6 artifacts
  }
  for (long k = 1; k <= unlinks; ++k) {
    TempDir t;
    std::string root = t / "c";
    setup(root);
    auto before = snapshot(root);
    std::string label =
        "prune killed at unlink " + std::to_string(k) + "/" + std::to_string(unlinks);
    RunResult r = run({SIFSTORE_EXE, "--root", root, "prune", "base", "--retain", "1"},
                      shim_env(t / "kill.log", "SIFSTORE_FAULT_KILL_AT=" + std::to_string(k)));
    EXPECT_EQ(r.status, 128 + 9) << label << ": " << r.err;
    auto after = snapshot(root);
    for (const auto& [p, c] : before) {
      bool of_kept = false;
      for (const auto& s : kept) of_kept |= p.find(s) != std::string::npos;
      if (of_kept || p == "base.sif") {
        EXPECT_TRUE(after.count(p) && after[p] == c) << label << ": kept " << p << " lost";
      }
    }
    RunResult again = run({SIFSTORE_EXE, "--root", root, "prune", "base", "--retain", "1"});
    EXPECT_EQ(again.status, 0) << label << ": " << again.err;
    RunResult repair = run({SIFSTORE_EXE, "--root", root, "fsck", "--repair"});
    EXPECT_NE(repair.status, 2) << label << ": " << repair.err;
    RunResult fsck = run({SIFSTORE_EXE, "--root", root, "fsck"});
    EXPECT_EQ(fsck.status, 0) << label << ": fsck after the second prune and a repair\n"
                              << fsck.out;
    std::set<std::string> left;
    for (const auto& name : list_dir(root + "/base"))
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".sif") == 0)
        left.insert(name.substr(5, 16));
    EXPECT_EQ(left, kept) << label;
    if (HasFailure()) break;
  }
  RecordProperty("kill_points", static_cast<int>(unlinks));
}

}  // namespace
}  // namespace sifstore::test
