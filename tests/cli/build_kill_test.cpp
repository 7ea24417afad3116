// The build chain under failure (docs/DESIGN.md#crash-safety: "kill -9 at
// any step leaves the store consistent"): a builder that fails,
// and `kill -9` of sifstore's whole process group at each step of the chain
// (SIFSTORE_DEBUG_STOP_AT) and while the builder runs (SIFSTORE_STANDIN_HANG).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "cli/build_fixture.h"

extern char** environ;

namespace sifstore::test {
namespace {

// Whether text[i, i+16) has the shape of a `<ts>` (YYYY-MMDD-HHMMSS).
bool ts_at(const std::string& text, size_t i) {
  static const char kShape[] = "dddd-dddd-dddddd";
  if (i + 16 > text.size()) return false;
  for (size_t k = 0; k < 16; ++k) {
    char c = text[i + k];
    if (kShape[k] == 'd' ? !(c >= '0' && c <= '9') : c != '-') return false;
  }
  return true;
}

// The `<ts>` values that appear in the layer directory's names (hidden ones
// included), other than those in `known`.
std::set<std::string> new_ts(const std::string& dir, const std::set<std::string>& known) {
  std::set<std::string> out;
  for (const auto& n : list_dir(dir)) {
    for (size_t i = 0; i < n.size(); ++i) {
      if (!ts_at(n, i)) continue;
      if (!known.count(n.substr(i, 16))) out.insert(n.substr(i, 16));
      break;
    }
  }
  return out;
}

// A process started in its own process group, output to a file.
class Group {
 public:
  Group(const std::vector<std::string>& argv, const std::vector<std::string>& env,
        const std::string& cwd, const std::string& out)
      : out_(out) {
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) envs.push_back(*e);
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    ::unlink(out.c_str());  // no stale output from an earlier run to match
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int null = ::open("/dev/null", O_RDONLY);
      if (fd < 0 || null < 0 || ::chdir(cwd.c_str()) != 0) _exit(127);
      ::dup2(null, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execve(cargv[0], cargv.data(), cenv.data());
      _exit(127);
    }
    if (pid_ > 0) ::setpgid(pid_, pid_);  // either side may win the race
  }
  ~Group() { kill_all(); }

  // Waits until the leader is stopped (state T in /proc/<pid>/stat).
  bool wait_stopped(double seconds) {
    return poll(seconds, [&] {
      std::string stat;
      try {
        stat = read_file("/proc/" + std::to_string(pid_) + "/stat");
      } catch (...) {
        return false;
      }
      size_t paren = stat.rfind(')');
      return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T';
    });
  }
  // Waits until the output contains text.
  bool wait_output(const std::string& text, double seconds) {
    return poll(seconds, [&] { return contains(output(), text); });
  }
  std::string output() const {
    try {
      return read_file(out_);
    } catch (...) {
      return "";
    }
  }
  // Lets a stopped group go on (or signals it) and waits for the leader's
  // exit status.
  int resume_and_wait(int sig = SIGCONT) {
    if (pid_ <= 0) return -1;
    ::kill(-pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // Signals the leader alone (not its children) and waits for its exit status.
  int signal_leader_and_wait(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  // Sends sig to the whole group (a stopped group keeps it pending).
  void signal(int sig) const {
    if (pid_ > 0) ::kill(-pid_, sig);
  }
  // kill -9 of the whole group, then reap the leader.
  void kill_all() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  template <typename F>
  bool poll(double seconds, F done) {
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (done()) return true;
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // it ended instead
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  pid_t pid_ = -1;
  std::string out_;
};

struct KillPoint {
  const char* name;
  std::vector<std::string> env;
  bool stop;        // SIFSTORE_DEBUG_STOP_AT: wait for the stop; else for the hang
  bool now_latest;  // the killed build is latest afterwards
  bool published;   // the killed build's image is visible afterwards
};

void PrintTo(const KillPoint& p, std::ostream* os) { *os << p.name; }

const KillPoint kKillPoints[] = {
    {"reserved", {"SIFSTORE_DEBUG_STOP_AT=reserved"}, true, false, false},
    {"builder", {"SIFSTORE_STANDIN_HANG=60"}, false, false, false},
    {"builder_writing",
     {"SIFSTORE_STANDIN_HANG=60", "SIFSTORE_STANDIN_HANG_AT=sif"},
     false,
     false,
     false},
    {"built", {"SIFSTORE_DEBUG_STOP_AT=built"}, true, false, false},
    {"captured", {"SIFSTORE_DEBUG_STOP_AT=captured"}, true, false, false},
    {"sealed", {"SIFSTORE_DEBUG_STOP_AT=sealed"}, true, false, false},
    {"publishing", {"SIFSTORE_DEBUG_STOP_AT=publishing"}, true, false, false},
    // The last two publish the build (BuildKillDebris leaves them out).
    {"renamed", {"SIFSTORE_DEBUG_STOP_AT=renamed"}, true, false, true},
    {"pointed", {"SIFSTORE_DEBUG_STOP_AT=pointed"}, true, true, true},
};

class BuildKill : public BuildChainTest, public ::testing::WithParamInterface<KillPoint> {
 protected:
  // Starts a build of `base` that is killed at the point; returns the
  // killed build's <ts>.
  std::string killed_build(const KillPoint& p, const std::set<std::string>& known) {
    Group g(argv(build_args("base", "base.def")), env(p.env), t.path(), t / "killed.out");
    bool reached = p.stop ? g.wait_stopped(30) : g.wait_output("SIFSTORE_STANDIN_HANG", 30);
    EXPECT_TRUE(reached) << "the build did not reach " << p.name << ":\n" << g.output();
    g.kill_all();
    auto fresh = new_ts(root + "/base", known);
    EXPECT_EQ(fresh.size(), 1u) << "files of the killed build";
    return fresh.empty() ? "" : *fresh.begin();
  }
};

TEST_P(BuildKill, LeavesTheStoreConsistentAndFsckRepairs) {
  const KillPoint& p = GetParam();
  std::string ts1 = build_ok("base");
  ASSERT_FALSE(ts1.empty());
  std::string ts = killed_build(p, {ts1});
  ASSERT_FALSE(ts.empty());

  EXPECT_EQ(latest("base"), p.now_latest ? ts : ts1);
  expect_every_sif_complete("base");
  EXPECT_EQ(exists(artifact("base", ts, "sif")), p.published);
  EXPECT_EQ(builds("base").size(), p.published ? 2u : 1u);

  RunResult r = cli({"fsck"});
  if (p.now_latest) {
    EXPECT_EQ(r.status, 0) << r.out << r.err;  // nothing was left over
  } else {
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, ts)) << r.out;
  }
  r = cli({"fsck", "--repair"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, " 0 findings")) << r.out;
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
  EXPECT_EQ(latest("base"), p.now_latest ? ts : ts1);
  expect_every_sif_complete("base");
  if (!p.published) {
    for (const char* ext : {"sif", "lock", "def", "rough.def"})
      EXPECT_FALSE(exists(artifact("base", ts, ext))) << ext;
  }

  // The store is usable: the next build publishes and becomes latest. (It
  // may reuse the killed build's <ts> when nothing of that build is left.)
  std::string ts3 = build_ok("base");
  EXPECT_GE(ts3, ts);
  EXPECT_EQ(latest("base"), ts3);
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
}

// The points where a kill leaves debris (the build was not published).
class BuildKillDebris : public BuildKill {};

TEST_P(BuildKillDebris, TheNextBuildClearsTheDebris) {
  const KillPoint& p = GetParam();
  std::string ts1 = build_ok("base");
  std::string ts = killed_build(p, {ts1});
  ASSERT_FALSE(ts.empty());
  EXPECT_FALSE(hidden_files("base").empty());  // there is debris to clear
  std::string ts3 = build_ok("base");
  EXPECT_EQ(latest("base"), ts3);
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
  if (ts3 != ts) {  // the killed build's <ts> is reused when nothing of it is left
    for (const char* ext : {"sif", "lock", "def", "rough.def"})
      EXPECT_FALSE(exists(artifact("base", ts, ext))) << ext;
  }
  EXPECT_EQ(builds("base"), (std::vector<std::string>{ts3, ts1}));
}

auto point_name = [](const auto& info) { return std::string(info.param.name); };
INSTANTIATE_TEST_SUITE_P(Points, BuildKill, ::testing::ValuesIn(kKillPoints), point_name);
INSTANTIATE_TEST_SUITE_P(Points, BuildKillDebris,
                         ::testing::ValuesIn(std::begin(kKillPoints), std::end(kKillPoints) - 2),
                         point_name);

using BuildFailure = BuildChainTest;

// kill -9 during the round-trip rebuild of `sifstore verify`: no marker, and
// the rebuild is debris that fsck reports and repairs, and the next build
// clears.
TEST_F(BuildFailure, KilledVerifyLeavesDebrisThatIsCleared) {
  std::string ts1 = build_ok("base");
  auto kill_verify = [&] {
    Group g(argv({"verify", "base", "--builder", kStandin}),
            env({"SIFSTORE_STANDIN_HANG=60", "SIFSTORE_STANDIN_HANG_AT=sif"}), t.path(),
            t / "verify.out");
    EXPECT_TRUE(g.wait_output("SIFSTORE_STANDIN_HANG", 30)) << g.output();
    g.kill_all();
    EXPECT_FALSE(hidden_files("base").empty());  // the half-written rebuild
  };
  kill_verify();
  EXPECT_EQ(latest("base"), ts1);
  EXPECT_FALSE(exists(artifact("base", ts1, "verified")));
  EXPECT_FALSE(exists(artifact("base", ts1, "unverified")));
  auto r = cli({"fsck"});
  EXPECT_EQ(r.status, 1) << r.out;
  r = cli({"fsck", "--repair"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 0) << r.out;

  kill_verify();
  std::string ts2 = build_ok("base");
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
  EXPECT_EQ(builds("base"), (std::vector<std::string>{ts2, ts1}));
  r = cli({"verify", "base", ts1, "--builder", kStandin});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(exists(artifact("base", ts1, "verified")));
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
}

// A verify that does not complete its comparison -- interrupted (Ctrl-C to
// the group, SIGTERM to sifstore alone), killed, or failing in the builder
// -- leaves a verified build verified: "could not verify", exit 1, and
// `check --require-verified` still passes.
TEST_F(BuildFailure, AnUnfinishedVerifyLeavesTheMarker) {
  std::string ts = build_ok("base", "base.def", {"--verify"});
  ASSERT_TRUE(exists(artifact("base", ts, "verified")));
  std::string marker = read_file(artifact("base", ts, "verified"));
  auto expect_unchanged = [&](const std::string& how) {
    SCOPED_TRACE(how);
    EXPECT_EQ(read_file(artifact("base", ts, "verified")), marker);
    EXPECT_FALSE(exists(artifact("base", ts, "unverified")));
    auto r = cli({"check", "base", "--require-verified"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, artifact("base", ts, "sif") + "\n");
  };
  std::string could_not = "sifstore: error: could not verify base-" + ts + ": ";
  for (int sig : {SIGINT, SIGTERM}) {
    Group g(argv({"verify", "base", "--builder", kStandin}), env({"SIFSTORE_STANDIN_HANG=60"}),
            t.path(), t / "verify.out");
    ASSERT_TRUE(g.wait_output("SIFSTORE_STANDIN_HANG", 30)) << g.output();
    int status = sig == SIGINT ? g.resume_and_wait(SIGINT) : g.signal_leader_and_wait(SIGTERM);
    EXPECT_EQ(status, 1) << g.output();
    EXPECT_TRUE(contains(g.output(), could_not + "the rebuild from the locked def interrupted"))
        << g.output();
    EXPECT_TRUE(contains(g.output(), "(its marker is unchanged)")) << g.output();
    expect_unchanged(strsignal(sig));
    EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
  }
  {
    Group g(argv({"verify", "base", "--builder", kStandin}), env({"SIFSTORE_STANDIN_HANG=60"}),
            t.path(), t / "verify.out");
    ASSERT_TRUE(g.wait_output("SIFSTORE_STANDIN_HANG", 30)) << g.output();
    g.kill_all();
    expect_unchanged("kill -9");
    ASSERT_EQ(cli({"fsck", "--repair"}).status, 0);
  }
  for (const char* at : {"post", "sif"}) {
    auto r = cli({"verify", "base", "--builder", kStandin},
                 {"SIFSTORE_STANDIN_FAIL=3", std::string("SIFSTORE_STANDIN_FAIL_AT=") + at});
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_TRUE(contains(error_line(r), could_not + "the rebuild from the locked def failed"))
        << r.err;
    expect_unchanged(std::string("builder fails at ") + at);
    EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
  }
  // A build never verified gets no marker from a failed verify either.
  std::string ts2 = build_ok("base");
  auto r = cli({"verify", "base", "--builder", kStandin}, {"SIFSTORE_STANDIN_FAIL=3"});
  EXPECT_EQ(r.status, 1);
  EXPECT_FALSE(exists(artifact("base", ts2, "verified")));
  EXPECT_FALSE(exists(artifact("base", ts2, "unverified")));
}

// `build --verify` whose round trip cannot complete: the build stays
// published and latest, without a marker, and the command fails saying so.
TEST_F(BuildFailure, BuildVerifyThatCannotCompleteKeepsTheBuild) {
  // A builder whose rebuilds from a locked def fail (the build's own def is
  // the hidden .build.def).
  std::string wrapper = t / "rebuild-fails";
  write_file(wrapper,
             "#!/bin/sh\nfor a; do last=$a; done\n"
             "case \"$1:$last\" in build:*.build.def|--version:*) ;;\n"
             "build:*) echo 'rebuild-fails: no' >&2; exit 3;; esac\n"
             "exec " +
                 kStandin + " \"$@\"\n");
  ::chmod(wrapper.c_str(), 0755);
  auto r = cli({"build", "base", "--def", "base.def", "--builder", wrapper, "--verify", "-q"});
  EXPECT_EQ(r.status, 1) << r.out;
  std::string err = error_line(r);
  auto all = builds("base");
  ASSERT_EQ(all.size(), 1u) << r.err;
  std::string ts = all[0];
  EXPECT_EQ(latest("base"), ts);
  EXPECT_TRUE(contains(err, "base-" + ts + " was built and published, but could not verify base-" +
                                ts + ": the rebuild from the locked def failed"))
      << err;
  EXPECT_FALSE(exists(artifact("base", ts, "verified")));
  EXPECT_FALSE(exists(artifact("base", ts, "unverified")));
  expect_every_sif_complete("base");
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
}

// A builder that fails leaves the previous latest, nothing visible but the
// failed build's log, and an error that names the log.
TEST_F(BuildFailure, FailingBuilderLeavesOnlyItsLog) {
  std::string ts1 = build_ok("base");
  for (const char* at : {"post", "sif"}) {
    SCOPED_TRACE(at);
    auto before = snapshot(root);
    std::set<std::string> known = new_ts(root + "/base", {});
    auto r = build("base", "base.def", {},
                   {"SIFSTORE_STANDIN_FAIL=1", std::string("SIFSTORE_STANDIN_FAIL_AT=") + at});
    EXPECT_EQ(r.status, 1);
    std::string err = error_line(r);
    EXPECT_TRUE(contains(err, "build of base failed")) << r.err;
    auto fresh = new_ts(root + "/base", known);
    ASSERT_EQ(fresh.size(), 1u);
    std::string ts = *fresh.begin();
    std::string log = artifact("base", ts, "build.log");
    EXPECT_TRUE(contains(err, log)) << err;
    EXPECT_TRUE(contains(read_file(log), "SIFSTORE_STANDIN_FAIL")) << read_file(log);
    auto after = snapshot(root);
    after.erase("base/base-" + ts + ".build.log");
    EXPECT_EQ(after, before);
    EXPECT_EQ(latest("base"), ts1);
  }
}

// The log a failed build keeps is there for the user to read: fsck notes it
// and still passes; --repair removes it. An orphan beside it (a lock
// without its image) is still a problem.
TEST_F(BuildFailure, FsckNotesAFailedBuildsLogAndPasses) {
  std::string ts1 = build_ok("base");
  std::set<std::string> known = new_ts(root + "/base", {});
  auto r = build("base", "base.def", {}, {"SIFSTORE_STANDIN_FAIL=1"});
  ASSERT_EQ(r.status, 1) << r.err;
  auto fresh = new_ts(root + "/base", known);
  ASSERT_EQ(fresh.size(), 1u);
  std::string log = artifact("base", *fresh.begin(), "build.log");
  ASSERT_TRUE(exists(log));
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, log + ": note: orphan: the log of a failed build")) << r.out;
  EXPECT_TRUE(contains(r.out, " 1 findings, 0 unrepaired")) << r.out;
  r = cli({"fsck", "--json"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  auto findings = nlohmann::json::parse(r.out).at("findings");
  ASSERT_EQ(findings.size(), 1u) << r.out;
  EXPECT_EQ(findings[0].at("note"), true);
  // A lock without its image is a problem, not a note.
  write_file(artifact("base", "2026-0101-000000", "lock"), "# scitex-container lock\n");
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  ::unlink(artifact("base", "2026-0101-000000", "lock").c_str());
  r = cli({"fsck", "--repair"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_FALSE(exists(log));
  EXPECT_EQ(latest("base"), ts1);
}

// SIGTERM (or Ctrl-C) while the builder runs: the builder is told, the
// build gives up cleanly; only its log stays.
TEST_F(BuildFailure, TerminatedBuildCleansUp) {
  std::string ts1 = build_ok("base");
  auto before = snapshot(root);
  std::set<std::string> known = new_ts(root + "/base", {});
  Group g(argv(build_args("base", "base.def")), env({"SIFSTORE_STANDIN_HANG=60"}), t.path(),
          t / "term.out");
  ASSERT_TRUE(g.wait_output("SIFSTORE_STANDIN_HANG", 30)) << g.output();
  EXPECT_EQ(g.resume_and_wait(SIGTERM), 1) << g.output();
  EXPECT_TRUE(contains(g.output(), "sifstore: error: build of base interrupted")) << g.output();
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
  EXPECT_EQ(latest("base"), ts1);
  auto fresh = new_ts(root + "/base", known);
  ASSERT_EQ(fresh.size(), 1u);
  auto after = snapshot(root);
  after.erase("base/base-" + *fresh.begin() + ".build.log");
  EXPECT_EQ(after, before);
  EXPECT_EQ(list_dir(tmp), std::vector<std::string>{});  // the builder cleaned up too
}

using BuildConcurrent = BuildChainTest;

// The layer lock is not held while a build is between its steps: another
// build, a prune and a pointer move go on meanwhile; the older build then
// publishes without taking latest from the newer one.
// SIGINT, SIGTERM or SIGHUP arriving while the three pointers move (here:
// between the `.def` and the `.sif` renames) is held back until all three
// name the new build, then ends the process: never a `.lock` of one build
// beside a `.sif` of another.
TEST_F(BuildConcurrent, AnInterruptDuringThePointerMoveWaitsForAllThree) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    SCOPED_TRACE(sig);
    std::string ts0 = build_ok("base");
    std::set<std::string> known = new_ts(root + "/base", {});
    Group a(argv(build_args("base", "base.def")), env({"SIFSTORE_DEBUG_STOP_AT=pointing"}),
            t.path(), t / "a.out");
    ASSERT_TRUE(a.wait_stopped(30)) << a.output();
    auto fresh = new_ts(root + "/base", known);
    ASSERT_EQ(fresh.size(), 1u);
    std::string ts = *fresh.begin();
    EXPECT_EQ(latest("base"), ts0);  // stopped before `.sif` moved
    a.signal(sig);
    EXPECT_EQ(a.resume_and_wait(), 128 + sig) << a.output();
    EXPECT_EQ(latest("base"), ts);
    EXPECT_EQ(link_target(root + "/base.lock"), "base/base-" + ts + ".lock");
    EXPECT_EQ(link_target(root + "/base.def"), "base/base-" + ts + ".def");
    auto r = cli({"fsck"});
    EXPECT_FALSE(contains(r.out, "pointer")) << r.out;
  }
}

TEST_F(BuildConcurrent, AnOlderBuildFinishingLastLeavesLatestOnTheNewer) {
  std::string ts0 = build_ok("base");
  Group a(argv(build_args("base", "base.def", {"--stamp", t / "a.stamp"})),
          env({"SIFSTORE_DEBUG_STOP_AT=built"}), t.path(), t / "a.out");
  ASSERT_TRUE(a.wait_stopped(30)) << a.output();
  auto fresh = new_ts(root + "/base", {ts0});
  ASSERT_EQ(fresh.size(), 1u);
  std::string ts_a = *fresh.begin();

  std::string ts_b = build_ok("base");  // not blocked by the stopped build
  EXPECT_GT(ts_b, ts_a);
  EXPECT_EQ(latest("base"), ts_b);
  auto r = cli({"prune", "base", "--retain", "0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, ts0 + "\n");  // the build in progress is not touched
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 0) << r.out;  // a live build is not debris

  EXPECT_EQ(a.resume_and_wait(), 0) << a.output();
  EXPECT_TRUE(contains(a.output(), "latest left on a newer build")) << a.output();
  EXPECT_EQ(latest("base"), ts_b);
  EXPECT_EQ(link_target(root + "/base.lock"), "base/base-" + ts_b + ".lock");
  EXPECT_EQ(link_target(root + "/base.def"), "base/base-" + ts_b + ".def");
  // Published, so stamped: Ninja need not build it again.
  EXPECT_TRUE(contains(read_file(t / "a.stamp"), "latest left on a newer build"));
  EXPECT_EQ(builds("base"), (std::vector<std::string>{ts_b, ts_a}));
  expect_every_sif_complete("base");
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
}

// Prune of a base layer while a build FROM it is running (docs/DESIGN.md#prune:
// a base is kept like a GC root; #concurrency: builds never block prune).
class PruneDuringFromBuild : public BuildChainTest {
 protected:
  bool has_base(const std::string& ts) const {
    auto b = builds("base");
    return std::find(b.begin(), b.end(), ts) != b.end();
  }
};

// Once the running build has handed its def to the builder, prune keeps the
// base it names, however old; the build publishes a def whose From: exists.
TEST_F(PruneDuringFromBuild, KeepsTheBaseOfARunningBuild) {
  std::string base1 = build_ok("base");
  ASSERT_FALSE(base1.empty());
  write_file(t / "app.def", "Bootstrap: localimage\nFrom: containers/base.sif\n");
  Group g(argv(build_args("app", "app.def", {"--from", "base", "--json"})),
          env({"SIFSTORE_DEBUG_STOP_AT=built"}), t.path(), t / "app.out");
  ASSERT_TRUE(g.wait_stopped(30)) << g.output();
  std::string base2 = build_ok("base");
  ASSERT_EQ(latest("base"), base2);
  RunResult r = cli({"prune", "base", "--retain", "0", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(has_base(base1)) << r.out;
  ASSERT_EQ(g.resume_and_wait(), 0) << g.output();
  auto app = builds("app");
  ASSERT_EQ(app.size(), 1u);
  std::string exact = root + "/base/base-" + base1 + ".sif";
  EXPECT_TRUE(contains(read_file(artifact("app", app[0], "def")), "From: " + exact + "\n"));
  EXPECT_TRUE(exists(exact));
  // Published, the app's locked def keeps pinning it.
  EXPECT_EQ(cli({"prune", "base", "--retain", "0"}).status, 0);
  EXPECT_TRUE(has_base(base1));
  r = cli({"check", "app"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(cli({"fsck"}).status, 0);
}

// A prune that removed the base before the build def was written: the build
// notices under the base layer's lock and stops before the builder runs.
TEST_F(PruneDuringFromBuild, ABasePrunedAsTheBuildStartsIsAClearError) {
  std::string base1 = build_ok("base");
  ASSERT_FALSE(base1.empty());
  write_file(t / "app.def", "Bootstrap: localimage\nFrom: containers/base.sif\n");
  Group g(argv(build_args("app", "app.def", {"--from", "base"})),
          env({"SIFSTORE_DEBUG_STOP_AT=reserved"}), t.path(), t / "app.out");
  ASSERT_TRUE(g.wait_stopped(30)) << g.output();
  build_ok("base");
  ASSERT_EQ(cli({"prune", "base", "--retain", "0"}).status, 0);
  ASSERT_FALSE(has_base(base1));
  EXPECT_EQ(g.resume_and_wait(), 1) << g.output();
  EXPECT_TRUE(contains(g.output(), "sifstore: error: base image " + root + "/base/base-" + base1 +
                                       ".sif was pruned as the build of app started"))
      << g.output();
  EXPECT_TRUE(builds("app").empty());
  EXPECT_EQ(hidden_files("app"), std::vector<std::string>{});
}

}  // namespace
}  // namespace sifstore::test
