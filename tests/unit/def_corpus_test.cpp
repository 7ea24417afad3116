// The definition-file corpus (tests/data/defs): files the project wrote in
// the shapes real ones take, each with its expected parse as data beside it
// (NAME.json: the stages' headers and sections, or the error Apptainer's
// rules give). For every accepted file, the locked def's %post (all of the
// final stage's, joined as Apptainer joins them) is run with recording stubs:
// every pip that runs sees every locked pin.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/locked_def.h"
#include "support/post_run.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

const std::string kCorpus = std::string(SIFSTORE_SOURCE_DIR) + "/tests/data/defs";

std::vector<std::string> corpus_names() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(kCorpus))
    if (e.path().extension() == ".def") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

nlohmann::json parse_as_json(const DefFile& d) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& st : d.stages) {
    nlohmann::json header = nlohmann::json::object();
    for (const auto& h : st.header) header[h.key] = h.value;
    nlohmann::json sections = nlohmann::json::array();
    for (const auto& s : st.sections) {
      nlohmann::json j = {
          {"name", s.name}, {"args", s.args}, {"raw_args", s.raw_args}, {"line", s.line}};
      // What a %files section copies: from the host, from a stage, or nothing.
      if (s.name == "files") j["copies"] = s.copies_from_host() ? "host" : s.from_stage();
      sections.push_back(j);
    }
    stages.push_back({{"header", header}, {"sections", sections}});
  }
  return stages;
}

TEST(DefCorpus, ParsesAsWrittenInItsJson) {
  auto names = corpus_names();
  ASSERT_GE(names.size(), 30u);
  for (const auto& name : names) {
    auto want = nlohmann::json::parse(test::read_file(kCorpus + "/" + name + ".json"));
    std::string text = test::read_file(kCorpus + "/" + name + ".def");
    if (want.contains("error")) {
      try {
        parse_def(text, name + ".def");
        ADD_FAILURE() << name << ": accepted, expected " << want["error"];
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind(want["error"].get<std::string>(), 0), 0u)
            << name << ": " << e.what();
      }
      continue;
    }
    try {
      EXPECT_EQ(parse_as_json(parse_def(text, name + ".def")), want["stages"]) << name;
    } catch (const Error& e) {
      ADD_FAILURE() << name << ": " << e.what();
    }
  }
}

TEST(DefCorpus, EveryPipRunsConstrainedInTheLockedDef) {
  std::string why;
  if (!test::can_run_post(&why)) GTEST_SKIP() << why;
  PackageLock lock;
  lock.pip = {{"numpy", "2.1.0"}, {"attrs", "23.1.0"}, {"Some.Name", "1.0.post1"}};
  lock.dpkg = {{"python3-pip", "23.0.1+dfsg-1"}};
  const std::string pins = "Some.Name==1.0.post1;attrs==23.1.0;numpy==2.1.0;";
  size_t runs = 0;
  for (const auto& name : corpus_names()) {
    auto want = nlohmann::json::parse(test::read_file(kCorpus + "/" + name + ".json"));
    if (want.contains("error")) continue;
    DefFile rough = parse_def(test::read_file(kCorpus + "/" + name + ".def"), name + ".def");
    for (bool apt : {false, true}) {
      LockedDefOptions o;
      o.pin_apt = apt;
      std::string text = locked_def_text(rough, lock, o);
      EXPECT_EQ(locked_def_text(parse_def(text, "l.def"), lock, o), text)
          << name << ": locking again changed the text";
      auto r = test::run_post(test::post_script(parse_def(text, "l.def")));
      EXPECT_EQ(r.status, 0) << name << "\n" << r.err;
      EXPECT_EQ(r.constraints, "Some.Name==1.0.post1\nattrs==23.1.0\nnumpy==2.1.0\n") << name;
      size_t pip_runs = 0;
      for (size_t at = r.log.find("env PIP_CONSTRAINT="); at != std::string::npos;
           at = r.log.find("env PIP_CONSTRAINT=", at + 1)) {
        ++pip_runs;
        size_t eol = r.log.find('\n', at);
        EXPECT_EQ(r.log.substr(at, eol - at),
                  "env PIP_CONSTRAINT=/etc/sifstore/pip-constraints.txt")
            << name;
        EXPECT_EQ(r.log.compare(eol + 1, 12 + pins.size(), "constraints " + pins), 0)
            << name << "\n"
            << r.log;
      }
      EXPECT_EQ(pip_runs, want["pip_runs"].get<size_t>()) << name << "\n" << r.log;
      bool debootstrap = rough.final_stage().bootstrap() == "debootstrap";
      EXPECT_EQ(r.preferences.empty(), !(apt || debootstrap)) << name;
      runs += pip_runs;
    }
  }
  EXPECT_GT(runs, 20u);
}

}  // namespace
}  // namespace sifstore
