// Holds: `check --hold` keeps the build it prints from prune while the hold
// is live (a time, or a Slurm job that squeue lists), `holds` lists them,
// fsck --repair drops dead and orphan ones. Slurm is faked by a `squeue`
// script on PATH; no real Slurm is needed.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "support/store_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

const std::string kT1 = "2026-0101-000001";
const std::string kT2 = "2026-0101-000002";
const std::string kT3 = "2026-0101-000003";

// A fake squeue: prints the state in $dir/state, or fails as $dir/fail says,
// or hangs (a controller that does not answer) while $dir/hang exists.
const char* const kFakeSqueue = R"(#!/bin/sh
dir=${0%/*}
echo "$@" >> "$dir/calls"
if [ -f "$dir/hang" ]; then exec /bin/sleep 60; fi
if [ -f "$dir/fail" ]; then /bin/cat "$dir/fail" >&2; exit 1; fi
/bin/cat "$dir/state"
)";

class Holds : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& ts : {kT1, kT2, kT3}) make_build(t / "store", "base", ts);
    make_pointer(t / "store", "base", "base/base-" + kT3 + ".sif");
    write_file(t / "bin/squeue", kFakeSqueue);
    ::chmod((t / "bin/squeue").c_str(), 0755);
    write_file(t / "bin/state", "PENDING\n");
    ::mkdir((t / "empty").c_str(), 0755);
  }
  // sifstore with PATH = `path` (t/bin: the fake squeue; t/empty: no squeue).
  RunResult cli(const std::vector<std::string>& args, const std::string& path,
                const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {"/usr/bin/env", "-u", "SLURM_JOB_ID", "PATH=" + path};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(SIFSTORE_EXE);
    argv.push_back("--root");
    argv.push_back(t / "store");
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  std::vector<std::string> hold_files() {
    std::vector<std::string> out;
    for (const auto& n : list_dir(t / "store/base"))
      if (n.find(".hold.") != std::string::npos) out.push_back(n);
    return out;
  }
  // Holds T3, then moves latest to T1 so that only the hold keeps T3.
  void hold_newest(const std::vector<std::string>& hold_args, const std::string& path,
                   const std::vector<std::string>& env = {}) {
    std::vector<std::string> args = {"check", "base", "--hold"};
    args.insert(args.end(), hold_args.begin(), hold_args.end());
    auto r = cli(args, path, env);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("base-" + kT3 + ".sif"), std::string::npos) << r.out;
    ASSERT_EQ(cli({"point-latest", "base", kT1}, path).status, 0);
  }
  std::string prune(const std::string& path) {
    auto r = cli({"prune", "base", "--retain", "0"}, path);
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  }
  TempDir t;
};

TEST_F(Holds, TimeHoldKeepsTheBuildUntilItExpires) {
  hold_newest({"--until", "1h"}, t / "empty");
  ASSERT_EQ(hold_files().size(), 1u);
  EXPECT_EQ(hold_files()[0].rfind(".base-" + kT3 + ".hold.t", 0), 0u) << hold_files()[0];
  EXPECT_EQ(prune(t / "empty"), kT2 + "\n");  // T3 held, T1 active
  EXPECT_TRUE(exists(t / ("store/base/base-" + kT3 + ".sif")));
  auto r = cli({"holds", "--json"}, t / "empty");
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["ts"], kT3);
  EXPECT_EQ(j[0]["state"], "live");
  EXPECT_TRUE(j[0]["job"].is_null());
  EXPECT_EQ(cli({"fsck"}, t / "empty").status, 0);
}

TEST_F(Holds, ExpiredHoldKeepsNothingAndGoesWithTheBuild) {
  hold_newest({"--until", "@1"}, t / "empty");
  ASSERT_EQ(hold_files().size(), 1u);
  auto r = cli({"holds", "base"}, t / "empty");
  EXPECT_NE(r.out.find("dead"), std::string::npos) << r.out;
  EXPECT_EQ(prune(t / "empty"), kT3 + "\n" + kT2 + "\n");
  EXPECT_EQ(hold_files(), std::vector<std::string>{});
}

TEST_F(Holds, DefaultHoldLastsADay) {
  hold_newest({}, t / "empty");
  auto r = cli({"holds", "base", "--json"}, t / "empty");
  json j = json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  int64_t span = j[0]["until"].get<int64_t>() - j[0]["created"].get<int64_t>();
  EXPECT_EQ(span, 24 * 3600);
}

TEST_F(Holds, SlurmJobHoldLivesWhileSqueueListsTheJob) {
  // The until time is past: with squeue on PATH only the job counts.
  hold_newest({"--job", "4242", "--until", "@1"}, t / "bin");
  EXPECT_EQ(hold_files(), std::vector<std::string>{".base-" + kT3 + ".hold.4242"});
  EXPECT_EQ(prune(t / "bin"), kT2 + "\n");
  EXPECT_NE(read_file(t / "bin/calls").find("-h -j 4242"), std::string::npos);
  write_file(t / "bin/state", "RUNNING\n");
  EXPECT_EQ(prune(t / "bin"), "");
  // squeue cannot reach the controller: unknown, the build is kept.
  write_file(t / "bin/fail", "squeue: error: Unable to contact slurm controller\n");
  EXPECT_EQ(prune(t / "bin"), "");
  auto r = cli({"holds", "--json"}, t / "bin");
  EXPECT_EQ(json::parse(r.out)[0]["state"], "unknown") << r.out;
  // The job ended: squeue lists it COMPLETED, then no longer knows it.
  ::unlink((t / "bin/fail").c_str());
  write_file(t / "bin/state", "COMPLETED\n");
  r = cli({"holds", "--json"}, t / "bin");
  EXPECT_EQ(json::parse(r.out)[0]["state"], "dead") << r.out;
  write_file(t / "bin/fail", "slurm_load_jobs error: Invalid job id specified\n");
  EXPECT_EQ(prune(t / "bin"), kT3 + "\n");
  EXPECT_EQ(hold_files(), std::vector<std::string>{});
}

// squeue runs under the layer lock: one that does not answer is killed
// after 5 s, its hold keeps the build (saying so), and the prune asks it
// nothing more, so a second held job costs no second timeout.
TEST_F(Holds, SqueueThatHangsKeepsTheBuildAfterATimeout) {
  hold_newest({"--job", "4242", "--until", "@1"}, t / "bin");
  ASSERT_EQ(cli({"point-latest", "base", kT2}, t / "bin").status, 0);
  ASSERT_EQ(cli({"check", "base", "--hold", "--job", "4343", "--until", "@1"}, t / "bin").status,
            0);
  ASSERT_EQ(cli({"point-latest", "base", kT1}, t / "bin").status, 0);
  write_file(t / "bin/hang", "");
  write_file(t / "bin/calls", "");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(prune(t / "bin"), "");  // both held builds kept
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(took, 4.5);
  EXPECT_LT(took, 9.0) << "one timeout per prune, not one per job";
  // Asked once: the older build's job (T2's 4343) first.
  EXPECT_EQ(read_file(t / "bin/calls"), "-h -j 4343 -o %T\n");
  EXPECT_TRUE(exists(t / ("store/base/base-" + kT2 + ".sif")));
  EXPECT_TRUE(exists(t / ("store/base/base-" + kT3 + ".sif")));
  auto r = cli({"holds", "--json"}, t / "bin");
  auto j = json::parse(r.out);
  ASSERT_EQ(j.size(), 2u) << r.out;
  for (const auto& h : j) {
    EXPECT_EQ(h["state"], "unknown") << r.out;
    EXPECT_NE(h["why"].get<std::string>().find("squeue did not answer within 5 s"),
              std::string::npos)
        << r.out;
  }
  // The controller answers again: the jobs ended, the builds go.
  ::unlink((t / "bin/hang").c_str());
  write_file(t / "bin/state", "COMPLETED\n");
  EXPECT_EQ(prune(t / "bin"), kT3 + "\n" + kT2 + "\n");
}

TEST_F(Holds, JobHoldWithoutSlurmUsesTheTime) {
  hold_newest({"--job", "4242", "--until", "1h"}, t / "empty");
  EXPECT_EQ(prune(t / "empty"), kT2 + "\n");
  ASSERT_EQ(cli({"point-latest", "base", kT3}, t / "empty").status, 0);
  hold_newest({"--job", "4242", "--until", "@1"}, t / "empty");  // the same hold, renewed
  EXPECT_EQ(hold_files().size(), 1u);
  EXPECT_EQ(prune(t / "empty"), kT3 + "\n");
}

TEST_F(Holds, JobDefaultsToSlurmJobId) {
  hold_newest({}, t / "bin", {"SLURM_JOB_ID=777"});
  EXPECT_EQ(hold_files(), std::vector<std::string>{".base-" + kT3 + ".hold.777"});
}

TEST_F(Holds, FsckRepairDropsDeadAndOrphanHolds) {
  hold_newest({"--until", "1h"}, t / "empty");
  auto live = hold_files();
  write_file(t / ("store/base/.base-" + kT2 + ".hold.99"),
             "sifstore hold 1\njob \nuntil 1\nhost h\ncreated 1\n");
  write_file(t / "store/base/.base-2020-0101-000000.hold.5", "garbage");
  auto r = cli({"fsck"}, t / "empty");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(".base-" + kT2 + ".hold.99: dead hold"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(".base-2020-0101-000000.hold.5: orphan"), std::string::npos) << r.out;
  r = cli({"fsck", "--repair"}, t / "empty");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(hold_files(), live);
}

TEST_F(Holds, BadInputChangesNothing) {
  auto snap = snapshot(t / "store");
  auto r = cli({"check", "base", "--job", "1"}, t / "empty");
  EXPECT_EQ(r.status, 2) << r.err;
  r = cli({"check", "base", "--hold", "--until", "tomorrow"}, t / "empty");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("sifstore: error: invalid hold time 'tomorrow'"), std::string::npos)
      << r.err;
  r = cli({"check", "base", "--hold", "--job", "../x"}, t / "empty");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("sifstore: error: invalid job id '../x'"), std::string::npos) << r.err;
  r = cli({"holds", "nope"}, t / "empty");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("sifstore: error: layer 'nope' not found"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot(t / "store"), snap);
}

}  // namespace
}  // namespace sifstore::test
