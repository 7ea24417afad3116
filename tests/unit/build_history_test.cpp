// Version order per ecosystem, build comparison and the line diff of
// `sifstore log` / `diff` (core/build_history.h), and the package URLs of
// the SBOM (core/purl.h).
#include "core/build_history.h"

#include <gtest/gtest.h>

#include "core/purl.h"

#include <nlohmann/json.hpp>
#include <set>
#include "support/temp_dir.h"

namespace sifstore {
namespace {

TEST(BuildHistory, DebianOrderIsDpkgs) {
  const char* versions[] = {"1.0",   "1.0-1",  "1.0~rc1",        "1:0.9",     "1.0+b1",  "1.0a",
                            "1.0.1", "2.36-9", "2.36-9+deb12u4", "7.88.1-10", "8.0.0-1", "1.0~~",
                            "1.0~",  "0:1.0",  "1.2.13.dfsg-1",  "1.2.13-1"};
  bool have_dpkg = test::run({"/bin/sh", "-c", "command -v dpkg"}).status == 0;
  if (!have_dpkg) GTEST_SKIP() << "dpkg is not installed";
  for (const char* a : versions)
    for (const char* b : versions) {
      int ours = compare_deb_versions(a, b);
      bool lt = test::run({"dpkg", "--compare-versions", a, "lt", b}).status == 0;
      bool eq = test::run({"dpkg", "--compare-versions", a, "eq", b}).status == 0;
      EXPECT_EQ(ours < 0, lt) << a << " vs " << b;
      EXPECT_EQ(ours == 0, eq) << a << " vs " << b;
    }
}

TEST(BuildHistory, PythonAndNpmReleasesBeforeAndAfter) {
  EXPECT_LT(compare_release_versions("2.1.0rc1", "2.1.0"), 0);
  EXPECT_LT(compare_release_versions("1.26.4", "2.1.0"), 0);
  EXPECT_LT(compare_release_versions("1.9", "1.10"), 0);
  EXPECT_EQ(compare_release_versions("1.0", "1.0.0"), 0);
  EXPECT_LT(compare_release_versions("1.0b2", "1.0rc1"), 0);
  EXPECT_LT(compare_release_versions("1.0.dev0", "1.0"), 0);
  EXPECT_GT(compare_release_versions("1.0.post1", "1.0"), 0);
  EXPECT_GT(compare_release_versions("1.0+local", "1.0"), 0);
  EXPECT_LT(compare_release_versions("1.4.0-beta.1", "1.4.0"), 0);
  EXPECT_GT(compare_release_versions("1.4.0", "1.3.1"), 0);
}

TEST(BuildHistory, ComparesBuildsPerEcosystem) {
  PackageLock a, b;
  a.dpkg = {{"curl", "7.88.1-10"}, {"gone", "1"}, {"zlib1g", "1:1.2.13"}};
  b.dpkg = {{"curl", "8.0.0-1"}, {"zlib1g", "1:1.2.12"}, {"new", "2"}};
  a.pip = {{"numpy", "2.1.0rc1"}};
  b.pip = {{"numpy", "2.1.0"}};
  a.node = R"({"dependencies": {"left-pad": {"version": "1.3.0"}}})";
  b.node = R"({"dependencies": {"left-pad": {"version": "1.4.0"}}})";
  a.facts["base-image"] = "/s/base/base-2026-0101-000000.sif";
  b.facts["base-image"] = "/s/base/base-2026-0102-000000.sif";
  BuildChanges c = compare_builds(a, b);
  ASSERT_EQ(c.packages.size(), 6u);
  auto find = [&](const std::string& name) {
    for (const auto& p : c.packages)
      if (p.name == name) return p;
    return PackageChange{PackageChange::kChanged, "", "", "", ""};
  };
  EXPECT_EQ(find("curl").kind, PackageChange::kUpgraded);
  EXPECT_EQ(find("curl").ecosystem, "deb");
  EXPECT_EQ(find("curl").from, "7.88.1-10");
  EXPECT_EQ(find("curl").to, "8.0.0-1");
  EXPECT_EQ(find("zlib1g").kind, PackageChange::kDowngraded);
  EXPECT_EQ(find("gone").kind, PackageChange::kRemoved);
  EXPECT_EQ(find("new").kind, PackageChange::kAdded);
  EXPECT_EQ(find("numpy").kind, PackageChange::kUpgraded);
  EXPECT_EQ(find("numpy").ecosystem, "pypi");
  EXPECT_EQ(find("left-pad").ecosystem, "npm");
  EXPECT_EQ(find("left-pad").kind, PackageChange::kUpgraded);
  ASSERT_TRUE(c.base);
  EXPECT_EQ(c.base->second, "/s/base/base-2026-0102-000000.sif");
  EXPECT_TRUE(compare_builds(a, a).empty());
}

TEST(BuildHistory, LineDiff) {
  EXPECT_EQ(line_diff("a\nb\n", "a\nb\n"), "");
  EXPECT_EQ(line_diff("a\nb\nc\n", "a\nx\nc\n", 1), " a\n-b\n+x\n c\n");
  std::string far = line_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "0\n2\n3\n4\n5\n6\n7\n8\nX\n", 1);
  EXPECT_EQ(far, "-1\n+0\n 2\n@@\n 8\n-9\n+X\n");
}

TEST(Purl, Ecosystems) {
  EXPECT_EQ(deb_purl("debian", "zlib1g", "1:1.2.13.dfsg-1", "amd64", "12"),
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12");
  EXPECT_EQ(deb_purl("Ubuntu", "libstdc++6", "12.3.0-1ubuntu1~22.04", "amd64", "22.04"),
            "pkg:deb/ubuntu/libstdc%2B%2B6@12.3.0-1ubuntu1~22.04?arch=amd64&distro=ubuntu-22.04");
  EXPECT_EQ(pypi_purl("Foo_Bar.baz", "1.0"), "pkg:pypi/foo-bar-baz@1.0");
  EXPECT_EQ(npm_purl("@types/node", "20.1.0"), "pkg:npm/%40types/node@20.1.0");
  EXPECT_EQ(npm_purl("left-pad", "1.3.0"), "pkg:npm/left-pad@1.3.0");
  EXPECT_EQ(oci_purl("docker://docker.io/library/debian:12@sha256:abc", ""),
            "pkg:oci/debian@sha256%3Aabc?repository_url=docker.io/library/debian&tag=12");
  EXPECT_EQ(oci_purl("ghcr.io/o/img@sha256:ff", "v1"),
            "pkg:oci/img@sha256%3Aff?repository_url=ghcr.io/o/img&tag=v1");
  EXPECT_FALSE(oci_purl("/store/base/base-2026-0101-000000.sif"));
  EXPECT_EQ(oci_purl("docker://docker.io/library/debian@sha256:ab", "docker://debian:12"),
            "pkg:oci/debian@sha256%3Aab?repository_url=docker.io/library/debian&tag=12");
  EXPECT_EQ(oci_purl("docker://localhost:5000/x/y@sha256:ab", "localhost:5000/x/y"),
            "pkg:oci/y@sha256%3Aab?repository_url=localhost:5000/x/y");
  EXPECT_EQ(rpm_purl("rocky", "bash=5.1.8-9.el9.x86_64", "9.3"),
            "pkg:rpm/rocky/bash@5.1.8-9.el9?arch=x86_64&distro=rocky-9.3");
  EXPECT_EQ(rpm_purl("fedora", "shadow-utils=2:4.14.0-2.fc40.x86_64", "40"),
            "pkg:rpm/fedora/shadow-utils@4.14.0-2.fc40?arch=x86_64&epoch=2&distro=fedora-40");
  EXPECT_EQ(conda_purl("numpy", "1.26.4", "py312h8753938_0", "conda-forge"),
            "pkg:conda/numpy@1.26.4?build=py312h8753938_0&channel=conda-forge");
  EXPECT_EQ(debian_arch("386"), "i386");
  EXPECT_EQ(debian_arch("ppc64le"), "ppc64el");
}

}  // namespace
}  // namespace sifstore

#include "core/sbom.h"

namespace sifstore {
namespace {

// Every ecosystem of a lock becomes components with its purls.
TEST(Sbom, ComponentsOfEveryEcosystem) {
  SbomSubject s;
  s.name = "app";
  s.version = "2026-0101-000000";
  s.os_id = "rocky";
  s.os_version = "9.3";
  s.arch = "amd64";
  s.timestamp = "2026-01-01T00:00:00Z";
  s.lock.rpm = {"bash=5.1.8-9.el9.x86_64"};
  s.lock.dpkg = {{"libc6", "2.36-9"}};
  s.lock.pip = {{"pyyaml", "6.0.1"}};
  s.lock.node = R"({"dependencies": {"@types/node": {"version": "20.1.0"}}})";
  s.lock.facts["base-image"] = "docker://docker.io/library/rockylinux:9@sha256:ab";
  auto bom = nlohmann::json::parse(cyclonedx_json(s));
  std::set<std::string> purls;
  for (const auto& c : bom["components"])
    if (c.contains("purl")) purls.insert(c["purl"]);
  EXPECT_EQ(purls, (std::set<std::string>{
                       "pkg:rpm/rocky/bash@5.1.8-9.el9?arch=x86_64&distro=rocky-9.3",
                       "pkg:deb/rocky/libc6@2.36-9?arch=amd64&distro=rocky-9.3",
                       "pkg:pypi/pyyaml@6.0.1", "pkg:npm/%40types/node@20.1.0",
                       "pkg:oci/rockylinux@sha256%3Aab?repository_url=docker.io/library/"
                       "rockylinux&tag=9"}));
  EXPECT_EQ(cyclonedx_json(s), cyclonedx_json(s));  // deterministic
  auto spdx = nlohmann::json::parse(spdx_json(s));
  EXPECT_EQ(spdx["packages"].size(), 1u + 1u + 5u);  // image, OS, five packages
}

}  // namespace
}  // namespace sifstore
