#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace sifstore::test {
namespace {

TEST(Usage, VersionAndHelp) {
  auto r = run({SIFSTORE_EXE, "--version"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out.rfind("sifstore ", 0), 0u) << r.out;
  r = run({SIFSTORE_EXE, "--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* c : {"stamp", "paths", "layers", "list", "point-latest", "rollback", "prune",
                        "protect", "unprotect", "mark-verified", "mark-unverified"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
}

TEST(Usage, EveryCommandHasHelp) {
  for (const char* c : {"stamp", "paths", "layers", "list", "point-latest", "rollback", "prune",
                        "protect", "unprotect", "mark-verified", "mark-unverified"}) {
    auto r = run({SIFSTORE_EXE, c, "--help"});
    EXPECT_EQ(r.status, 0) << c << r.err;
    EXPECT_NE(r.out.find(std::string("usage: sifstore [--root DIR] ") + c), std::string::npos)
        << r.out;
  }
}

TEST(Usage, BadWordsExitTwo) {
  TempDir t;
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{},
                                             {"no-such-command"},
                                             {"list"},
                                             {"list", "a", "b"},
                                             {"prune", "x", "--retain", "q"},
                                             {"--bogus", "list", "x"},
                                             {"list", "x", "--nope"}}) {
    std::vector<std::string> argv = {SIFSTORE_EXE, "--root", t.path()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    EXPECT_EQ(r.status, 2) << r.err;
  }
  auto r = run({SIFSTORE_EXE, "frobnicate"});
  EXPECT_NE(r.err.find("sifstore: error:"), std::string::npos) << r.err;
}

// A bad LAYER or TS word is a usage error (exit 2) in every command, as a
// bad option value is; a layer name ending in an artifact suffix is one.
TEST(Usage, BadLayerNamesAndTimestampsExitTwo) {
  TempDir t;
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"list", "x.sif"},
           {"list", "../x"},
           {"prune", "py.lock", "--retain", "1"},
           {"check", "py.def"},
           {"verify", "py.verified"},
           {"point-latest", "py.build.log", "2026-0101-000000"},
           {"protect", "py", "2026-1301-000000"},
           {"build", "py.sif", "--def", "x.def"},
           {"build", "py", "--def", "x.def", "--from", "base.sif"},
           {"prune", "x", "--retain", "-1"}}) {
    std::vector<std::string> argv = {SIFSTORE_EXE, "--root", t / "store"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    EXPECT_EQ(r.status, 2) << args[1] << ": " << r.err;
    EXPECT_EQ(r.err.rfind("sifstore: error: " + args[0] + ": ", 0), 0u) << r.err;
    EXPECT_FALSE(exists(t / "store")) << args[1];
  }
  auto r = run({SIFSTORE_EXE, "--root", t.path(), "list", "py.sif"});
  EXPECT_NE(r.err.find("invalid layer name 'py.sif': it ends in '.sif'"), std::string::npos)
      << r.err;
}

// --root after the command is a usage error that says where it goes.
TEST(Usage, RootAfterTheCommandSaysWhereItGoes) {
  TempDir t;
  for (const char* root : {"--root", "--root=S"}) {
    auto r = run({SIFSTORE_EXE, "list", "py", root, "S"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("--root is a global option: it goes before the command "
                         "(sifstore --root DIR list ...)"),
              std::string::npos)
        << r.err;
  }
}

// Boost.Program_options' own message template loops forever on a word that
// holds one of its placeholders (found by cmdline_fuzz): such words still get
// a usage error that names the option.
TEST(Usage, WordsHoldingBoostPlaceholdersExitTwo) {
  TempDir t;
  struct Case {
    std::vector<std::string> args;
    std::string named;
  };
  for (const Case& c :
       std::vector<Case>{{{"prune", "b", "--retain", "111argument ('%value%')0"}, "--retain"},
                         {{"list", "b", "--%canonical_option%"}, "--%canonical_option%"},
                         {{"list", "b", "--%prefix%"}, "--%prefix%"},
                         {{"prune", "b", "--retain", "%option%"}, "--retain"}}) {
    std::vector<std::string> argv = {SIFSTORE_EXE, "--root", t.path()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run(argv);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(r.err.rfind("sifstore: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("'" + c.named + "'"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace sifstore::test
