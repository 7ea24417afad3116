// Static capture of RPM databases against the real rpm: roots made by dnf
// and rpm from a local repository the test builds (support/rpm_roots.sh),
// packed into genuine SIFs; the [rpm] lines must equal what `rpm --root R
// -qa --qf` prints for the same root.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/capture.h"
#include "core/error.h"
#include "core/sha256.h"
#include "core/sif.h"
#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::run;
using test::TempDir;
using test::write_file;

bool on_path(const std::string& program) {
  return run({"/bin/sh", "-c", "command -v \"$0\" >/dev/null", program}).status == 0;
}

class RpmCapture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* tool : {"rpm", "rpmbuild", "createrepo_c", "dnf", "python3"})
      if (!on_path(tool)) missing_ += std::string(missing_.empty() ? "" : ", ") + tool;
    if (!missing_.empty()) {
      missing_ += " not found (apt-get install rpm dnf createrepo-c)";
      return;
    }
    if (std::string m = test::sif_tools_missing(); !m.empty()) {
      missing_ = m;
      return;
    }
    // The roots take seconds to make and ctest runs each test in its own
    // process: they are made once per version of the script, into the build
    // tree (made in a temporary directory, renamed into place; the tests
    // only read them).
    std::string script = SIFSTORE_SOURCE_DIR "/tests/support/rpm_roots.sh";
    dir_ =
        SIFSTORE_TEST_CACHE_DIR "/rpm-roots-" + sha256_hex(test::read_file(script)).substr(0, 16);
    if (!test::exists(dir_ + "/done")) {
      run({"mkdir", "-p", SIFSTORE_TEST_CACHE_DIR});
      std::string tmpl = dir_ + ".tmp-XXXXXX";
      ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
      auto r = run({script, tmpl});
      if (r.status != 0) run({"rm", "-rf", tmpl});
      ASSERT_EQ(r.status, 0) << r.out << r.err;
      write_file(tmpl + "/done", "");
      if (::rename(tmpl.c_str(), dir_.c_str()) != 0) run({"rm", "-rf", tmpl});  // another won
    }
    have_gpg_ = on_path("gpg");
  }
  void SetUp() override {
    if (!missing_.empty()) GTEST_SKIP() << missing_;
  }

  static std::string root(const std::string& name) { return dir_ + "/" + name; }

  // `rpm --root R -qa --qf FORMAT\n`, sorted bytewise, as lines.
  // (Debian's rpm keeps its own database in ~/.rpmdb: --dbpath names the
  // root's.)
  static std::vector<std::string> host_rpm_qa(const std::string& r,
                                              const std::string& dbpath = "/var/lib/rpm") {
    auto res = run({"rpm", "--root", r, "--dbpath", dbpath, "-qa", "--qf",
                    std::string(kRpmQueryFormat) + "\n"},
                   {"HOME=" + dir_ + "/home", "LC_ALL=C"});
    EXPECT_EQ(res.status, 0) << res.err;
    return parse_rpm_query(res.out);
  }

  // The SIF of a root (made once per name).
  std::string sif_of(const std::string& name) {
    std::string sif = tmp_ / (name + ".sif");
    if (!test::exists(sif)) test::make_sif_from_tree(sif, root(name));
    return sif;
  }

  static std::vector<std::string> captured(const std::string& sif) {
    return capture_static(SquashfsImage::open_primary(SifImage::open(sif))).rpm;
  }

  static std::string dir_;
  static std::string missing_;
  static bool have_gpg_;
  TempDir tmp_;
};

std::string RpmCapture::dir_;
std::string RpmCapture::missing_;
bool RpmCapture::have_gpg_ = false;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_F(RpmCapture, DnfInstallRootEqualsRpmQa) {
  std::string sif = sif_of("dnf");
  std::vector<std::string> expected = host_rpm_qa(root("dnf"));
  std::vector<std::string> got = captured(sif);
  EXPECT_EQ(got, expected);
  // What the root holds, spelled as rpm spells it.
  EXPECT_TRUE(contains(got, "beta=2:2.0-3.x86_64"));        // epoch
  EXPECT_TRUE(contains(got, "docs=0.1-1.noarch"));          // noarch
  EXPECT_TRUE(contains(got, "alpha=1.0-1.x86_64"));         // the older of two in the repo
  EXPECT_TRUE(contains(got, "kernel-tiny=5.14-1.x86_64"));  // installed twice
  EXPECT_TRUE(contains(got, "kernel-tiny=5.15-1.x86_64"));
  if (have_gpg_) {
    size_t keys = std::count_if(got.begin(), got.end(), [](const std::string& l) {
      return l.rfind("gpg-pubkey=", 0) == 0 && l.size() > 7 && l.substr(l.size() - 7) == ".(none)";
    });
    EXPECT_EQ(keys, 1u) << "a gpg-pubkey has no ARCH: rpm prints (none)";
  }
  // The lock writes and reads them back, sorted, kernels as two lines; the
  // round trip's version set joins them.
  PackageLock lock;
  lock.rpm = got;
  PackageLock back = parse_lock(format_lock(lock), "x.lock");
  EXPECT_EQ(back.rpm, got);
  EXPECT_EQ(back.version_set().at("rpm:kernel-tiny"), "5.14-1.x86_64 5.15-1.x86_64");
  // lock capture counts them (where sifstore is built: not in the tsan preset).
  if (!test::exists(SIFSTORE_EXE)) return;
  auto r = test::sifstore(tmp_.path(), {"lock", "capture", sif, "-o", tmp_ / "dnf.lock"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(" node, " + std::to_string(got.size()) + " rpm packages (static capture)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(read_lock_file(tmp_ / "dnf.lock").rpm, got);
}

TEST_F(RpmCapture, WalModeDatabaseReadWithItsUncheckpointedTransaction) {
  std::string sif = sif_of("wal");  // before anything on this host opens the copy
  // The main file alone lacks the last transaction: it lives in the WAL.
  TempDir main_only;
  run({"mkdir", "-p", main_only / "var/lib/rpm"});
  run({"cp", root("wal") + "/var/lib/rpm/rpmdb.sqlite", main_only / "var/lib/rpm/"});
  ASSERT_FALSE(contains(host_rpm_qa(main_only.path()), "alpha=1.1-1.x86_64"));

  std::vector<std::string> got = captured(sif);
  EXPECT_TRUE(contains(got, "alpha=1.0-1.x86_64"));
  EXPECT_TRUE(contains(got, "alpha=1.1-1.x86_64"));
  EXPECT_EQ(got, host_rpm_qa(root("wal")));

  // lock diff against the dnf root's lock names the package that gained a version.
  if (!test::exists(SIFSTORE_EXE)) return;  // the tsan preset builds no sifstore
  std::string a = tmp_ / "a.lock", b = tmp_ / "b.lock";
  ASSERT_EQ(test::sifstore(tmp_.path(), {"lock", "capture", sif_of("dnf"), "-o", a}).status, 0);
  ASSERT_EQ(test::sifstore(tmp_.path(), {"lock", "capture", sif, "-o", b}).status, 0);
  auto r = test::sifstore(tmp_.path(), {"lock", "diff", a, b});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("1 changed (rpm:alpha: 1.0-1.x86_64 -> 1.0-1.x86_64 1.1-1.x86_64)"),
            std::string::npos)
      << r.out;
}

TEST_F(RpmCapture, BerkeleyDbDatabase) {
  if (!test::exists(root("bdb")))
    GTEST_SKIP() << "db5.3_load not found (apt-get install db5.3-util)";
  std::string sif = sif_of("bdb");
  auto res = run({"rpm", "--root", root("bdb"), "--dbpath", "/var/lib/rpm", "--define",
                  "_db_backend bdb_ro", "-qa", "--qf", std::string(kRpmQueryFormat) + "\n"},
                 {"HOME=" + dir_ + "/home", "LC_ALL=C"});
  ASSERT_EQ(res.status, 0) << res.err;
  std::vector<std::string> got = captured(sif);
  EXPECT_EQ(got, parse_rpm_query(res.out));
  EXPECT_EQ(got, host_rpm_qa(root("dnf")));  // the same headers as the SQLite root
}

TEST_F(RpmCapture, UnreadableNdbOrBerkeleyDbIsAnError) {
  // Random bytes as an NDB Packages.db (Debian's librpm has no NDB backend)
  // and as a Berkeley DB Packages file: never an empty [rpm].
  for (const std::string file : {"Packages.db", "Packages"}) {
    TempDir tree;
    run({"mkdir", "-p", tree / "var/lib/rpm"});
    run({"sh", "-c", "head -c 8192 /dev/urandom > \"$0\"", tree / ("var/lib/rpm/" + file)});
    std::string sif = tmp_ / (file + ".sif");
    test::make_sif_from_tree(sif, tree.path());
    try {
      auto got = captured(sif);
      ADD_FAILURE() << file << " read as " << got.size() << " packages";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(sif + ":/var/lib/rpm/" + file + ": "), std::string::npos)
          << e.what();
    }
  }
}

TEST_F(RpmCapture, DbPathFromTheImageMacros) {
  std::string sif = sif_of("sysimage");
  SquashfsImage fs = SquashfsImage::open_primary(SifImage::open(sif));
  EXPECT_EQ(rpm_dbpath(fs), "/usr/lib/sysimage/rpm");
  std::vector<std::string> got = captured(sif);
  EXPECT_EQ(got, host_rpm_qa(root("sysimage"), "/usr/lib/sysimage/rpm"));
  EXPECT_EQ(got, (std::vector<std::string>{"beta=2:2.0-3.x86_64", "docs=0.1-1.noarch"}));
}

TEST_F(RpmCapture, ExecCaptureGivesTheSameSection) {
  // The stand-in answers `rpm` in an image that has one with the host's rpm
  // on the extracted root (tests/standin/README.md).
  TempDir tree;
  run({"cp", "-a", root("dnf") + "/var", tree.path()});
  write_file(tree / "usr/bin/rpm", "#!/bin/sh\n# placeholder: the stand-in runs the host's rpm\n");
  ::chmod((tree / "usr/bin/rpm").c_str(), 0755);
  std::string sif = tmp_ / "exec.sif";
  test::make_sif_from_tree(sif, tree.path());
  PackageLock exec =
      capture_lock(sif, CaptureMethod::kExec, SIFSTORE_SOURCE_DIR "/tests/standin/apptainer");
  PackageLock stat = capture_lock(sif, CaptureMethod::kStatic);
  EXPECT_FALSE(exec.rpm.empty());
  EXPECT_EQ(exec.rpm, stat.rpm);
  EXPECT_EQ(exec.rpm, host_rpm_qa(root("dnf")));
  EXPECT_TRUE(compare_locks(exec, stat).identical()) << compare_locks(exec, stat).summary();
}

TEST_F(RpmCapture, ImageWithoutRpmHasNoSection) {
  TempDir tree;
  write_file(tree / "etc/hostname", "x\n");
  std::string sif = tmp_ / "plain.sif";
  test::make_sif_from_tree(sif, tree.path());
  EXPECT_TRUE(captured(sif).empty());
}

TEST_F(RpmCapture, MacroThatRunsCodeIsRefused) {
  TempDir tree;
  run({"cp", "-a", root("dnf") + "/var", tree.path()});
  write_file(tree / "etc/rpm/macros", "%_dbpath %(echo /var/lib/rpm)\n");
  std::string sif = tmp_ / "shell.sif";
  test::make_sif_from_tree(sif, tree.path());
  try {
    captured(sif);
    FAIL() << "a %(...) dbpath was expanded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(sif + ":/etc/rpm/macros: %_dbpath"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--method exec"), std::string::npos) << e.what();
  }
}

TEST_F(RpmCapture, CorruptDatabaseIsAnErrorNamingTheFileInTheImage) {
  TempDir tree;
  run({"cp", "-a", root("dnf") + "/var", tree.path()});
  std::string db = tree / "var/lib/rpm/rpmdb.sqlite";
  {
    // Keep the SQLite header, scribble over the pages behind it.
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    std::string junk(64 * 1024, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  std::string sif = tmp_ / "corrupt.sif";
  test::make_sif_from_tree(sif, tree.path());
  try {
    captured(sif);
    FAIL() << "a corrupt database was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(sif + ":/var/lib/rpm/rpmdb.sqlite: "), std::string::npos)
        << e.what();
  }
  // The CLI says so and writes no lock (where the sifstore executable is
  // built: the tsan preset builds the unit tests alone).
  if (!test::exists(SIFSTORE_EXE)) return;
  auto r = test::sifstore(tmp_.path(), {"lock", "capture", sif, "-o", tmp_ / "out.lock"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("sifstore: error: " + sif + ":/var/lib/rpm/rpmdb.sqlite: "),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(test::exists(tmp_ / "out.lock"));
}

}  // namespace
}  // namespace sifstore
