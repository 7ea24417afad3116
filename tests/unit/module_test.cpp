// Modules (core/module.h): libcrypto, libcurl and librpm are loaded only by the
// commands that need them, and a missing module is an error saying where
// sifstore looked.

#include "core/module.h"

#include <gtest/gtest.h>

#include "core/capture/rpmdb_module.h"
#include "core/error.h"
#include "core/registry/http_module.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(Module, MissingModuleIsAnErrorNamingWhereItLooked) {
  try {
    module_symbol("sifstore-nonexistent", "anything", "testing modules");
    FAIL() << "a missing module loaded";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(contains(m, "testing modules needs SifStore's module sifstore-nonexistent.so"))
        << m;
    EXPECT_TRUE(
        contains(m, SIFSTORE_MODULE_BUILD_DIR_FOR_TESTS "/sifstore-nonexistent.so: not there"))
        << m;
  }
}

TEST(Module, BuiltModulesExportTheirEntryPoints) {
  EXPECT_NE(module_symbol(kRpmdbModule, kRpmdbQuerySymbol, "t"), nullptr);
  EXPECT_NE(module_symbol(registry::kHttpModule, registry::kHttpPerformSymbol, "t"), nullptr);
  try {
    module_symbol(kRpmdbModule, "no_such_symbol", "testing modules");
    FAIL() << "a missing symbol was found";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "sifstore-rpmdb.so lacks no_such_symbol")) << e.what();
  }
}

// The point of the modules: a command that needs neither registry nor RPM
// database maps neither libcurl nor librpm (they cost ~5 ms of start-up);
// one that talks to a registry loads the HTTP module from beside the
// executable.
TEST(Module, OnlyTheCommandsThatNeedThemLoadTheirLibraries) {
  if (!test::exists(SIFSTORE_EXE)) return;  // the tsan preset builds no sifstore
  test::TempDir tmp;
  auto quiet = test::run({SIFSTORE_EXE, "--root", tmp.path(), "layers"}, {"LD_DEBUG=files"});
  EXPECT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_TRUE(contains(quiet.err, "libyaml-cpp")) << "LD_DEBUG shows no loading at all";
  EXPECT_FALSE(contains(quiet.err, "libcrypto")) << quiet.err;
  EXPECT_FALSE(contains(quiet.err, "libcurl")) << quiet.err;
  EXPECT_FALSE(contains(quiet.err, "librpm")) << quiet.err;
  EXPECT_FALSE(contains(quiet.err, "sifstore-http")) << quiet.err;

  test::write_file(tmp / "x.def", "Bootstrap: docker\nFrom: 127.0.0.1:9/sifstore/none:1\n");
  auto net = test::run({SIFSTORE_EXE, "--root", tmp / "store", "build", "x", "--def", tmp / "x.def",
                        "--builder", "/bin/false"},
                       {"LD_DEBUG=files"});
  EXPECT_EQ(net.status, 1);
  EXPECT_TRUE(contains(net.err, "/lib/sifstore/sifstore-http.so")) << net.err;
  EXPECT_TRUE(contains(net.err, "libcurl")) << net.err;
  EXPECT_TRUE(contains(net.err, "cannot resolve docker://127.0.0.1:9/sifstore/none:1")) << net.err;
  EXPECT_FALSE(contains(net.err, "not installed")) << net.err;
}

}  // namespace
}  // namespace sifstore
