// `sifstore log`, `diff`, `sbom` and `inspect`'s provenance on a layer whose
// stand-in index moved between two builds (real drift of unpinned
// packages: curl, numpy and left-pad each got a newer version).
#include <sstream>

#include "cli/build_fixture.h"
#include "core/lockfile.h"
#include "support/sif_maker.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

class History : public BuildChainTest {
 protected:
  // Two builds of base, the index moved in between: {older, newer}.
  std::pair<std::string, std::string> two_builds() {
    std::string a = build_ok("base");
    set_index(index_v2());
    std::string b = build_ok("base");
    return {a, b};
  }
  std::string version_in(const std::string& ts, const std::string& key) {
    PackageLock l = parse_lock(read_file(artifact("base", ts, "lock")), "lock");
    return l.version_set()[key];
  }
};

TEST_F(History, LogNamesEachChangedPackageWithBothVersions) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  auto [a, b] = two_builds();
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  RunResult r = cli({"log", "base"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& [eco, key, name] :
       {std::tuple{"deb", "dpkg:curl", "curl"}, std::tuple{"pypi", "pip:numpy", "numpy"},
        std::tuple{"npm", "node:left-pad", "left-pad"}}) {
    std::string from = version_in(a, key), to = version_in(b, key);
    ASSERT_NE(from, to) << name;
    // Its line: "upgraded  <ecosystem>  <name>  <from> -> <to>".
    std::string line;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);)
      if (contains(l, " " + std::string(name) + " ")) line = l;
    EXPECT_TRUE(contains(line, "upgraded")) << name << "\n" << r.out;
    EXPECT_TRUE(contains(line, std::string(" ") + eco + " ")) << name << "\n" << r.out;
    EXPECT_TRUE(contains(line, from + " -> " + to)) << name << "\n" << r.out;
  }
  // Newest first, with who built it.
  EXPECT_LT(r.out.find("base-" + b), r.out.find("base-" + a)) << r.out;
  EXPECT_TRUE(contains(r.out, "built by ")) << r.out;

  RunResult j = cli({"log", "base", "--json", "-n", "1"});
  ASSERT_EQ(j.status, 0) << j.err;
  json doc = json::parse(j.out);
  ASSERT_EQ(doc.size(), 1u);
  EXPECT_EQ(doc[0]["ts"], b);
  EXPECT_EQ(doc[0]["previous"], a);
  EXPECT_FALSE(doc[0]["built_by"].is_null());
  EXPECT_TRUE(doc[0]["build_seconds"].is_number());
  std::map<std::string, std::pair<std::string, std::string>> changed;
  for (const auto& p : doc[0]["changes"]["packages"]) {
    EXPECT_EQ(p["change"], "upgraded") << p.dump();
    changed[p["ecosystem"].get<std::string>() + ":" + p["name"].get<std::string>()] = {p["from"],
                                                                                       p["to"]};
  }
  EXPECT_EQ(changed.size(), 3u) << doc.dump(2);
  EXPECT_EQ(changed["deb:curl"].second, version_in(b, "dpkg:curl"));
}

TEST_F(History, DiffOfTwoBuildsAndOfTwoImages) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  auto [a, b] = two_builds();
  RunResult r = cli({"diff", "base", a, b});
  EXPECT_EQ(r.status, 1) << r.err;
  std::string numpy_a = version_in(a, "pip:numpy"), numpy_b = version_in(b, "pip:numpy");
  EXPECT_TRUE(contains(r.out, numpy_a + " -> " + numpy_b)) << r.out;
  // The locked defs pin numpy: their difference shows both pins.
  EXPECT_TRUE(contains(r.out, "-numpy==" + numpy_a)) << r.out;
  EXPECT_TRUE(contains(r.out, "+numpy==" + numpy_b)) << r.out;

  RunResult same = cli({"diff", "base", a, a});
  EXPECT_EQ(same.status, 0) << same.out << same.err;
  EXPECT_TRUE(contains(same.out, "same packages")) << same.out;

  // Two image files (their embedded locks), wherever they are.
  RunResult images =
      cli({"diff", artifact("base", a, "sif"), artifact("base", b, "sif"), "--json"});
  EXPECT_EQ(images.status, 1) << images.err;
  json doc = json::parse(images.out);
  EXPECT_EQ(doc["changes"]["packages"].size(), 3u) << images.out;

  RunResult bad = cli({"diff", "base", a, "2001-0101-000000"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_TRUE(contains(error_line(bad), "build not found")) << bad.err;
}

TEST_F(History, SbomOfABuildAndOfAnImage) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base");
  // CycloneDX of a build: the embedded object, exactly.
  RunResult cdx = cli({"sbom", "base"});
  ASSERT_EQ(cdx.status, 0) << cdx.err;
  json bom = json::parse(cdx.out);
  EXPECT_EQ(bom["specVersion"], "1.5");
  EXPECT_EQ(bom["metadata"]["component"]["version"], ts);
  RunResult same = cli({"sbom", "base", ts, "-o", t / "out.cdx.json"});
  ASSERT_EQ(same.status, 0) << same.err;
  EXPECT_EQ(read_file(t / "out.cdx.json"), cdx.out);

  // SPDX 2.3: the structure the schema asks for.
  RunResult spdx = cli({"sbom", "base", "--format", "spdx"});
  ASSERT_EQ(spdx.status, 0) << spdx.err;
  json doc = json::parse(spdx.out);
  EXPECT_EQ(doc["spdxVersion"], "SPDX-2.3");
  EXPECT_EQ(doc["dataLicense"], "CC0-1.0");
  EXPECT_EQ(doc["SPDXID"], "SPDXRef-DOCUMENT");
  EXPECT_TRUE(doc["documentNamespace"].get<std::string>().rfind("https://", 0) == 0);
  EXPECT_FALSE(doc["creationInfo"]["creators"].empty());
  std::set<std::string> ids;
  PackageLock lock = parse_lock(read_file(artifact("base", ts, "lock")), "lock");
  size_t with_purl = 0;
  for (const auto& p : doc["packages"]) {
    for (const char* key : {"name", "SPDXID", "downloadLocation"})
      EXPECT_TRUE(p.contains(key)) << key << " missing in " << p.dump();
    std::string id = p["SPDXID"];
    EXPECT_TRUE(ids.insert(id).second) << "duplicate " << id;
    EXPECT_EQ(id.find_first_not_of(
                  "SPDXRef-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"),
              std::string::npos)
        << id;
    if (p.contains("externalRefs")) ++with_purl;
  }
  EXPECT_EQ(with_purl, lock.dpkg.size() + lock.pip.size() + node_versions(lock.node).size());
  for (const auto& rel : doc["relationships"]) {
    EXPECT_TRUE(rel["spdxElementId"] == "SPDXRef-DOCUMENT" || ids.count(rel["spdxElementId"]));
    EXPECT_TRUE(ids.count(rel["relatedSpdxElement"])) << rel.dump();
  }

  // An image SifStore never saw: generated from a static capture.
  write_file(t / "tree/var/lib/dpkg/status",
             "Package: hello\nStatus: install ok installed\nVersion: 2.10-3\n\n");
  write_file(t / "tree/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
  make_sif_from_tree(t / "plain.sif", t / "tree");
  RunResult plain = cli({"sbom", t / "plain.sif"});
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_TRUE(contains(plain.out, "pkg:deb/debian/hello@2.10-3?arch=amd64&distro=debian-12"))
      << plain.out;

  RunResult bad = cli({"sbom", "base", "--format", "xml"});
  EXPECT_EQ(bad.status, 2);
  RunResult none = cli({"sbom", "nosuch"});
  EXPECT_EQ(none.status, 1);
  EXPECT_TRUE(contains(error_line(none), "nosuch")) << none.err;
}

TEST_F(History, InspectShowsTheEmbeddedProvenance) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base");
  RunResult r = cli({"inspect", artifact("base", ts, "sif")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "Provenance (embedded by SifStore)")) << r.out;
  EXPECT_TRUE(contains(r.out, ts)) << r.out;
  RunResult j = cli({"inspect", artifact("base", ts, "sif"), "--json"});
  ASSERT_EQ(j.status, 0) << j.err;
  EXPECT_EQ(json::parse(j.out)["provenance"]["ts"], ts);
}

}  // namespace
}  // namespace sifstore::test
