// The fixture of the build-chain tests (tests/cli/build_*_test.cpp): a
// scratch store, a package index for the stand-in builder, definition
// files, and `sifstore` run with `--builder <stand-in>`.
//
// The stand-in (tests/standin/apptainer, SIFSTORE_STANDIN) builds genuine
// SIFs and installs the versions its index names, so moving the index
// between two builds is real drift for unpinned packages.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/store_maker.h"
#include "support/temp_dir.h"

namespace sifstore::test {

inline const std::string kStandin = SIFSTORE_STANDIN;

// Versions the stand-in installs (its $SIFSTORE_STANDIN_INDEX).
inline nlohmann::json index_v1() {
  using nlohmann::json;
  json j;
  j["apt"]["curl"] = json::array({"7.88.1-9", "7.88.1-10"});
  j["apt"]["python3-pip"] = "23.0.1+dfsg-1";
  j["apt"]["zlib1g"] = "1:1.2.13.dfsg-1";
  j["pip"]["numpy"] = json::array({"1.26.4", "2.1.0"});
  j["pip"]["PyYAML"] = "6.0.1";
  j["npm"]["left-pad"] = json::array({"1.3.0", "1.3.1"});
  return j;
}
// The index a while later: every package has a newer version.
inline nlohmann::json index_v2() {
  nlohmann::json j = index_v1();
  j["apt"]["curl"].push_back("8.0.0-1");
  j["pip"]["numpy"].push_back("2.2.0");
  j["npm"]["left-pad"].push_back("1.4.0");
  return j;
}

// A layer built from scratch with all three package managers and a %files
// source (relative to the working directory, as in Apptainer).
inline const char* kBaseDef = R"(Bootstrap: scratch

%files
    data/hello.txt /opt/hello.txt

%post
    apt-get update && apt-get install -y curl python3-pip zlib1g
    pip install numpy pyyaml
    npm install -g left-pad
)";

class BuildChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = t / "containers";
    tmp = t / "tmp";
    ::mkdir(tmp.c_str(), 0755);
    index = t / "index.json";
    set_index(index_v1());
    write_file(t / "data/hello.txt", "hello\n");
    write_file(t / "base.def", kBaseDef);
  }

  void set_index(const nlohmann::json& j) { write_file(index, j.dump()); }

  std::vector<std::string> env(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> e = {"SIFSTORE_STANDIN_INDEX=" + index, "TMPDIR=" + tmp,
                                  "APPTAINER_TMPDIR=" + tmp};
    e.insert(e.end(), extra.begin(), extra.end());
    return e;
  }

  std::vector<std::string> argv(const std::vector<std::string>& args) const {
    std::vector<std::string> a = {SIFSTORE_EXE, "--root", root};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }

  // sifstore --root <root> args..., in the test directory.
  RunResult cli(const std::vector<std::string>& args,
                const std::vector<std::string>& extra_env = {}) const {
    return run(argv(args), env(extra_env), t.path());
  }

  // sifstore build LAYER --def DEF --builder <stand-in> --rebuild [more...]
  // These tests build the same inputs again to get new builds, so they ask
  // for them (--rebuild); reuse of a build of the same inputs has its own
  // tests (build_reuse_test.cpp).
  std::vector<std::string> build_args(const std::string& layer, const std::string& def,
                                      const std::vector<std::string>& more = {}) const {
    std::vector<std::string> a = {"build", layer, "--def", def, "--builder", kStandin, "--rebuild"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  RunResult build(const std::string& layer, const std::string& def = "base.def",
                  const std::vector<std::string>& more = {},
                  const std::vector<std::string>& extra_env = {}) const {
    return cli(build_args(layer, def, more), extra_env);
  }
  // A build that must succeed; returns its <ts>.
  std::string build_ok(const std::string& layer, const std::string& def = "base.def",
                       const std::vector<std::string>& more = {}) const {
    std::vector<std::string> m = more;
    m.push_back("--json");
    RunResult r = build(layer, def, m);
    EXPECT_EQ(r.status, 0) << r.err;
    if (r.status != 0) return "";
    return nlohmann::json::parse(r.out)["ts"].get<std::string>();
  }

  // `<root>/<layer>/<layer>-<ts>.<ext>`
  std::string artifact(const std::string& layer, const std::string& ts,
                       const std::string& ext) const {
    return root + "/" + layer + "/" + layer + "-" + ts + "." + ext;
  }
  // The `<ts>` the latest pointer names ("" without a pointer).
  std::string latest(const std::string& layer) const {
    std::string target = link_target(root + "/" + layer + ".sif");
    std::string prefix = layer + "/" + layer + "-";
    if (target.rfind(prefix, 0) != 0 || target.size() != prefix.size() + 16 + 4) return "";
    return target.substr(prefix.size(), 16);
  }
  // The builds of a layer, newest first (`sifstore list --json`).
  std::vector<std::string> builds(const std::string& layer) const {
    RunResult r = cli({"list", layer, "--json"});
    EXPECT_EQ(r.status, 0) << r.err;
    std::vector<std::string> out;
    if (r.status != 0) return out;
    for (const auto& b : nlohmann::json::parse(r.out)) out.push_back(b["ts"]);
    return out;
  }
  // Hidden names in the layer directory other than the layer lock file and
  // the identity records of published builds (`.<layer>-<ts>.identity`
  // beside `<layer>-<ts>.sif`).
  std::vector<std::string> hidden_files(const std::string& layer) const {
    std::vector<std::string> out;
    if (!exists(root + "/" + layer)) return out;
    const std::string suffix = ".identity";
    for (const auto& n : list_dir(root + "/" + layer)) {
      if (n[0] != '.' || n == ".sifstore-lock") continue;
      if (n.size() > suffix.size() + 1 && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          exists(root + "/" + layer + "/" + n.substr(1, n.size() - 1 - suffix.size()) + ".sif"))
        continue;
      out.push_back(n);
    }
    return out;
  }
  // Every visible image of the layer has its lock and locked def beside it.
  void expect_every_sif_complete(const std::string& layer) const {
    if (!exists(root + "/" + layer)) return;
    for (const auto& n : list_dir(root + "/" + layer)) {
      if (n[0] == '.' || n.size() < 4 || n.compare(n.size() - 4, 4, ".sif") != 0) continue;
      std::string stem = root + "/" + layer + "/" + n.substr(0, n.size() - 4);
      EXPECT_TRUE(exists(stem + ".lock")) << n << " is visible without its lock";
      EXPECT_TRUE(exists(stem + ".def")) << n << " is visible without its locked def";
    }
  }

  TempDir t;
  std::string root, tmp, index;
};

// The error line sifstore printed (its last "sifstore: error:" line).
inline std::string error_line(const RunResult& r) {
  size_t at = r.err.rfind("sifstore: error:");
  if (at == std::string::npos) return "";
  return r.err.substr(at, r.err.find('\n', at) - at);
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace sifstore::test
