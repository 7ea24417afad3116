#include "core/capture.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/sha256.h"
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

void symlink_or_die(const std::string& target, const std::string& path) {
  std::string dir = path.substr(0, path.rfind('/'));
  run({"mkdir", "-p", dir});
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0) << path;
}

void copy_tree(const std::string& from, const std::string& to) {
  run({"mkdir", "-p", to.substr(0, to.rfind('/'))});
  auto r = run({"cp", "-a", from, to});
  ASSERT_EQ(r.status, 0) << r.err;
}

// "3.11": the host interpreter's version, so the image's fake interpreter
// gets the same pip freeze rules as the host pip that checks it.
std::string host_python_version() {
  auto r = run({"python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"});
  return r.status == 0 ? std::string(r.out.substr(0, r.out.find('\n'))) : "";
}

bool host_pip() { return run({"python3", "-m", "pip", "--version"}).status == 0; }

// `pip freeze --path A --path B ...` on the host.
std::string host_pip_freeze(const std::vector<std::string>& paths) {
  std::vector<std::string> argv = {"python3", "-m", "pip", "freeze"};
  for (const auto& p : paths) {
    argv.push_back("--path");
    argv.push_back(p);
  }
  auto r = run(argv, {"PIP_DISABLE_PIP_VERSION_CHECK=1", "PYTHONDONTWRITEBYTECODE=1"});
  EXPECT_EQ(r.status, 0) << r.err;
  return r.out;
}

// A Debian-like interpreter and pip in an image root: nothing is ever run,
// static capture only reads the #! line and the names.
void add_debian_python(const std::string& root, const std::string& version) {
  write_file(root + "/usr/bin/python" + version, "not a real interpreter\n");
  symlink_or_die("python" + version, root + "/usr/bin/python3");
  write_file(root + "/usr/bin/pip",
             "#!/usr/bin/python3\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n"
             "from pip._internal.cli.main import main\n");
}

// A global npm the way a nodesource install lays it out.
void add_node(const std::string& root) {
  write_file(root + "/usr/bin/node", "not a real node\n");
  if (!test::exists(root + "/usr/lib/node_modules/npm/bin/npm-cli.js")) {
    write_file(root + "/usr/lib/node_modules/npm/bin/npm-cli.js", "#!/usr/bin/env node\n");
    write_file(root + "/usr/lib/node_modules/npm/package.json", R"({"version":"10.0.0"})");
  }
  symlink_or_die("../lib/node_modules/npm/bin/npm-cli.js", root + "/usr/bin/npm");
}

// ---------------------------------------------------------------------------
// One image holding this machine's real package databases.

class RealTrees : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing = test::sif_tools_missing();
    if (!missing.empty()) GTEST_SKIP() << missing;
    root_ = dir_ / "root";
    run({"mkdir", "-p", root_});
  }
  // The machine's dpkg status database.
  void add_dpkg() {
    write_file(root_ + "/var/lib/dpkg/status", test::read_file("/var/lib/dpkg/status"));
    run({"mkdir", "-p", root_ + "/var/lib/dpkg/updates"});
    for (const auto& n : test::list_dir("/var/lib/dpkg/updates"))
      write_file(root_ + "/var/lib/dpkg/updates/" + n,
                 test::read_file("/var/lib/dpkg/updates/" + n));
  }
  // A copy of Debian's dist-packages tree, and the metadata of the host
  // interpreter's own site-packages (pyenv's here) as /usr/local's
  // dist-packages, behind a Debian-like python3 and pip.
  void add_python() {
    add_debian_python(root_, py_version_);
    if (test::exists("/usr/lib/python3/dist-packages"))
      copy_tree("/usr/lib/python3/dist-packages", root_ + "/usr/lib/python3/dist-packages");
    else
      run({"mkdir", "-p", root_ + "/usr/lib/python3/dist-packages"});
    auto site = run({"python3", "-c", "import site; print(site.getsitepackages()[0])"});
    std::string site_dir = site.out.substr(0, site.out.find('\n'));
    std::string local = root_ + "/usr/local/lib/python" + py_version_ + "/dist-packages";
    run({"mkdir", "-p", local});
    if (site.status == 0 && site_dir != "/usr/lib/python3/dist-packages" &&
        test::exists(site_dir)) {
      std::vector<std::string> cp = {"cp", "-a"};
      for (const auto& n : test::list_dir(site_dir))
        if (n.find(".dist-info") != std::string::npos || n.find(".egg-info") != std::string::npos)
          cp.push_back(site_dir + "/" + n);
      cp.push_back(local + "/");
      if (cp.size() > 3) {
        auto r = run(cp);
        ASSERT_EQ(r.status, 0) << r.err;
      }
    }
  }
  // npm's own global packages (their manifests), plus packages of every
  // shape npm lists.
  void add_node_modules() {
    std::string nm = root_ + "/usr/lib/node_modules";
    if (test::exists("/usr/lib/node_modules"))
      for (const auto& n : test::list_dir("/usr/lib/node_modules"))
        if (test::exists("/usr/lib/node_modules/" + n + "/package.json"))
          write_file(nm + "/" + n + "/package.json",
                     test::read_file("/usr/lib/node_modules/" + n + "/package.json"));
    add_node(root_);
    write_file(nm + "/left-pad/package.json", R"({"name":"left-pad","version":"1.3.0"})");
    write_file(nm + "/@types/node/package.json", R"({"name":"@types/node","version":"20.11.0"})");
    write_file(nm + "/@types/file", "a file inside a scope");
    write_file(nm + "/JSONStream/package.json", R"({"name":"JSONStream","version":"1.3.5"})");
    write_file(nm + "/noversion/package.json", R"({"name":"noversion"})");
    write_file(nm + "/badjson/package.json", "{bad");
    run({"mkdir", "-p", nm + "/nopkg", nm + "/.bin"});
    write_file(nm + "/README", "a file at the top level");
    write_file(root_ + "/opt/tool/package.json", R"({"name":"tool","version":"2.0.0"})");
    symlink_or_die("../../../opt/tool", nm + "/tool");
    symlink_or_die("/nonexistent", nm + "/dangling");
  }
  // lz4 keeps packing a large copied tree quick.
  SquashfsImage open() {
    sif_ = dir_ / "real.sif";
    test::make_squashfs(root_, sif_ + ".squashfs", "lz4");
    test::make_sif(sif_, sif_ + ".squashfs", "Bootstrap: docker\nFrom: debian:12\n");
    image_ = std::make_unique<SifImage>(SifImage::open(sif_));
    return SquashfsImage::open_primary(*image_);
  }

  TempDir dir_;
  std::string root_, sif_;
  std::string py_version_ = host_python_version();
  std::unique_ptr<SifImage> image_;
};

TEST_F(RealTrees, DpkgIsWhatDpkgQueryPrints) {
  if (!test::exists("/var/lib/dpkg/status") || !on_path("dpkg-query"))
    GTEST_SKIP() << "no dpkg on this machine";
  add_dpkg();
  auto real = run({"dpkg-query", "-W", "-f=${Package}=${Version}\n"});
  ASSERT_EQ(real.status, 0) << real.err;
  std::string captured = static_dpkg_query(open());
  EXPECT_EQ(captured, real.out);
  auto versions = parse_dpkg_query(captured);
  EXPECT_GT(versions.size(), 50u);
  EXPECT_EQ(versions, parse_dpkg_query(real.out));
}

TEST_F(RealTrees, PipIsWhatPipFreezePrints) {
  if (py_version_.empty() || !host_pip()) GTEST_SKIP() << "no python3 with pip on this machine";
  add_python();
  std::string truth =
      host_pip_freeze({root_ + "/usr/local/lib/python" + py_version_ + "/dist-packages",
                       root_ + "/usr/lib/python3/dist-packages"});
  std::string captured = static_pip_freeze(open());
  EXPECT_EQ(captured, truth);
  EXPECT_GT(parse_pip_freeze(captured).size(), 10u);
  EXPECT_EQ(parse_pip_freeze(captured), parse_pip_freeze(truth));
}

TEST_F(RealTrees, NodeIsWhatNpmListPrints) {
  if (!on_path("npm")) GTEST_SKIP() << "npm is not installed";
  add_node_modules();
  auto real = run({"npm", "list", "-g", "--depth=0", "--json", "--prefix", root_ + "/usr"});
  ASSERT_EQ(real.status, 0) << real.err;
  std::string captured = static_npm_list(open());
  EXPECT_EQ(captured, real.out);
  auto deps = nlohmann::json::parse(captured)["dependencies"];
  EXPECT_EQ(deps["left-pad"]["version"], "1.3.0");
  EXPECT_EQ(deps["tool"]["resolved"], "file:../../../opt/tool");
}

TEST_F(RealTrees, CaptureLockRecordsFacts) {
  if (test::exists("/var/lib/dpkg/status")) add_dpkg();
  add_debian_python(root_, "3.11");
  write_file(root_ + "/usr/lib/python3/dist-packages/NumPy-2.1.0.dist-info/METADATA",
             "Name: NumPy\nVersion: 2.1.0\n");
  add_node_modules();
  SquashfsImage fs = open();
  PackageLock lock = capture_lock(sif_, CaptureMethod::kStatic);
  auto sum = run({"sha256sum", sif_});
  ASSERT_EQ(sum.status, 0);
  EXPECT_EQ(lock.facts.at("image-sha256"), sum.out.substr(0, 64));
  EXPECT_EQ(lock.facts.at("captured-by"), "static");
  EXPECT_EQ(lock.pip.at("numpy"), "2.1.0");
  EXPECT_EQ(lock.dpkg, parse_dpkg_query(static_dpkg_query(fs)));
  EXPECT_EQ(lock.pip, parse_pip_freeze(static_pip_freeze(fs)));
  EXPECT_EQ(lock.node + "\n", static_npm_list(fs));
}

// ---------------------------------------------------------------------------
// dpkg rules, checked against dpkg-query --admindir on the same files.

std::string stanza(const std::string& pkg, const std::string& status, const std::string& version,
                   const std::string& arch = "amd64", bool multi_arch_same = false) {
  std::string s = "Package: " + pkg + "\nStatus: " + status + "\nMaintainer: m <m@x>\n";
  if (multi_arch_same) s += "Multi-Arch: same\n";
  if (!arch.empty()) s += "Architecture: " + arch + "\n";
  if (!version.empty()) s += "Version: " + version + "\n";
  return s + "Description: d\n long\n .\n description\n\n";
}

TEST(DpkgRules, WhatDpkgQueryListsAndHowItSpellsVersions) {
  if (!on_path("dpkg-query")) GTEST_SKIP() << "no dpkg-query on this machine";
  TempDir dir;
  std::string status = stanza("zlib1g", "install ok installed", "1:1.2.13.dfsg-1") +
                       stanza("libc6", "install ok installed", "2.36-9", "i386", true) +
                       stanza("libc6", "install ok installed", "2.36-9", "amd64", true) +
                       stanza("gone", "purge ok not-installed", "") +
                       stanza("cfg", "deinstall ok config-files", "0:3.0") +
                       stanza("half", "install reinstreq half-installed", "5") +
                       stanza("UPPER", "install ok installed", "00:1~rc1+dfsg", "all") +
                       stanza("unpacked", "install ok unpacked", "7.0-1ubuntu0.1");
  write_file(dir / "admin/status", status);
  write_file(dir / "admin/available", "");
  write_file(dir / "admin/updates/0001", stanza("late", "install ok installed", "4.1"));
  run({"mkdir", "-p", dir / "admin/info"});
  auto real =
      run({"dpkg-query", "--admindir=" + dir / "admin", "-W", "-f=${Package}=${Version}\n"});
  ASSERT_EQ(real.status, 0) << real.err;
  std::string ours = dpkg_query_output(status, "status",
                                       {{"0001", stanza("late", "install ok installed", "4.1")}});
  EXPECT_EQ(ours, real.out);
  EXPECT_NE(ours.find("cfg=3.0\n"), std::string::npos);  // zero epoch dropped
  EXPECT_EQ(ours.find("gone="), std::string::npos);      // purged: not listed
  EXPECT_NE(ours.find("upper=1~rc1+dfsg\n"), std::string::npos);
}

TEST(DpkgRules, StatusFilesDpkgRefusesAreErrorsNamingTheLine) {
  std::string ok = stanza("a", "install ok installed", "1");
  for (const std::string& bad :
       {ok + stanza("b", "install ok installed", ""), ok + "Status: install ok installed\n",
        ok + stanza("c", "install ok installed", "1.0 beta"), ok + "garbage line\n",
        std::string(" continuation first\n")}) {
    try {
      dpkg_query_output(bad, "img.sif:/var/lib/dpkg/status");
      ADD_FAILURE() << "accepted:\n" << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("img.sif:/var/lib/dpkg/status:", 0), 0u) << e.what();
    }
  }
  EXPECT_EQ(dpkg_query_output("", "x"), "");
}

// A line of only white space inside a field continues the field, as dpkg
// reads it (with a warning); it does not end the record.
std::string blank_continuation_status() {
  return "Package: first\nStatus: install ok installed\nMaintainer: m <m@x>\n"
         "Description: d\n long\n \t \n more\nVersion: 1:2.0-1\nArchitecture: amd64\n\n"
         "Package: second\nStatus: install ok installed\nVersion: 3.1\n  \n"
         "Architecture: all\nMaintainer: m <m@x>\nDescription: d\n\n"
         "Package: third\nStatus: install ok installed\nMaintainer: m <m@x>\n"
         "Architecture: all\nDescription: d\nVersion: 0:4\n\t\n";
}

// Status files with a line of only white space where no record is open.
std::vector<std::string> white_space_outside_a_record() {
  return {" \nPackage: a\n", "Package: a\nStatus: install ok installed\nVersion: 1\n\n \n"};
}

TEST(DpkgRules, AWhiteSpaceLineInAFieldContinuesItWithAWarning) {
  std::vector<std::string> warnings;
  std::string ours =
      dpkg_query_output(blank_continuation_status(), "img.sif:/status", {}, &warnings);
  EXPECT_EQ(ours, "first=1:2.0-1\nsecond=3.1\nthird=4\n");
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_EQ(warnings[0],
            "img.sif:/status:6: package first: blank line in value of field 'Description' "
            "(read as part of the field, as dpkg does)");
  EXPECT_NE(warnings[1].find(":14: package second: blank line in value of field 'Version'"),
            std::string::npos)
      << warnings[1];
  EXPECT_NE(warnings[2].find("field 'Version'"), std::string::npos) << warnings[2];
  // Without a place for warnings the text is read the same.
  EXPECT_EQ(dpkg_query_output(blank_continuation_status(), "s"), ours);
  // Outside a record such a line is no field at all: dpkg refuses the file.
  for (const std::string& bad : white_space_outside_a_record()) {
    try {
      dpkg_query_output(bad, "img.sif:/status");
      ADD_FAILURE() << "accepted:\n" << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("only white space outside a record"), std::string::npos)
          << e.what();
    }
  }
}

TEST(DpkgRules, AWhiteSpaceLineInAFieldAsDpkgQueryReadsIt) {
  if (!on_path("dpkg-query")) GTEST_SKIP() << "no dpkg-query on this machine: nothing to compare";
  TempDir dir;
  write_file(dir / "admin/status", blank_continuation_status());
  write_file(dir / "admin/available", "");
  run({"mkdir", "-p", dir / "admin/info", dir / "admin/updates"});
  auto real =
      run({"dpkg-query", "--admindir=" + dir / "admin", "-W", "-f=${Package}=${Version}\n"});
  ASSERT_EQ(real.status, 0) << real.err;
  EXPECT_NE(real.err.find("blank line in value of field 'Description'"), std::string::npos)
      << real.err;
  std::vector<std::string> warnings;
  EXPECT_EQ(dpkg_query_output(blank_continuation_status(), "status", {}, &warnings), real.out);
  EXPECT_EQ(warnings.size(), 3u);
  // And where dpkg-query refuses the file, so do we.
  for (const std::string& bad : white_space_outside_a_record()) {
    write_file(dir / "admin/status", bad);
    auto refused =
        run({"dpkg-query", "--admindir=" + dir / "admin", "-W", "-f=${Package}=${Version}\n"});
    EXPECT_NE(refused.status, 0) << bad;
    EXPECT_THROW(dpkg_query_output(bad, "status"), Error) << bad;
  }
}

// ---------------------------------------------------------------------------
// pip rules, checked against the host's pip on the same files.

std::string metadata(const std::string& name, const std::string& version) {
  std::string m = "Metadata-Version: 2.1\n";
  if (!name.empty()) m += "Name: " + name + "\n";
  if (!version.empty()) m += "Version: " + version + "\n";
  return m + "Summary: s\n\nLong description\nName: not-this\n";
}

TEST(PipRules, VersionsDirectUrlsAndOddMetadataAsPipFreeze) {
  if (!host_pip()) GTEST_SKIP() << "no python3 with pip on this machine";
  std::string missing = test::sif_tools_missing();
  if (!missing.empty()) GTEST_SKIP() << missing;
  TempDir dir;
  std::string py = host_python_version();
  std::string root = dir / "root";
  std::string site = root + "/usr/local/lib/python" + py + "/site-packages";
  // An upstream build at /usr/local (the python:3.x images).
  write_file(root + "/usr/local/bin/python" + py, "not a real interpreter\n");
  symlink_or_die("python" + py, root + "/usr/local/bin/python3");
  write_file(root + "/usr/local/bin/pip3", "#!/usr/bin/env python3\n");
  auto dist = [&](const std::string& dirname, const std::string& name, const std::string& version,
                  const std::string& direct_url = "") {
    write_file(site + "/" + dirname + "/METADATA", metadata(name, version));
    if (!direct_url.empty()) write_file(site + "/" + dirname + "/direct_url.json", direct_url);
  };
  dist("Beta-1.0.dist-info", "Beta", "1.0-beta.2");
  dist("epoch-1.dist-info", "epoch", "0!01.02.post3.dev4+Ubuntu-1.0");
  dist("legacy-1.dist-info", "Legacy_Name", "2013b-not-pep440");
  dist("vee-1.dist-info", "vee", "v1.0RC1");
  dist(
      "vcs-1.dist-info", "vcs-pkg", "1.0",
      R"({"url": "https://github.com/x/y.git", "vcs_info": {"vcs": "git", "commit_id": "abc123"}})");
  dist(
      "arch-1.dist-info", "arch", "2.0",
      R"({"url": "https://x.org/arch-2.0.tar.gz", "archive_info": {"hash": "sha256=ff"}, "subdirectory": "sub"})");
  dist("local-1.dist-info", "local", "3.0", R"({"url": "file:///opt/src/local", "dir_info": {}})");
  dist("edit-1.dist-info", "edit", "4.0",
       R"({"url": "file:///opt/src/edit%20me", "dir_info": {"editable": true}})");
  dist("badurl-1.dist-info", "badurl", "5.0", R"({"url": "x", "dir_info": {}, "vcs_info": {}})");
  dist("noname-1.dist-info", "", "1.0");
  dist("pip-23.dist-info", "pip", "23.0");
  write_file(site + "/single-1.0-py3.egg-info", metadata("single", "1.0"));
  write_file(site + "/olddir.egg-info/PKG-INFO", metadata("OldDir", "0.1"));
  std::string truth = host_pip_freeze({site});
  std::string sif = dir / "pip.sif";
  test::make_sif_from_tree(sif, root);
  SifImage image = SifImage::open(sif);
  std::string captured = static_pip_freeze(SquashfsImage::open_primary(image));
  EXPECT_EQ(captured, truth);
  EXPECT_NE(captured.find("Beta==1.0b2\n"), std::string::npos) << captured;
  EXPECT_NE(captured.find("Legacy_Name===2013b-not-pep440\n"), std::string::npos);
  EXPECT_NE(captured.find("-e /opt/src/edit me\n"), std::string::npos);
  auto lock = parse_pip_freeze(captured);
  EXPECT_EQ(lock["legacy_name"], "=2013b-not-pep440");  // the reference splits at "=="
  EXPECT_EQ(lock.count("local @ file:///opt/src/local"), 1u);
}

TEST(Pep440, NormalFormsAsPackagingPrintsThem) {
  std::vector<std::string> versions = {"1.0",
                                       "v1.0",
                                       "01.002.0",
                                       "1.0a1",
                                       "1.0-alpha-1",
                                       "1.0.beta2",
                                       "1.0c3",
                                       "1.0pre4",
                                       "1.0preview",
                                       "1.0rc",
                                       "1.0-1",
                                       "1.0.post",
                                       "1.0-r5",
                                       "1.0rev6",
                                       "1.0.dev",
                                       "1.0-dev-7",
                                       "2!1.0",
                                       "0!1.0",
                                       "1.0+Local.7",
                                       "1.0+abc-01_2",
                                       " 1.0 ",
                                       "1.0.0.0.0",
                                       "1.0a1.post2.dev3",
                                       "not a version",
                                       "1.0+",
                                       "1.0_RC_1",
                                       "1.0.POST_1",
                                       "",
                                       "1..0",
                                       "1.0a-1",
                                       "1.0.a.1",
                                       "1.0_dev_3",
                                       "1.0post-1",
                                       "1.0-1-dev",
                                       "1.0a1-1",
                                       "1!2.0",
                                       "1.0.0-rc.1",
                                       "1.0.r1",
                                       "1.0b",
                                       "1.0-",
                                       "1.0.",
                                       "1.0-preview-2",
                                       "1.0+a..b",
                                       "1.0rc1+",
                                       "1.0c",
                                       "V1.0",
                                       "1.0+UBUNTU.01"};
  // And a few thousand random strings of the grammar's pieces: the
  // backtracking must settle where re.match does.
  std::mt19937 gen(440);
  const std::vector<std::string> pieces = {
      "1", "0",   "12", "007", ".",      ".",    "-",   "_",       "+",    "!",
      "a", "b",   "c",  "rc",  "alpha",  "beta", "pre", "preview", "post", "rev",
      "r", "dev", "v",  "x",   "ubuntu", " ",    "1.0", "2.3.4"};
  for (int i = 0; i < 3000; ++i) {
    std::string v = i % 2 ? "1" : "";
    int n = 1 + static_cast<int>(gen() % 7);
    for (int k = 0; k < n; ++k) v += pieces[gen() % pieces.size()];
    versions.push_back(v);
  }
  if (host_pip()) {
    // packaging's answers for all of them, one per line.
    std::vector<std::string> argv = {
        "python3", "-c",
        "import sys\nfrom pip._vendor.packaging.version import Version, InvalidVersion\n"
        "for v in sys.argv[1:]:\n"
        "    try:\n        print(Version(v))\n    except InvalidVersion:\n        "
        "print('INVALID')"};
    argv.insert(argv.end(), versions.begin(), versions.end());
    auto r = run(argv);
    ASSERT_EQ(r.status, 0) << r.err;
    std::istringstream truth(r.out);
    int valid = 0;
    for (const auto& v : versions) {
      std::string line;
      std::getline(truth, line);
      EXPECT_EQ(pep440_normalize(v).value_or("INVALID"), line) << "'" << v << "'";
      valid += line != "INVALID";
    }
    EXPECT_GT(valid, 500);  // the random ones reach deep into the grammar
  }
  EXPECT_EQ(pep440_normalize("1.0-beta.2"), "1.0b2");
  EXPECT_EQ(pep440_normalize("x"), std::nullopt);
  EXPECT_EQ(canonical_python_name("Foo__Bar.baz-Qux"), "foo-bar-baz-qux");
}

// ---------------------------------------------------------------------------
// Where pip and npm are found: the container's PATH, venvs, .pth files.

class Layouts : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing = test::sif_tools_missing();
    if (!missing.empty()) GTEST_SKIP() << missing;
    root_ = dir_ / "root";
    run({"mkdir", "-p", root_});
  }
  SquashfsImage image() {
    std::string sif = dir_ / ("img" + std::to_string(++count_) + ".sif");
    test::make_sif_from_tree(sif, root_);
    images_.push_back(std::make_unique<SifImage>(SifImage::open(sif)));
    return SquashfsImage::open_primary(*images_.back());
  }
  void dist(const std::string& site, const std::string& name, const std::string& version) {
    write_file(root_ + site + "/" + name + "-" + version + ".dist-info/METADATA",
               metadata(name, version));
  }
  TempDir dir_;
  std::string root_;
  int count_ = 0;
  std::vector<std::unique_ptr<SifImage>> images_;
};

TEST_F(Layouts, NoPipNoNpmMeansEmptySections) {
  dist("/usr/lib/python3/dist-packages", "orphan", "1.0");
  write_file(root_ + "/usr/lib/node_modules/x/package.json", R"({"version":"1.0.0"})");
  SquashfsImage fs = image();
  EXPECT_EQ(static_pip_freeze(fs), "");  // `pip freeze` would fail: no pip
  EXPECT_EQ(static_npm_list(fs), "");    // `npm list` would fail: no npm
  EXPECT_EQ(static_dpkg_query(fs), "");  // no dpkg database
  PackageLock lock = capture_static(fs);
  EXPECT_TRUE(lock.pip.empty() && lock.dpkg.empty() && lock.node.empty());
}

TEST_F(Layouts, VenvOnThePathFromTheImageEnvironment) {
  // A venv at /opt/venv, put first on PATH by the image's environment
  // scripts (the way Apptainer writes them), seeing the system site too.
  write_file(
      root_ + "/.singularity.d/env/10-docker2singularity.sh",
      "#!/bin/sh\nexport PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n"
      "export LANG=\"${LANG:-\"C.UTF-8\"}\"\n");
  write_file(
      root_ + "/.singularity.d/env/90-environment.sh",
      "#!/bin/sh\n# custom\nexport PATH=/opt/venv/bin:$PATH\nexport PYTHONPATH=\"/opt/extra\"\n"
      "if [ -n \"$X\" ]; then\n  FOO=$(date)\nfi\n");
  add_debian_python(root_, "3.11");
  write_file(root_ + "/opt/venv/pyvenv.cfg",
             "home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.11.2\n");
  symlink_or_die("/usr/bin/python3", root_ + "/opt/venv/bin/python");
  write_file(root_ + "/opt/venv/bin/pip", "#!/opt/venv/bin/python\n");
  dist("/opt/venv/lib/python3.11/site-packages", "inside", "1.0");
  dist("/opt/venv/lib/python3.11/site-packages", "shared", "2.0");
  dist("/usr/lib/python3/dist-packages", "shared", "1.0");  // shadowed by the venv's
  dist("/usr/lib/python3/dist-packages", "system", "3.0");
  dist("/usr/local/lib/python3.11/dist-packages", "local", "4.0");
  dist("/opt/extra", "extra", "5.0");
  // A .pth line adds a directory; import lines and comments do not.
  write_file(root_ + "/usr/lib/python3/dist-packages/more.pth",
             "# comment\nimport os\n../../../../srv/more\n/nonexistent\n");
  dist("/srv/more", "viapth", "6.0");
  dist("/usr/lib/python3/dist-packages", "wheel", "0.40");  // skipped before 3.12
  auto pip = parse_pip_freeze(static_pip_freeze(image()));
  std::map<std::string, std::string> want = {{"inside", "1.0"}, {"shared", "2.0"},
                                             {"system", "3.0"}, {"local", "4.0"},
                                             {"extra", "5.0"},  {"viapth", "6.0"}};
  EXPECT_EQ(pip, want);
}

TEST_F(Layouts, EnvironmentScriptWordsWithQuotesAndBraces) {
  // Values as the shell reads them: quotes, ${x:-default} holding quotes and
  // braces, and the word ending at an unquoted ';' or blank.
  write_file(root_ + "/.singularity.d/env/90-environment.sh",
             "A='/opt/a b'\n"
             "export B=\"${NOPE:-\"/opt/{b}\"}\"\n"
             "export PYTHONPATH=\"${PYTHONPATH:-$A}\":\"$B\"; PYTHONPATH=/ignored\n"
             "C=/opt/c\\ d other words\n"
             "export PYTHONPATH=$PYTHONPATH:$C\n");
  add_debian_python(root_, "3.11");
  dist("/opt/a b", "spaced", "1.0");
  dist("/opt/{b}", "braced", "2.0");
  dist("/opt/c d", "escaped", "3.0");
  dist("/ignored", "ignored", "4.0");
  auto pip = parse_pip_freeze(static_pip_freeze(image()));
  std::map<std::string, std::string> want = {
      {"spaced", "1.0"}, {"braced", "2.0"}, {"escaped", "3.0"}};
  EXPECT_EQ(pip, want);
}

TEST_F(Layouts, AssignmentsInsideIfCaseLoopsAndFunctionsAreNotApplied) {
  // As Apptainer's own 99-runtimevars.sh (found with the real Apptainer
  // 1.1.9): PATH set only in `if`s on variables unset under exec. Applied
  // unconditionally, PATH became empty and pip was not found.
  write_file(root_ + "/.singularity.d/env/99-runtimevars.sh",
             "#!/bin/sh\n"
             "if [ -n \"${SING_USER_DEFINED_PATH:-}\" ]; then\n"
             "\tPATH=\"${SING_USER_DEFINED_PATH}\"\n"
             "fi\n"
             "export PATH\n");
  write_file(root_ + "/.singularity.d/env/90-environment.sh",
             "export PYTHONPATH=/opt/first\n"
             "if true; then PYTHONPATH=/one-line-if; fi\n"
             "case \"$X\" in\n  y) PYTHONPATH=/case ;;\nesac\n"
             "for d in /a; do\n  PYTHONPATH=/loop\ndone\n"
             "setpath() {\n  PYTHONPATH=/function\n}\n"
             "export PYTHONPATH=$PYTHONPATH:/opt/second\n");
  add_debian_python(root_, "3.11");
  dist("/usr/lib/python3/dist-packages", "system", "3.0");
  dist("/opt/first", "first", "1.0");
  dist("/opt/second", "second", "2.0");
  for (const char* d : {"/one-line-if", "/case", "/loop", "/function"})
    dist(d, std::string("not") + (d + 1), "9.0");
  auto pip = parse_pip_freeze(static_pip_freeze(image()));
  std::map<std::string, std::string> want = {
      {"system", "3.0"}, {"first", "1.0"}, {"second", "2.0"}};
  EXPECT_EQ(pip, want);
}

TEST_F(Layouts, Pip3OnlyWithAShebangThroughEnvAndPython312) {
  write_file(root_ + "/usr/bin/python3.12", "x");
  write_file(root_ + "/usr/bin/pip3", "#!/usr/bin/env python3.12\n");
  dist("/usr/lib/python3.12/site-packages", "setuptools", "69.0");  // listed from 3.12 on
  dist("/usr/lib/python3.12/site-packages", "pip", "24.0");
  auto pip = parse_pip_freeze(static_pip_freeze(image()));
  EXPECT_EQ(pip, (std::map<std::string, std::string>{{"setuptools", "69.0"}}));
}

TEST_F(Layouts, NpmPrefixFromTheEnvironmentOrAnNpmrc) {
  add_node(root_);
  write_file(root_ + "/opt/npm-global/lib/node_modules/a/package.json", R"({"version":"1.0.0"})");
  write_file(root_ + "/srv/g/lib/node_modules/b/package.json", R"({"version":"2.0.0"})");
  write_file(root_ + "/usr/etc/npmrc", "; global config\nprefix = /srv/g\n");
  auto deps = [](const std::string& text) { return nlohmann::json::parse(text)["dependencies"]; };
  EXPECT_EQ(deps(static_npm_list(image())).begin().key(), "b");
  write_file(root_ + "/.singularity.d/env/90-environment.sh",
             "export NPM_CONFIG_PREFIX=/opt/npm-global\n");
  EXPECT_EQ(deps(static_npm_list(image())).begin().key(), "a");
}

TEST_F(Layouts, AnInvalidNpmNameFailsNpmListSoNodeIsEmpty) {
  add_node(root_);
  write_file(root_ + "/usr/lib/node_modules/ok/package.json", R"({"version":"1.0.0"})");
  SquashfsImage good = image();
  EXPECT_NE(static_npm_list(good), "");
  write_file(root_ + "/usr/lib/node_modules/_under/package.json", R"({"version":"1.0.0"})");
  EXPECT_EQ(static_npm_list(image()), "");
}

// ---------------------------------------------------------------------------
// Exec capture, with a stand-in builder that answers like an image would.

TEST(ExecCapture, RunsTheThreeCommandsThroughTheBuilder) {
  TempDir dir;
  std::string log = dir / "calls.log";
  std::string builder = dir / "fake-apptainer";
  write_file(builder,
             "#!/bin/sh\n"
             "echo \"$*\" >> '" +
                 log +
                 "'\n"
                 "[ \"$1\" = --quiet-flag-ignored ] && shift\n"
                 "[ \"$1 $2 $3\" = 'exec --cleanenv --no-home' ] || exit 99\n"
                 "shift 4\n"
                 "case \"$1\" in\n"
                 "  pip) exit 127 ;;\n"
                 "  pip3) printf 'NumPy==2.1.0\\n-e /src/x\\n# comment\\n' ;;\n"
                 "  dpkg-query) printf 'libc6=2.36-9\\nbash=5.2.15-2+b2\\n' ;;\n"
                 "  npm) printf '{\\n  \"name\": \"lib\"\\n}\\n\\n' ;;\n"
                 "esac\n");
  ASSERT_EQ(::chmod(builder.c_str(), 0755), 0);
  write_file(dir / "x.sif", "not read by the fake");
  PackageLock lock = capture_exec(dir / "x.sif", builder + " --quiet-flag-ignored");
  EXPECT_EQ(lock.pip, (std::map<std::string, std::string>{{"numpy", "2.1.0"}, {"-e /src/x", ""}}));
  EXPECT_EQ(lock.dpkg,
            (std::map<std::string, std::string>{{"libc6", "2.36-9"}, {"bash", "5.2.15-2+b2"}}));
  EXPECT_EQ(lock.node, "{\n  \"name\": \"lib\"\n}");
  std::string calls = test::read_file(log);
  EXPECT_NE(
      calls.find("--quiet-flag-ignored exec --cleanenv --no-home " + dir / "x.sif" + " pip freeze"),
      std::string::npos)
      << calls;
  EXPECT_NE(calls.find("dpkg-query -W -f=${Package}=${Version}\n"), std::string::npos) << calls;
  EXPECT_NE(calls.find("npm list -g --depth=0 --json"), std::string::npos) << calls;
}

TEST(ExecCapture, AMissingBuilderIsAClearError) {
  TempDir dir;
  write_file(dir / "x.sif", "x");
  try {
    capture_exec(dir / "x.sif", "no-such-apptainer-here");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-apptainer-here"), std::string::npos) << e.what();
  }
  EXPECT_THROW(capture_lock(dir / "x.sif", CaptureMethod::kStatic), Error);  // not a SIF
  EXPECT_THROW(parse_capture_method("dynamic"), Error);
}

}  // namespace
}  // namespace sifstore
