// Pinning a def's registry stages: the def the builder gets, the lock facts
// and their reading back, without a registry (references that hold a digest
// are not resolved; offline leaves the rest unpinned).
#include "core/registry/pin.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/lockfile.h"
#include "core/registry/credentials.h"
#include "core/registry/resolve.h"
#include "support/reference_py.h"

namespace sifstore::registry {
namespace {

const std::string kD1 = "sha256:" + std::string(64, 'a');
const std::string kD2 = "sha256:" + std::string(64, 'b');

TEST(RegistryPin, DigestReferenceIsKeptAndWrittenIntoFrom) {
  DefFile def = parse_def(
      "Bootstrap: docker\nFrom: python:3.11@" + kD1 + "  # base\n\n%post\n    true\n", "/x/a.def");
  DefPins pins = pin_registry_bases(def, {});
  ASSERT_EQ(pins.stages.size(), 1u);
  EXPECT_EQ(pins.stages[0].pinned, "docker://docker.io/library/python@" + kD1);
  EXPECT_EQ(pins.stages[0].tagged, "docker://docker.io/library/python:3.11");
  std::string text = pinned_def_text(def, pins);
  EXPECT_NE(text.find("\nFrom: docker.io/library/python@" + kD1 + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# sifstore: From pinned"), std::string::npos) << text;
  EXPECT_NE(text.find("%post\n    true\n"), std::string::npos) << text;
  std::map<std::string, std::string> facts;
  record_pins(pins, def.stages.size(), facts);
  EXPECT_EQ(facts["base-image"], "docker://docker.io/library/python@" + kD1);
  EXPECT_EQ(facts["base-tag"], "docker://docker.io/library/python:3.11");
  EXPECT_EQ(facts.count("registry-no-https"), 0u);
  EXPECT_TRUE(pins.warnings("a.def").empty());
}

TEST(RegistryPin, RegistryAndNamespaceAreFoldedIntoFrom) {
  DefFile def = parse_def(
      "Bootstrap: docker\nRegistry: localhost:5000\nNamespace: team\nFrom: tool@" + kD1 + "\n",
      "/x/a.def");
  DefPins pins = pin_registry_bases(def, {{"--nohttps"}, false, {}});
  ASSERT_EQ(pins.stages.size(), 1u);
  EXPECT_EQ(pins.stages[0].pinned, "docker://localhost:5000/team/tool@" + kD1);
  std::string text = pinned_def_text(def, pins);
  EXPECT_NE(text.find("# sifstore: folded into From: Registry: localhost:5000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# sifstore: folded into From: Namespace: team\n"), std::string::npos);
  EXPECT_NE(text.find("\nFrom: localhost:5000/team/tool@" + kD1), std::string::npos) << text;
  DefFile reparsed = parse_def(text, "/x/a.def");
  EXPECT_EQ(reparsed.final_stage().header_value("registry"), "");
  EXPECT_EQ(reparsed.final_stage().from(), "localhost:5000/team/tool@" + kD1);
  std::map<std::string, std::string> facts;
  record_pins(pins, 1, facts);
  EXPECT_EQ(facts["registry-no-https"], "--nohttps");
}

TEST(RegistryPin, EveryStageOfAMultiStageDefIsPinned) {
  DefFile def = parse_def("Bootstrap: docker\nFrom: golang@" + kD1 +
                              "\nStage: build\n\n%post\n  go build\n\n"
                              "Bootstrap: docker\nFrom: alpine\\\n  @" +
                              kD2 + "\nStage: final\n\n%files from build\n  /a /a\n",
                          "/x/m.def");
  DefPins pins = pin_registry_bases(def, {});
  ASSERT_EQ(pins.stages.size(), 2u);
  std::string text = pinned_def_text(def, pins);
  DefFile reparsed = parse_def(text, "/x/m.def");
  ASSERT_EQ(reparsed.stages.size(), 2u);
  EXPECT_EQ(reparsed.stages[0].from(), "docker.io/library/golang@" + kD1);
  EXPECT_EQ(reparsed.stages[1].from(), "docker.io/library/alpine@" + kD2);
  std::map<std::string, std::string> facts;
  record_pins(pins, 2, facts);
  EXPECT_EQ(facts["stage-1-image"], "docker://docker.io/library/golang@" + kD1);
  EXPECT_EQ(facts["base-image"], "docker://docker.io/library/alpine@" + kD2);
  // Read back from the facts (what `lock def` does) the same text results.
  DefPins back = pins_from_facts(def, facts);
  ASSERT_EQ(back.stages.size(), 2u);
  EXPECT_EQ(pinned_def_text(def, back), text);
}

TEST(RegistryPin, OfflineAndUnpinnableAgentsAreSaidSo) {
  DefFile def = parse_def(
      "Bootstrap: library\nFrom: alpine:3.18\nStage: one\n\n"
      "Bootstrap: docker\nFrom: python:3.11\n",
      "/x/o.def");
  DefPins pins = pin_registry_bases(def, {{}, true, {}});
  ASSERT_EQ(pins.stages.size(), 2u);
  EXPECT_EQ(pinned_def_text(def, pins), def.text);
  std::map<std::string, std::string> facts;
  record_pins(pins, 2, facts);
  EXPECT_EQ(facts["stage-1-unpinned"],
            "library://alpine:3.18 (sifstore cannot pin `Bootstrap: library` bases)");
  EXPECT_EQ(facts["base-unpinned"],
            "docker://docker.io/library/python:3.11 (offline: not resolved)");
  EXPECT_EQ(facts.count("base-image"), 0u);
  auto w = pins.warnings("o.def");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[1].find("docker://docker.io/library/python:3.11 is not pinned"), std::string::npos);
  DefFile yum = parse_def("Bootstrap: yum\nMirrorURL: http://m/\n", "/x/y.def");
  std::map<std::string, std::string> yum_facts;
  record_pins(pin_registry_bases(yum, {}), 1, yum_facts);
  EXPECT_EQ(yum_facts["base-unpinned"],
            "Bootstrap: yum (sifstore cannot pin `Bootstrap: yum` bases)");
  // Stages that need no pin say nothing.
  DefFile local = parse_def("Bootstrap: localimage\nFrom: base.sif\n", "/x/l.def");
  EXPECT_TRUE(pin_registry_bases(local, {{}, true, {}}).empty());
}

TEST(RegistryPin, BadReferenceNamesTheDefLine) {
  DefFile def = parse_def("# c\nBootstrap: docker\nFrom: Python:3\n", "/x/b.def");
  try {
    pin_registry_bases(def, {});
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/x/b.def:2: invalid image reference"), std::string::npos)
        << e.what();
  }
  DefFile nofrom = parse_def("Bootstrap: docker\n", "/x/n.def");
  EXPECT_THROW(pin_registry_bases(nofrom, {}), Error);
}

TEST(RegistryPin, BaseChangesAreRegistryBasesOnly) {
  std::map<std::string, std::string> a = {{"base-image", "docker://h/x@" + kD1},
                                          {"image-sha256", "1"},
                                          {"stage-1-image", "docker://h/y@" + kD1}};
  std::map<std::string, std::string> b = {{"base-image", "docker://h/x@" + kD2},
                                          {"image-sha256", "2"},
                                          {"stage-1-image", "docker://h/y@" + kD1}};
  auto c = base_changes(a, b);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c["base-image"].first, "docker://h/x@" + kD1);
  EXPECT_TRUE(base_changes({{"base-image", "/s/b-1.sif"}}, {{"base-image", "/s/b-2.sif"}}).empty());
}

TEST(RegistryPin, BuilderFlags) {
  EXPECT_EQ(no_https_flag({"--fakeroot", "--no-https"}), "--no-https");
  EXPECT_EQ(no_https_flag({"--nohttps=true"}), "--nohttps=true");
  EXPECT_EQ(no_https_flag({"--no-https", "--no-https=false"}), "");
  EXPECT_EQ(no_https_flag({"--https"}), "");
  EXPECT_EQ(authfile_arg({"--authfile", "/a"}), "/a");
  EXPECT_EQ(authfile_arg({"--authfile=/b"}), "/b");
  EXPECT_FALSE(authfile_arg({"--fakeroot"}));
}

// The reference tool's lock reader still reads a lock with registry facts
// (comment lines to it) into the same version set.
TEST(RegistryPin, ReferenceReadsALockWithRegistryFacts) {
  test::ReferencePython ref;
  if (!ref.unavailable().empty()) GTEST_SKIP() << ref.unavailable() << ": skipped";
  DefFile def = parse_def("Bootstrap: docker\nFrom: localhost:5000/a/b:1@" + kD1 +
                              "\nStage: x\n\nBootstrap: library\nFrom: alpine\n",
                          "/x/r.def");
  PackageLock lock;
  lock.dpkg = {{"libc6", "2.36"}};
  lock.pip = {{"numpy", "2.1.0"}};
  record_pins(pin_registry_bases(def, {{"--no-https"}, false, {}}), 2, lock.facts);
  ASSERT_EQ(lock.facts.size(), 4u);  // stage-1-image, stage-1-tag, base-unpinned, registry-no-https
  std::string path = ref.dir() / "r.lock";
  test::write_file(path, format_lock(lock));
  std::string error;
  auto j = ref.run({"read", path}, &error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(j["version_set"], nlohmann::json(lock.version_set()));
  EXPECT_EQ(parse_lock(format_lock(lock), path), lock);
}

}  // namespace
}  // namespace sifstore::registry
