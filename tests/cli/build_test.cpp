// The build chain end to end (docs/DESIGN.md#build-chain): `sifstore build`, `verify`, `check`
// with the stand-in builder. Failure, kill and bad-input cases are in
// build_kill_test.cpp and build_input_test.cpp.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ctime>

#include <fstream>

#include "cli/build_fixture.h"
#include "core/deffile.h"
#include "core/lockfile.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

PackageLock lock_of(const std::string& path) { return parse_lock(read_file(path), path); }

using BuildCli = BuildChainTest;

// Publish moves <layer>.lock, <layer>.def and <layer>.sif to the new build;
// --stamp is written after that, and never by a build that failed.
TEST_F(BuildCli, PublishMovesThePointerTrioAndWritesTheStampLast) {
  ::mkdir((t / "stamps").c_str(), 0755);
  std::string stamp = t / "stamps/base.stamp";
  auto trio_of = [&](const std::string& layer) {
    std::vector<std::string> out;
    for (const char* ext : {"sif", "lock", "def"})
      out.push_back(link_target(root + "/" + layer + "." + ext));
    return out;
  };
  auto expected = [](const std::string& layer, const std::string& ts) {
    std::vector<std::string> out;
    for (const char* ext : {"sif", "lock", "def"})
      out.push_back(layer + "/" + layer + "-" + ts + "." + ext);
    return out;
  };
  std::string ts1 = build_ok("base", "base.def", {"--stamp", stamp});
  ASSERT_FALSE(ts1.empty());
  EXPECT_EQ(trio_of("base"), expected("base", ts1));
  EXPECT_EQ(read_file(root + "/base.lock"), read_file(artifact("base", ts1, "lock")));
  EXPECT_TRUE(contains(read_file(stamp), "sifstore: built base-" + ts1 + ": ")) << read_file(stamp);
  EXPECT_TRUE(contains(read_file(stamp), "latest -> base/base-" + ts1 + ".sif"));

  ASSERT_EQ(::unlink(stamp.c_str()), 0);
  auto r = build("base", "base.def", {"--stamp", stamp}, {"SIFSTORE_STANDIN_FAIL=1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_FALSE(exists(stamp));
  EXPECT_EQ(trio_of("base"), expected("base", ts1));

  std::string ts2 = build_ok("base", "base.def", {"--stamp", stamp});
  EXPECT_EQ(trio_of("base"), expected("base", ts2));
  EXPECT_TRUE(contains(read_file(stamp), "sifstore: built base-" + ts2 + ": "));
  r = cli({"fsck"});  // (its one finding: the failed build's log)
  EXPECT_FALSE(contains(r.out, "pointer")) << r.out;
}

TEST_F(BuildCli, TwoBuildsEachCompleteLatestOnTheNewest) {
  std::string ts1 = build_ok("base");
  ASSERT_FALSE(ts1.empty());
  for (const char* ext : {"sif", "lock", "def", "rough.def", "build.log"})
    EXPECT_TRUE(exists(artifact("base", ts1, ext))) << ext;
  EXPECT_EQ(latest("base"), ts1);
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
  EXPECT_EQ(read_file(artifact("base", ts1, "rough.def")), kBaseDef);
  PackageLock l1 = lock_of(artifact("base", ts1, "lock"));
  EXPECT_EQ(l1.pip, (std::map<std::string, std::string>{{"numpy", "2.1.0"}, {"pyyaml", "6.0.1"}}));
  EXPECT_EQ(l1.dpkg.at("curl"), "7.88.1-10");
  EXPECT_EQ(node_versions(l1.node), (std::map<std::string, std::string>{{"left-pad", "1.3.1"}}));
  EXPECT_EQ(l1.facts.at("captured-by"), "static");
  EXPECT_EQ(l1.facts.at("def-path"), t / "base.def");
  std::string def1 = read_file(artifact("base", ts1, "def"));
  EXPECT_TRUE(contains(def1, "numpy==2.1.0")) << def1;
  EXPECT_TRUE(contains(def1, "pyyaml==6.0.1")) << def1;
  EXPECT_TRUE(contains(read_file(artifact("base", ts1, "build.log")), "Setting up curl"));

  // The index moves on; the second build gets the new versions.
  set_index(index_v2());
  std::string ts2 = build_ok("base");
  ASSERT_FALSE(ts2.empty());
  EXPECT_GT(ts2, ts1);
  for (const char* ext : {"sif", "lock", "def", "rough.def", "build.log"})
    EXPECT_TRUE(exists(artifact("base", ts2, ext))) << ext;
  EXPECT_EQ(latest("base"), ts2);
  EXPECT_EQ(builds("base"), (std::vector<std::string>{ts2, ts1}));
  PackageLock l2 = lock_of(artifact("base", ts2, "lock"));
  EXPECT_EQ(l2.pip.at("numpy"), "2.2.0");
  EXPECT_EQ(l2.dpkg.at("curl"), "8.0.0-1");
  EXPECT_EQ(node_versions(l2.node).at("left-pad"), "1.4.0");
  EXPECT_EQ(lock_of(artifact("base", ts1, "lock")), l1);  // the first build is untouched
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});
}

TEST_F(BuildCli, RetainFromTheOptionAndFromConfig) {
  std::string ts1 = build_ok("base");
  std::string ts2 = build_ok("base");
  auto r = build("base", "base.def", {"--retain", "1", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  std::string ts3 = j["ts"];
  // ts3 is active and does not count; of ts1, ts2 the newest one stays.
  EXPECT_EQ(j["pruned"], json::array({ts1}));
  EXPECT_EQ(builds("base"), (std::vector<std::string>{ts3, ts2}));
  for (const char* ext : {"sif", "lock", "def", "rough.def", "build.log"})
    EXPECT_FALSE(exists(artifact("base", ts1, ext))) << ext;

  write_file(root + "/config.yaml", "images:\n  retain: 1\n");
  std::string ts4 = build_ok("base");
  EXPECT_EQ(builds("base"), (std::vector<std::string>{ts4, ts3}));
  write_file(root + "/config.yaml", "images:\n  retain: 3\n");
  std::string ts5 = build_ok("base");
  EXPECT_EQ(builds("base"), (std::vector<std::string>{ts5, ts4, ts3}));
  // The option overrides the config.
  std::string ts6 = build_ok("base", "base.def", {"--retain", "1"});
  EXPECT_EQ(builds("base"), (std::vector<std::string>{ts6, ts5}));
  EXPECT_EQ(latest("base"), ts6);
  // An invalid value: the default (10), with a warning.
  write_file(root + "/config.yaml", "images:\n  retain: nonsense\n");
  r = build("base");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "sifstore: warning: " + root + "/config.yaml: invalid images.retain"))
      << r.err;
  EXPECT_EQ(builds("base").size(), 3u);
}

TEST_F(BuildCli, VerifyMarksVerifiedWhenNothingDrifted) {
  auto r = build("base", "base.def", {"--verify", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  std::string ts = j["ts"];
  EXPECT_EQ(j["verify"]["identical"], true);
  EXPECT_TRUE(exists(artifact("base", ts, "verified")));
  EXPECT_FALSE(exists(artifact("base", ts, "unverified")));
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});  // the rebuild is gone
  r = cli({"check", "base", "--require-verified"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, artifact("base", ts, "sif") + "\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(BuildCli, VerifyNamesTheDriftedAptPackage) {
  std::string ts = build_ok("base");
  // pip moved too, but the locked def pins pip: only apt drifts.
  json v = index_v1();
  v["apt"]["curl"].push_back("8.0.0-1");
  v["pip"]["numpy"].push_back("2.2.0");
  set_index(v);
  auto r = cli({"verify", "base", "--builder", kStandin});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "UNVERIFIED")) << r.out;
  ASSERT_TRUE(exists(artifact("base", ts, "unverified")));
  EXPECT_FALSE(exists(artifact("base", ts, "verified")));
  std::string reason = read_file(artifact("base", ts, "unverified"));
  EXPECT_TRUE(contains(reason, "curl")) << reason;
  EXPECT_FALSE(contains(reason, "numpy")) << reason;
  EXPECT_EQ(hidden_files("base"), std::vector<std::string>{});

  r = cli({"check", "base"});  // usable, with a warning
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, artifact("base", ts, "sif") + "\n");
  EXPECT_TRUE(contains(r.err, "unverified")) << r.err;
  r = cli({"check", "base", "--require-verified"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(error_line(r), "curl")) << r.err;
  // Said once: "<layer>-<ts>: reproducibility unverified at <time>; <drift>".
  EXPECT_TRUE(contains(error_line(r), "base-" + ts + ": reproducibility unverified at ")) << r.err;
  EXPECT_FALSE(contains(r.err.substr(r.err.find("reproducibility") + 1), "reproducibility"))
      << r.err;
}

TEST_F(BuildCli, VerifyNamesTheDriftedNpmPackage) {
  std::string ts = build_ok("base");
  json v = index_v1();
  v["npm"]["left-pad"].push_back("1.4.0");
  set_index(v);
  auto r = cli({"verify", "base", ts, "--builder", kStandin, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["identical"], false);
  EXPECT_EQ(j["changed"]["node:left-pad"], (json{{"a", "1.3.1"}, {"b", "1.4.0"}}));
  EXPECT_TRUE(contains(read_file(artifact("base", ts, "unverified")), "left-pad"));
  // Verified again once the index is back: the markers are exclusive.
  set_index(index_v1());
  r = cli({"verify", "base", "--builder", kStandin});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(exists(artifact("base", ts, "verified")));
  EXPECT_FALSE(exists(artifact("base", ts, "unverified")));
}

TEST_F(BuildCli, VerifyOnlyPipMovedStaysVerified) {
  std::string ts = build_ok("base");
  json v = index_v1();
  v["pip"]["numpy"].push_back("2.2.0");
  v["pip"]["PyYAML"] = json::array({"6.0.1", "6.0.2"});
  set_index(v);
  auto r = cli({"verify", "base", "--builder", kStandin});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(exists(artifact("base", ts, "verified"))) << r.out;
}

TEST_F(BuildCli, CheckRefusesWhatItMust) {
  auto r = cli({"check", "base"});  // no store yet, no pointer
  EXPECT_EQ(r.status, 1);
  std::string ts = build_ok("base");
  std::string sif = artifact("base", ts, "sif");

  // An unmarked build: usable with a warning, refused when verification is required.
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, sif + "\n");
  EXPECT_TRUE(contains(r.err, "sifstore: warning:")) << r.err;
  r = cli({"check", "base", "--require-verified"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "no round-trip marker")) << r.err;
  write_file(root + "/config.yaml", "images:\n  require_verified: true\n");
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "verification is required")) << r.err;
  ::unlink((root + "/config.yaml").c_str());
  r = cli({"check", "--json", "base"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["state"], "unknown");

  // The image changed after it was built.
  {
    std::ofstream f(sif, std::ios::app | std::ios::binary);
    f << '\0';
  }
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "changed after it was built")) << r.err;
  EXPECT_EQ(r.out, "");

  // No lock.
  std::string ts2 = build_ok("base");
  ::unlink(artifact("base", ts2, "lock").c_str());
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "has no lock")) << r.err;

  // A dangling pointer, and none at all.
  ::unlink((root + "/base.sif").c_str());
  make_pointer(root, "base", "base/base-2020-0101-000000.sif");
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "missing build")) << r.err;
  ::unlink((root + "/base.sif").c_str());
  make_pointer(root, "base", "/etc/passwd");
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "not a build of the layer")) << r.err;
  ::unlink((root + "/base.sif").c_str());
  r = cli({"check", "base"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains(error_line(r), "has no latest pointer")) << r.err;
}

TEST_F(BuildCli, FromLayerPinsTheExactBaseImage) {
  std::string base_ts = build_ok("base");
  write_file(t / "app.def",
             "Bootstrap: localimage\nFrom: containers/base.sif\n\n%post\n"
             "    pip install --no-deps numpy==1.26.4\n    apt-get install -y curl=7.88.1-9\n");
  auto r = build("app", "app.def", {"--from", "base", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  json j = json::parse(r.out);
  std::string ts = j["ts"];
  std::string exact = root + "/base/base-" + base_ts + ".sif";
  EXPECT_EQ(j["base"], exact);
  std::string def = read_file(artifact("app", ts, "def"));
  EXPECT_TRUE(contains(def, "From: " + exact + "\n")) << def;
  EXPECT_FALSE(contains(def, "From: containers/base.sif")) << def;
  PackageLock lock = lock_of(artifact("app", ts, "lock"));
  EXPECT_EQ(lock.facts.at("base-image"), exact);
  EXPECT_TRUE(contains(read_file(artifact("app", ts, "lock")), "# base-image: " + exact + "\n"));
  // The image holds the base's packages and its own.
  EXPECT_EQ(lock.pip.at("numpy"), "1.26.4");
  EXPECT_EQ(lock.pip.at("pyyaml"), "6.0.1");
  EXPECT_EQ(lock.dpkg.at("curl"), "7.88.1-9");
  EXPECT_EQ(lock.dpkg.at("zlib1g"), "1:1.2.13.dfsg-1");
  EXPECT_EQ(node_versions(lock.node).at("left-pad"), "1.3.1");
  // The rough def keeps what the user wrote.
  EXPECT_EQ(read_file(artifact("app", ts, "rough.def")), read_file(t / "app.def"));

  // Without --from, a localimage def naming the pointer is pinned the same way.
  write_file(t / "tool.def", "Bootstrap: localimage\nFrom: containers/base.sif\n");
  std::string tool_ts = build_ok("tool", "tool.def");
  EXPECT_TRUE(contains(read_file(artifact("tool", tool_ts, "def")), "From: " + exact + "\n"));
  EXPECT_EQ(lock_of(artifact("tool", tool_ts, "lock")).facts.at("base-image"), exact);

  // A newer base does not change what the app build was made from.
  std::string base_ts2 = build_ok("base");
  EXPECT_NE(base_ts2, base_ts);
  EXPECT_TRUE(contains(read_file(artifact("app", ts, "def")), "From: " + exact + "\n"));
  r = cli({"verify", "app", "--builder", kStandin});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(exists(artifact("app", ts, "verified"))) << r.out;
}

// Every `Bootstrap: localimage` stage is pinned to its exact image, not only
// the final one: the locked def names each base build, and prune of either
// base layer keeps the build the app was made from. (The stand-in refuses
// multi-stage defs; a wrapper hands it the final stage.)
TEST_F(BuildCli, EveryLocalImageStageIsPinnedAndKept) {
  std::string wrapper = t / "final-stage-builder";
  write_file(
      wrapper,
      "#!/bin/bash\n"
      "args=(\"$@\")\n"
      "if [ \"$1\" = build ]; then\n"
      "  final=$(mktemp)\n"
      "  awk 'tolower($0) ~ /^bootstrap:/ {b=\"\"} {b = b $0 \"\\n\"} END {printf \"%s\", b}' "
      "\"${args[-1]}\" >\"$final\"\n"
      "  args[-1]=$final\n"
      "fi\n"
      "exec " +
          kStandin + " \"${args[@]}\"\n");
  ASSERT_EQ(::chmod(wrapper.c_str(), 0755), 0);
  std::string tools_ts = build_ok("tools");
  std::string base_ts = build_ok("base");
  write_file(t / "app.def",
             "Bootstrap: localimage\nFrom: containers/tools.sif\nStage: one\n\n"
             "Bootstrap: localimage\nFrom: containers/base.sif\n%post\n    true\n");
  auto r = cli({"build", "app", "--def", "app.def", "--builder", wrapper, "--json", "--depfile",
                t / "app.d"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string ts = json::parse(r.out)["ts"];
  DefFile locked = parse_def(read_file(artifact("app", ts, "def")), "app.def");
  ASSERT_EQ(locked.stages.size(), 2u);
  EXPECT_EQ(locked.stages[0].from(), root + "/tools/tools-" + tools_ts + ".sif");
  EXPECT_EQ(locked.final_stage().from(), root + "/base/base-" + base_ts + ".sif");
  std::string d = read_file(t / "app.d");
  EXPECT_TRUE(contains(d, root + "/tools.sif")) << d;
  EXPECT_TRUE(contains(d, root + "/base.sif")) << d;

  // Newer builds of both bases, then prune each to nothing: the builds the
  // app was made from stay.
  build_ok("tools");
  build_ok("base");
  EXPECT_EQ(cli({"prune", "tools", "--retain", "0"}).status, 0);
  EXPECT_EQ(cli({"prune", "base", "--retain", "0"}).status, 0);
  EXPECT_TRUE(exists(artifact("tools", tools_ts, "sif")));
  EXPECT_TRUE(exists(artifact("base", base_ts, "sif")));
  r = cli({"check", "app"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_FALSE(contains(r.err, "cannot be rebuilt")) << r.err;
}

TEST_F(BuildCli, DepfileListsDefFilesSourcesAndBasePointer) {
  build_ok("base", "base.def", {"--depfile", t / "base.d"});
  std::string d = read_file(t / "base.d");
  EXPECT_EQ(d.rfind(root + "/base.sif:", 0), 0u) << d;
  EXPECT_TRUE(contains(d, t / "base.def")) << d;
  EXPECT_TRUE(contains(d, t / "data/hello.txt")) << d;

  write_file(t / "conf/app.conf", "x=1\n");
  write_file(t / "app.def",
             "Bootstrap: localimage\nFrom: containers/base.sif\n%files\n"
             "    conf/app.conf /etc/app.conf\n");
  build_ok("app", "app.def",
           {"--from", "base", "--depfile", t / "app.d", "--depfile-target", "app.stamp"});
  d = read_file(t / "app.d");
  EXPECT_EQ(d.rfind("app.stamp:", 0), 0u) << d;
  EXPECT_TRUE(contains(d, t / "app.def")) << d;
  EXPECT_TRUE(contains(d, t / "conf/app.conf")) << d;
  EXPECT_TRUE(contains(d, root + "/base.sif")) << d;
  EXPECT_FALSE(contains(d, "/base/base-")) << d;  // the pointer, not the timestamped image
}

// A %files source SifStore cannot resolve (it needs the shell) is left out
// of the depfile and said so, naming the def and line, before the builder
// runs.
TEST_F(BuildCli, DepfileWarnsAboutAnUnresolvableSource) {
  // The stand-in copies the source literally: give it a directory named "$D".
  write_file(t / "$D/x.txt", "x\n");
  write_file(t / "vars.def", "Bootstrap: scratch\n%files\n    $D/x.txt /x.txt\n");
  auto r = build("vars", "vars.def", {"--depfile", t / "vars.d"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string warning =
      "sifstore: warning: vars.def:3: %files source '$D/x.txt' cannot be "
      "resolved (needs shell expansion ($ or `)): a change to it will not rebuild the layer\n";
  EXPECT_TRUE(contains(r.err, warning)) << r.err;
  EXPECT_LT(r.err.find(warning), r.err.find("Starting build")) << r.err;  // before the builder
  EXPECT_NE(r.err.find("Starting build"), std::string::npos) << r.err;
  std::string d = read_file(t / "vars.d");
  EXPECT_TRUE(contains(d, t / "vars.def")) << d;
  EXPECT_FALSE(contains(d, "x.txt")) << d;
}

// The depfile is written before the build is published: a depfile that
// cannot be written fails the build with nothing published and the latest
// pointer where it was.
TEST_F(BuildCli, DepfileErrorPublishesNothing) {
  std::string ts = build_ok("base");
  auto r = build("base", "base.def", {"--depfile", t / "no/such/dir/base.d"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(contains(error_line(r), t / "no/such/dir")) << r.err;
  EXPECT_EQ(builds("base"), std::vector<std::string>{ts});
  EXPECT_EQ(latest("base"), ts);
  EXPECT_TRUE(hidden_files("base").empty());
  expect_every_sif_complete("base");
}

// `stamp LAYER` reserves its <ts> for the caller, who uses it after sifstore
// exits: a build does not take it, fsck does not call it debris; a day later
// it is stale and fsck --repair clears it.
TEST_F(BuildCli, AStampedTsIsNotReusedByTheNextBuild) {
  build_ok("base");
  auto r = cli({"stamp", "base"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string stamped = r.out.substr(0, 16);
  std::string built = build_ok("base");
  EXPECT_GT(built, stamped);
  std::string reservation = root + "/base/.base-" + stamped + ".reserved";
  EXPECT_TRUE(exists(reservation));
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  // Two days later.
  struct timespec times[2] = {{::time(nullptr) - 2 * 24 * 3600, 0},
                              {::time(nullptr) - 2 * 24 * 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, reservation.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  r = cli({"fsck"});
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, stamped)) << r.out;
  EXPECT_EQ(cli({"fsck", "--repair"}).status, 0);
  EXPECT_FALSE(exists(reservation));
}

}  // namespace
}  // namespace sifstore::test
