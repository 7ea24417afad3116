// Input-addressed reuse (core/input_key.h): a build whose input key equals
// a published build's reuses it and runs no builder; --rebuild, a changed
// %files source, a changed base or a damaged image build anew.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli/build_fixture.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

const char* kMidDef = R"(Bootstrap: localimage
From: containers/base.sif

%post
    pip install pyyaml
)";

const char* kOtherDef = R"(Bootstrap: scratch

%post
    apt-get install -y zlib1g
)";

class BuildReuse : public BuildChainTest {
 protected:
  void SetUp() override {
    BuildChainTest::SetUp();
    builds_log = t / "builder.log";
    // The stand-in behind a wrapper that records every `build` it runs.
    write_file(t / "builder.sh", "#!/bin/sh\nif [ \"$1\" = build ]; then echo \"$*\" >>'" +
                                     builds_log + "'; fi\nexec '" + kStandin + "' \"$@\"\n");
    ::chmod((t / "builder.sh").c_str(), 0755);
    write_file(t / "mid.def", kMidDef);
    write_file(t / "other.def", kOtherDef);
  }

  // The builder runs so far.
  int builder_runs() const {
    if (!exists(builds_log)) return 0;
    std::string text = read_file(builds_log);
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

  RunResult go(const std::string& layer, const std::string& def,
               const std::vector<std::string>& more = {}) const {
    std::vector<std::string> a = {"build", layer, "--def", def, "--builder", t / "builder.sh"};
    a.insert(a.end(), more.begin(), more.end());
    return cli(a);
  }
  json go_json(const std::string& layer, const std::string& def,
               std::vector<std::string> more = {}) const {
    more.push_back("--json");
    RunResult r = go(layer, def, more);
    EXPECT_EQ(r.status, 0) << r.err;
    if (r.status != 0) return json::object();
    return json::parse(r.out);
  }

  std::string builds_log;
};

TEST_F(BuildReuse, ASecondBuildOfTheSameInputsReusesTheFirst) {
  json first = go_json("base", "base.def");
  ASSERT_EQ(builder_runs(), 1);
  EXPECT_FALSE(first["reused"].get<bool>());
  const std::string ts = first["ts"];
  const std::string key = first["input_key"];
  EXPECT_EQ(key.size(), 64u);
  EXPECT_NE(read_file(artifact("base", ts, "lock")).find("# input-key: " + key + "\n"),
            std::string::npos);

  RunResult r = go("base", "base.def", {"--stamp", t / "base.stamp", "--depfile", t / "base.d"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(builder_runs(), 1) << "the reuse ran the builder";
  EXPECT_TRUE(contains(r.out, "sifstore: reused base-" + ts + " (same input key)")) << r.out;
  EXPECT_EQ(builds("base").size(), 1u);
  EXPECT_EQ(latest("base"), ts);
  // Ninja's outputs are written as a build writes them.
  EXPECT_TRUE(contains(read_file(t / "base.stamp"), "reused base-" + ts));
  std::string depfile = read_file(t / "base.d");
  EXPECT_TRUE(contains(depfile, "data/hello.txt")) << depfile;
  EXPECT_TRUE(contains(depfile, "base.def")) << depfile;
  EXPECT_TRUE(hidden_files("base").empty());
}

TEST_F(BuildReuse, ReuseMovesLatestBackToTheBuildOfTheSameInputs) {
  const std::string ts1 = go_json("base", "base.def")["ts"];
  write_file(t / "data/hello.txt", "changed\n");
  const std::string ts2 = go_json("base", "base.def")["ts"];
  ASSERT_NE(ts1, ts2);
  EXPECT_EQ(builder_runs(), 2);
  write_file(t / "data/hello.txt", "hello\n");
  json back = go_json("base", "base.def");
  EXPECT_TRUE(back["reused"].get<bool>());
  EXPECT_EQ(back["ts"], ts1);
  EXPECT_EQ(latest("base"), ts1);
  EXPECT_EQ(builder_runs(), 2);
  EXPECT_EQ(cli({"check", "base"}).status, 0);
}

TEST_F(BuildReuse, RebuildBuildsAnew) {
  const std::string ts1 = go_json("base", "base.def")["ts"];
  json again = go_json("base", "base.def", {"--rebuild"});
  EXPECT_FALSE(again["reused"].get<bool>());
  EXPECT_NE(again["ts"], ts1);
  EXPECT_EQ(again["input_key"], go_json("base", "base.def")["input_key"]);
  EXPECT_EQ(builder_runs(), 2);
  EXPECT_EQ(builds("base").size(), 2u);
}

TEST_F(BuildReuse, AStorePolicyTurnsReuseOff) {
  go_json("base", "base.def");
  write_file(root + "/config.yaml", "build:\n  reuse: false\n");
  EXPECT_FALSE(go_json("base", "base.def")["reused"].get<bool>());
  EXPECT_EQ(builder_runs(), 2);
  write_file(root + "/config.yaml", "build:\n  reuse: true\n");
  EXPECT_TRUE(go_json("base", "base.def")["reused"].get<bool>());
  EXPECT_EQ(builder_runs(), 2);

  write_file(root + "/config.yaml", "images:\n  retain: 3\nbuild:\n  reuse: sometimes\n");
  auto before = snapshot(root);
  RunResult r = go("base", "base.def");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(error_line(r),
                       "config.yaml:4: build.reuse must be true or false, not "
                       "'sometimes'"))
      << r.err;
  EXPECT_EQ(snapshot(root), before);
  EXPECT_EQ(builder_runs(), 2);
}

TEST_F(BuildReuse, AChangedFilesSourceRebuildsThatLayerAndTheLayersFromIt) {
  go_json("base", "base.def");
  go_json("mid", "mid.def", {"--from", "base"});
  go_json("other", "other.def");
  ASSERT_EQ(builder_runs(), 3);
  // The same inputs again: nothing is built.
  for (auto [layer, def] :
       {std::pair{"base", "base.def"}, {"mid", "mid.def"}, {"other", "other.def"}}) {
    std::vector<std::string> more;
    if (std::string(layer) == "mid") more = {"--from", "base"};
    EXPECT_TRUE(go_json(layer, def, more)["reused"].get<bool>()) << layer;
  }
  EXPECT_EQ(builder_runs(), 3);

  write_file(t / "data/hello.txt", "hello again\n");
  EXPECT_FALSE(go_json("base", "base.def")["reused"].get<bool>());
  EXPECT_FALSE(go_json("mid", "mid.def", {"--from", "base"})["reused"].get<bool>())
      << "mid is built FROM a base with another sha256";
  EXPECT_TRUE(go_json("other", "other.def")["reused"].get<bool>());
  EXPECT_EQ(builder_runs(), 5);
}

TEST_F(BuildReuse, AFileModeChangeRebuilds) {
  go_json("base", "base.def");
  ::chmod((t / "data/hello.txt").c_str(), 0600);
  EXPECT_FALSE(go_json("base", "base.def")["reused"].get<bool>());
  EXPECT_EQ(builder_runs(), 2);
}

TEST_F(BuildReuse, OtherBuilderArgumentsRebuild) {
  go_json("base", "base.def");
  EXPECT_FALSE(go_json("base", "base.def", {"--builder-arg=--notest"})["reused"].get<bool>());
  EXPECT_TRUE(go_json("base", "base.def", {"--builder-arg=--notest"})["reused"].get<bool>());
  EXPECT_EQ(builder_runs(), 2);
}

TEST_F(BuildReuse, ADamagedImageIsNeverReused) {
  const std::string ts = go_json("base", "base.def")["ts"];
  // Same size, one byte changed, mtime restored: only ctime tells.
  std::string sif = artifact("base", ts, "sif");
  struct stat st;
  ASSERT_EQ(::stat(sif.c_str(), &st), 0);
  std::string bytes = read_file(sif);
  bytes[bytes.size() / 2] ^= 0x55;
  write_file(sif, bytes);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ::utimensat(AT_FDCWD, sif.c_str(), times, 0);
  json again = go_json("base", "base.def");
  EXPECT_FALSE(again["reused"].get<bool>());
  EXPECT_NE(again["ts"], ts);
  EXPECT_EQ(builder_runs(), 2);
}

// --verify with a reused build verifies it once: a build already marked
// verified is not rebuilt again.
TEST_F(BuildReuse, VerifyOfAReusedBuild) {
  const std::string ts = go_json("base", "base.def")["ts"];
  json j = go_json("base", "base.def", {"--verify"});
  EXPECT_TRUE(j["reused"].get<bool>());
  EXPECT_EQ(j["ts"], ts);
  EXPECT_TRUE(j["verify"]["identical"].get<bool>()) << j.dump();
  EXPECT_TRUE(exists(artifact("base", ts, "verified")));
  EXPECT_EQ(builder_runs(), 2) << "the reuse's round trip rebuilds once";
  j = go_json("base", "base.def", {"--verify"});
  EXPECT_TRUE(j["reused"].get<bool>());
  EXPECT_TRUE(j["verify"].is_null());
  EXPECT_EQ(builder_runs(), 2);
}

// The identities of hashed %files sources are saved by a build that
// publishes (or reuses), not by one that fails: the store stays as it was.
TEST_F(BuildReuse, TheSourceCacheIsWrittenByPublishedBuildsOnly) {
  const std::string cache = root + "/.sifstore-source-identities";
  RunResult failed = cli({"build", "base", "--def", "base.def", "--builder", t / "builder.sh"},
                         {"SIFSTORE_STANDIN_FAIL=1"});
  ASSERT_EQ(failed.status, 1) << failed.err;
  EXPECT_FALSE(exists(cache));
  go_json("base", "base.def");
  ASSERT_TRUE(exists(cache));
  EXPECT_TRUE(contains(read_file(cache), t / "data/hello.txt")) << read_file(cache);
}

TEST_F(BuildReuse, ATamperedLockIsNeverReused) {
  const std::string ts = go_json("base", "base.def")["ts"];
  std::string lock = artifact("base", ts, "lock");
  write_file(lock, read_file(lock) + "\n");
  EXPECT_FALSE(go_json("base", "base.def")["reused"].get<bool>());
  EXPECT_EQ(builder_runs(), 2);
}

}  // namespace
}  // namespace sifstore::test
