#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

class LockCli : public ::testing::Test {
 protected:
  RunResult lock(const std::vector<std::string>& args) {
    std::vector<std::string> a = {"lock"};
    a.insert(a.end(), args.begin(), args.end());
    return sifstore(t_ / "store", a);
  }
  std::string file(const std::string& name, const std::string& content) {
    write_file(t_ / name, content);
    return t_ / name;
  }
  TempDir t_;
};

TEST_F(LockCli, HelpAndUsageErrors) {
  auto r = lock({"--help"});
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* s : {"usage: sifstore [--root DIR] lock", "lock capture SIF",
                        "lock def ROUGH.def", "lock diff A.lock B.lock"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  r = lock({"diff", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("usage: sifstore [--root DIR] lock diff A.lock B.lock [--json]"),
            std::string::npos)
      << r.out;
  r = lock({"def", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--pin-apt"), std::string::npos) << r.out;
  for (std::vector<std::string> bad :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"diff", "a.lock"},
                                             {"diff", "a", "b", "c"},
                                             {"diff", "--nope"},
                                             {"def", "x.def"},
                                             {"def", "x.def", "x.lock", "--base"}}) {
    r = lock(bad);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(r.err.rfind("sifstore: error: ", 0), 0u) << r.err;
  }
}

TEST_F(LockCli, DiffIdenticalExitsZero) {
  std::string a = file("a.lock", "# scitex-container lock\n[pip]\nnumpy==1.0\n[dpkg]\n[node]\n\n");
  std::string b = file("b.lock", "# image-sha256: ff\n[dpkg]\n[pip]\nNumPy == 1.0\n");
  auto r = lock({"diff", a, b});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "version sets identical\n");
  r = lock({"diff", a, b, "--json"});
  EXPECT_EQ(r.status, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["identical"], true);
  EXPECT_EQ(j["summary"], "version sets identical");
  EXPECT_EQ(j["changed"], nlohmann::json::object());
}

TEST_F(LockCli, DiffDriftExitsOne) {
  std::string a = file("a.lock", "[pip]\nnumpy==1.0\ngone==3\n[dpkg]\nlibc6=2.36\n");
  std::string b = file("b.lock",
                       "[pip]\nnumpy==2.0\n[dpkg]\nlibc6=2.36\n[node]\n"
                       "{\"dependencies\": {\"npm\": {\"version\": \"10.0.0\"}}}\n");
  auto r = lock({"diff", a, b});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "changed:\n"
            "  pip:numpy  1.0  ->  2.0\n"
            "only in " +
                a +
                ":\n"
                "  pip:gone  3\n"
                "only in " +
                b +
                ":\n"
                "  node:npm  10.0.0\n"
                "1 changed (pip:numpy: 1.0 -> 2.0); 1 only in rough; 1 only in rebuild\n");
  r = lock({"diff", "--json", a, b});
  EXPECT_EQ(r.status, 1);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["identical"], false);
  EXPECT_EQ(j["a"], a);
  EXPECT_EQ(j["changed"], (nlohmann::json{{"pip:numpy", {"1.0", "2.0"}}}));
  EXPECT_EQ(j["only_in_a"], (nlohmann::json{{"pip:gone", "3"}}));
  EXPECT_EQ(j["only_in_b"], (nlohmann::json{{"node:npm", "10.0.0"}}));
  EXPECT_EQ(j["summary"], "1 changed (pip:numpy: 1.0 -> 2.0); 1 only in rough; 1 only in rebuild");
}

TEST_F(LockCli, BadLocksAreErrorsNamingFileAndLine) {
  std::string good = file("good.lock", "[pip]\n");
  struct Case {
    std::string name, content, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"sect.lock", "[pip]\na==1\n[apt]\n", ":3: unknown section [apt]"},
           {"garbage.lock", "hello\n[pip]\n", ":1: 'hello' before the first section"},
           {"dpkg.lock", "[dpkg]\nlibc6\n", ":2: dpkg line 'libc6' has no '='"},
           {"binary.lock",
            std::string("\x7f"
                        "ELF\x02\x01\x01\x00\x00\xff",
                        10),
            ":1: "},
       }) {
    std::string p = file(c.name, c.content);
    auto r = lock({"diff", p, good});
    EXPECT_EQ(r.status, 1) << c.name << ": " << r.err;
    EXPECT_EQ(r.err.rfind("sifstore: error: " + p + c.expect, 0), 0u) << r.err;
  }
  auto r = lock({"diff", t_ / "missing.lock", good});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(t_ / "missing.lock"), std::string::npos) << r.err;
  r = lock({"diff", t_.path(), good});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
}

const char* kLock =
    "# scitex-container lock\n[pip]\nnumpy==2.1.0\n[dpkg]\ncurl=7.88.1-10\nlibc6=2.36\n[node]\n\n";

TEST_F(LockCli, DefToStdoutAndToAFile) {
  std::string rough = file("app.def",
                           "Bootstrap: docker\nFrom: debian:12\n%post\n"
                           "  apt-get update && apt-get install -y curl\n  pip install numpy\n");
  std::string lk = file("app.lock", kLock);
  auto r = lock({"def", rough, lk});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Bootstrap: docker\nFrom: debian:12\n%post\n    # --- sifstore: pins", 0),
            0u)
      << r.out;
  EXPECT_NE(r.out.find("\nnumpy==2.1.0\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("curl=7.88.1-10"), std::string::npos) << "no apt pins unless asked";
  EXPECT_EQ(
      r.out.rfind("%post\n  apt-get update && apt-get install -y curl\n  pip install numpy\n"),
      r.out.size() - 70)
      << "the rough %post comes last, unchanged";

  auto w = lock({"def", rough, lk, "-o", t_ / "out/locked.def"});
  EXPECT_EQ(w.status, 1) << "the output directory must exist";
  std::filesystem::create_directories(t_ / "out");
  w = lock({"def", rough, lk, "-o", t_ / "out/locked.def"});
  ASSERT_EQ(w.status, 0) << w.err;
  EXPECT_EQ(w.out, t_ / "out/locked.def\n");
  EXPECT_EQ(read_file(t_ / "out/locked.def"), r.out);
  EXPECT_EQ(list_dir(t_ / "out"), std::vector<std::string>{"locked.def"}) << "no temporary left";

  r = lock({"def", rough, lk, "--pin-apt"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\ncurl=7.88.1-10"), std::string::npos) << r.out;
}

TEST_F(LockCli, DefPinsTheLocalImageBase) {
  std::string rough =
      file("app.def", "Bootstrap: localimage\nFrom: containers/base.sif\n%post\n  echo\n");
  std::string lk = file("app.lock", kLock);
  std::string base = file("store/base/base-2026-0101-120000.sif", "SIF");
  auto r = lock({"def", rough, lk, "--base", base});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\nFrom: " + base + "\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nFrom: containers/base.sif"), std::string::npos) << r.out;

  // A relative --base is written as an absolute path.
  auto rel = run(
      {SIFSTORE_EXE, "lock", "def", rough, lk, "--base", "store/base/base-2026-0101-120000.sif"},
      {}, t_.path());
  ASSERT_EQ(rel.status, 0) << rel.err;
  EXPECT_NE(rel.out.find("\nFrom: " + base + "\n"), std::string::npos) << rel.out;

  r = lock({"def", rough, lk, "--base", t_ / "store/base/none.sif"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("none.sif"), std::string::npos) << r.err;
  std::string docker = file("docker.def", "Bootstrap: docker\nFrom: debian:12\n");
  r = lock({"def", docker, lk, "--base", base});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("Bootstrap: localimage"), std::string::npos) << r.err;
}

TEST_F(LockCli, BadDefsAreErrorsNamingFileAndLine) {
  std::string lk = file("app.lock", kLock);
  struct Case {
    std::string name, content, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"empty.def", "", ":1: no 'Bootstrap:' header"},
           {"noheader.def", "%post\n  echo\n", ":1: '%post' comes before any 'Bootstrap:'"},
           {"badsec.def", "Bootstrap: docker\nFrom: x\n%postinstall\n", ":3: unknown section"},
           {"binary.def",
            std::string("\x7f"
                        "ELF\x02\x01\x01\x00\x00\xff",
                        10),
            ":1: "},
       }) {
    std::string p = file(c.name, c.content);
    auto r = lock({"def", p, lk});
    EXPECT_EQ(r.status, 1) << c.name << ": " << r.err;
    EXPECT_EQ(r.err.rfind("sifstore: error: " + p + c.expect, 0), 0u) << r.err;
  }
}

}  // namespace
}  // namespace sifstore::test
