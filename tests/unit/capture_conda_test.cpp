// Static capture of conda environments from image trees laid out as conda
// writes them: conda-meta/history and one JSON record per package
// (conda-meta/<name>-<version>-<build>.json), named environments under
// envs/, environments.txt, pip-installed packages beside them.
#include "core/capture/conda.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/capture.h"
#include "core/capture/dispatch.h"
#include "core/error.h"
#include "core/sif.h"
#include "support/sif_maker.h"
#include "support/temp_dir.h"

namespace sifstore {
namespace {

using test::TempDir;
using test::write_file;

// A conda-meta record as conda 23/24 writes it (fields conda list reads,
// and some it does not).
std::string record(const std::string& name, const std::string& version, const std::string& build,
                   const std::string& channel, const std::string& subdir = "linux-64") {
  return "{\n  \"arch\": \"x86_64\",\n  \"build\": \"" + build +
         "\",\n  \"build_number\": 0,\n  \"channel\": \"" + channel +
         "\",\n  \"constrains\": [],\n  \"depends\": [],\n  \"files\": [],\n  \"fn\": \"" + name +
         "-" + version + "-" + build +
         ".conda\",\n  \"license\": \"BSD-3-Clause\",\n  \"name\": \"" + name +
         "\",\n  \"platform\": \"linux\",\n  \"requested_spec\": \"\",\n  \"subdir\": \"" + subdir +
         "\",\n  \"url\": \"" + channel + "/" + name + "-" + version + "-" + build +
         ".conda\",\n  \"version\": \"" + version + "\"\n}\n";
}

void env(const TempDir& tree, const std::string& prefix,
         const std::vector<std::vector<std::string>>& pkgs) {
  write_file(tree / (prefix.substr(1) + "/conda-meta/history"),
             "==> 2024-05-01 10:00:00 <==\n# cmd: /opt/conda/bin/conda create -y\n+defaults::x\n");
  for (const auto& p : pkgs)
    write_file(
        tree / (prefix.substr(1) + "/conda-meta/" + p[0] + "-" + p[1] + "-" + p[2] + ".json"),
        record(p[0], p[1], p[2], p[3], p.size() > 4 ? p[4] : "linux-64"));
}

class CondaCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string m = test::sif_tools_missing(); !m.empty()) GTEST_SKIP() << m;
  }
  std::vector<std::string> captured() {
    std::string sif = tmp_ / "c.sif";
    test::make_sif_from_tree(sif, tree_.path());
    return capture_static(SquashfsImage::open_primary(SifImage::open(sif))).conda;
  }
  TempDir tree_, tmp_;
};

TEST_F(CondaCapture, BaseAndNamedEnvironmentsAsCondaListExportPrintsThem) {
  const std::string cf = "https://conda.anaconda.org/conda-forge/linux-64";
  env(tree_, "/opt/conda",
      {{"python", "3.11.8", "hab00c5b_0_cpython", cf},
       {"python-dateutil", "2.9.0", "pyhd8ed1ab_0", "https://conda.anaconda.org/conda-forge/noarch",
        "noarch"},
       {"_libgcc_mutex", "0.1", "conda_forge", cf},
       {"conda", "24.3.0", "py311h38be061_0", cf}});
  env(tree_, "/opt/conda/envs/ml",
      {{"numpy", "1.26.4", "py311h64a7726_0", "https://repo.anaconda.com/pkgs/main/linux-64"},
       {"zlib", "1.2.13", "h5eee18b_0", "pkgs/main"}});
  // Not environments: no conda-meta/history.
  write_file(tree_ / "opt/conda/envs/broken/conda-meta/x-1-0.json", record("x", "1", "0", cf));
  write_file(tree_ / "opt/other/conda-meta/y-1-0.json", record("y", "1", "0", cf));
  // pip installed into base: not a conda record (conda list shows it as pypi_0).
  write_file(tree_ / "opt/conda/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA",
             "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n");
  write_file(tree_ / "opt/conda/lib/python3.11/site-packages/requests-2.31.0.dist-info/INSTALLER",
             "pip\n");
  // An environment listed in environments.txt elsewhere.
  env(tree_, "/srv/envs/tools", {{"jq", "1.7.1", "hd590300_0", cf}});
  write_file(tree_ / "root/.conda/environments.txt", "/opt/conda\n/srv/envs/tools\n/gone\n");

  EXPECT_EQ(captured(), (std::vector<std::string>{
                            "/opt/conda _libgcc_mutex=0.1=conda_forge conda-forge",
                            "/opt/conda conda=24.3.0=py311h38be061_0 conda-forge",
                            "/opt/conda python=3.11.8=hab00c5b_0_cpython conda-forge",
                            "/opt/conda python-dateutil=2.9.0=pyhd8ed1ab_0 conda-forge",
                            "/opt/conda/envs/ml numpy=1.26.4=py311h64a7726_0 pkgs/main",
                            "/opt/conda/envs/ml zlib=1.2.13=h5eee18b_0 pkgs/main",
                            "/srv/envs/tools jq=1.7.1=hd590300_0 conda-forge",
                        }));
}

TEST_F(CondaCapture, BasePrefixFoundThroughPath) {
  env(tree_, "/usr/miniconda3", {{"pip", "24.0", "pyhd8ed1ab_0", "conda-forge", "noarch"}});
  write_file(tree_ / ".singularity.d/env/90-environment.sh",
             "#!/bin/sh\nexport PATH=/usr/miniconda3/bin:$PATH\n");
  EXPECT_EQ(captured(),
            (std::vector<std::string>{"/usr/miniconda3 pip=24.0=pyhd8ed1ab_0 conda-forge"}));
}

TEST_F(CondaCapture, TruncatedRecordIsAnErrorNamingTheFile) {
  env(tree_, "/opt/conda", {{"zlib", "1.2.13", "h5eee18b_0", "pkgs/main"}});
  std::string full = record("numpy", "1.26.4", "py311_0", "pkgs/main");
  write_file(tree_ / "opt/conda/conda-meta/numpy-1.26.4-py311_0.json", full.substr(0, 90));
  try {
    captured();
    FAIL() << "a truncated record was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "c.sif:/opt/conda/conda-meta/numpy-1.26.4-py311_0.json: not a conda package "
                  "record"),
              std::string::npos)
        << e.what();
  }
}

// What `conda list --json` prints for one package (conda 24).
std::string list_entry(const std::string& name, const std::string& version,
                       const std::string& build, const std::string& base_url,
                       const std::string& channel, const std::string& platform = "linux-64") {
  return "{\"base_url\": \"" + base_url + "\", \"build_number\": 0, \"build_string\": \"" + build +
         "\", \"channel\": \"" + channel + "\", \"dist_name\": \"" + name + "-" + version + "-" +
         build + "\", \"name\": \"" + name + "\", \"platform\": \"" + platform +
         "\", \"version\": \"" + version + "\"}";
}

TEST_F(CondaCapture, ExecCaptureRunsCondaListPerEnvironmentAndAgreesWithStatic) {
  const std::string cf = "https://conda.anaconda.org/conda-forge/linux-64";
  env(tree_, "/opt/conda",
      {{"python", "3.11.8", "hab00c5b_0_cpython", cf},
       {"python-dateutil", "2.9.0", "pyhd8ed1ab_0", "https://conda.anaconda.org/conda-forge/noarch",
        "noarch"}});
  env(tree_, "/opt/conda/envs/ml",
      {{"numpy", "1.26.4", "py311h64a7726_0", "https://repo.anaconda.com/pkgs/main/linux-64"}});
  std::vector<std::string> expected = captured();
  ASSERT_EQ(expected.size(), 3u);
  // A builder whose `exec` answers as conda would inside that image.
  write_file(tmp_ / "envs.json",
             "{\n  \"envs\": [\n    \"/opt/conda\",\n    \"/opt/conda/envs/ml\"\n  ]\n}\n");
  write_file(tmp_ / "base.json",
             "[" +
                 list_entry("python", "3.11.8", "hab00c5b_0_cpython",
                            "https://conda.anaconda.org/conda-forge", "conda-forge") +
                 ", " +
                 list_entry("python-dateutil", "2.9.0", "pyhd8ed1ab_0",
                            "https://conda.anaconda.org/conda-forge", "conda-forge", "noarch") +
                 ", " +
                 list_entry("requests", "2.31.0", "pypi_0", "https://pypi.org", "pypi", "pypi") +
                 "]\n");
  write_file(tmp_ / "ml.json", "[" +
                                   list_entry("numpy", "1.26.4", "py311h64a7726_0",
                                              "https://repo.anaconda.com/pkgs/main", "pkgs/main") +
                                   "]\n");
  std::string builder = tmp_ / "fake-apptainer";
  write_file(builder,
             "#!/bin/sh\nshift 4\ncase \"$*\" in\n"
             "  'conda env list --json') cat '" +
                 (tmp_ / "envs.json") +
                 "' ;;\n"
                 "  'conda list --json -p /opt/conda') cat '" +
                 (tmp_ / "base.json") +
                 "' ;;\n"
                 "  'conda list --json -p /opt/conda/envs/ml') cat '" +
                 (tmp_ / "ml.json") + "' ;;\n  *) exit 127 ;;\nesac\n");
  ::chmod(builder.c_str(), 0755);
  EXPECT_EQ(capture_exec(tmp_ / "c.sif", builder).conda, expected);
  // Output that is not conda's JSON: an error naming the command.
  write_file(tmp_ / "ml.json", "[{\"name\": \"numpy\"");
  try {
    capture_exec(tmp_ / "c.sif", builder);
    FAIL() << "truncated conda output was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conda list --json -p /opt/conda/envs/ml"),
              std::string::npos)
        << e.what();
  }
}

TEST(CondaChannel, AsCondaListShowsIt) {
  EXPECT_EQ(conda_channel_name("https://conda.anaconda.org/conda-forge/linux-64", "linux-64"),
            "conda-forge");
  EXPECT_EQ(conda_channel_name("https://conda.anaconda.org/conda-forge", "noarch"), "conda-forge");
  EXPECT_EQ(conda_channel_name("https://repo.anaconda.com/pkgs/main/noarch", "noarch"),
            "pkgs/main");
  EXPECT_EQ(conda_channel_name("conda-forge", "linux-64"), "conda-forge");
  EXPECT_EQ(
      conda_channel_name("https://user:secret@example.org/t/tk-123/chan/linux-64", "linux-64"),
      "https://example.org/chan");
  EXPECT_EQ(conda_channel_name("", "linux-64"), "");
}

TEST(CondaLock, SectionReadsWritesAndDiffs) {
  const std::string text =
      "# scitex-container lock\n[rpm]\na=1-1.x86_64\n[conda]\n"
      "/opt/conda python=3.11.8=hab00c5b_0_cpython conda-forge\n"
      "/opt/conda python-dateutil=2.9.0=pyhd8ed1ab_0 conda-forge\n"
      "/opt/conda/envs/ml numpy=1.26.4=py311_0\n[pip]\n[dpkg]\n[node]\n\n";
  PackageLock l = parse_lock(text, "x.lock");
  EXPECT_EQ(l.conda.size(), 3u);
  EXPECT_EQ(format_lock(l), text);
  EXPECT_EQ(l.version_set().at("conda:/opt/conda:python"), "3.11.8=hab00c5b_0_cpython conda-forge");
  EXPECT_EQ(l.version_set().at("conda:/opt/conda/envs/ml:numpy"), "1.26.4=py311_0");
  PackageLock m = l;
  m.conda[2] = "/opt/conda/envs/ml numpy=2.0.0=py311_0";
  LockDiff d = compare_locks(l, m);
  EXPECT_EQ(d.changed.count("conda:/opt/conda/envs/ml:numpy"), 1u) << d.summary();
  for (const char* bad :
       {"[conda]\nnumpy=1=0\n", "[conda]\n/opt/c numpy=1\n", "[conda]\n/opt/c numpy=1=0=x\n",
        "[conda]\n/opt/c numpy=1=0 a b\n", "[conda]\n/opt/c a=1=0\n/opt/c a=2=0\n",
        "[dpkg]\n[conda]\n", "[conda]\n/opt/c a:b=1=0\n"})
    EXPECT_THROW(parse_lock(bad, "x.lock"), Error) << bad;
}

}  // namespace
}  // namespace sifstore
