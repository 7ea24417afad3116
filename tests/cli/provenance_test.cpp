// Provenance in the image (core/provenance.h): every published build holds
// its CycloneDX SBOM, provenance JSON and lock as SIF objects that siftool
// lists and dumps byte for byte, the lock beside the image is the embedded
// one plus the image's digest, `check` still passes, and the SBOM
// validates against the official CycloneDX 1.5 schema.
#include <cctype>
#include <cstdlib>
#include <sstream>

#include "cli/build_fixture.h"
#include "core/lockfile.h"
#include "core/sha256.h"
#include "core/sif.h"
#include "core/text.h"
#include "support/sif_maker.h"

namespace sifstore::test {
namespace {

using nlohmann::json;

// Rows "ID|GROUP|LINK|POSITION|TYPE" of `siftool list`: id -> type.
std::map<std::string, std::string> siftool_types(const std::string& sif) {
  RunResult r = run({"siftool", "list", sif});
  EXPECT_EQ(r.status, 0) << r.err;
  std::map<std::string, std::string> out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '-' || line.rfind("ID", 0) == 0) continue;
    std::string id = line.substr(0, line.find(' '));
    out[id] = line.substr(line.rfind('|') + 1);
  }
  return out;
}

std::string dump(const std::string& sif, const std::string& id) {
  RunResult r = run({"siftool", "dump", id, sif});
  EXPECT_EQ(r.status, 0) << r.err;
  return r.out;
}

std::string id_of(const std::map<std::string, std::string>& types, const std::string& type) {
  for (const auto& [id, t] : types)
    if (t == type) return id;
  return "";
}

// The purls the SBOM should name for the fixture's packages.
std::set<std::string> component_names(const json& bom, const std::string& prefix) {
  std::set<std::string> out;
  for (const auto& c : bom["components"])
    if (c.contains("purl") && c["purl"].get<std::string>().rfind(prefix, 0) == 0)
      out.insert(c["name"].get<std::string>() + "@" + c["version"].get<std::string>());
  return out;
}

class Provenance : public BuildChainTest {};

TEST_F(Provenance, EveryBuildCarriesItsSbomProvenanceAndLock) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base");
  ASSERT_FALSE(ts.empty());
  std::string sif = artifact("base", ts, "sif");
  auto types = siftool_types(sif);
  std::string sbom_id = id_of(types, "SBOM (cyclonedx-json)");
  std::string prov_id = id_of(types, "JSON.Generic");
  std::string lock_id = id_of(types, "Generic/Raw");
  ASSERT_FALSE(sbom_id.empty()) << "no SBOM object";
  ASSERT_FALSE(lock_id.empty()) << "no lock object";
  // The stand-in's own JSON.Generic (its metadata) comes first; ours is
  // the one whose content is provenance.
  json prov;
  for (const auto& [id, t] : types)
    if (t == "JSON.Generic") {
      json j = json::parse(dump(sif, id));
      if (j.contains("sifstore-provenance")) prov = j;
    }
  ASSERT_FALSE(prov.is_null()) << "no provenance object";
  (void)prov_id;

  // The store's lock is the embedded lock plus the image's digest.
  std::string lock_text = read_file(artifact("base", ts, "lock"));
  PackageLock stored = parse_lock(lock_text, "stored");
  PackageLock embedded = parse_lock(dump(sif, lock_id), "embedded");
  EXPECT_EQ(stored.facts.at("image-sha256"), sha256_file(sif));
  EXPECT_EQ(embedded.facts.count("image-sha256"), 0u);
  embedded.facts["image-sha256"] = stored.facts["image-sha256"];
  EXPECT_EQ(format_lock(embedded), lock_text);

  EXPECT_EQ(prov["layer"], "base");
  EXPECT_EQ(prov["ts"], ts);
  EXPECT_EQ(prov["def-sha256"], stored.facts.at("def-sha256"));
  EXPECT_EQ(prov["locked-def-sha256"], stored.facts.at("locked-def-sha256"));
  EXPECT_EQ(prov["capture-method"], "static");
  EXPECT_EQ(prov["sifstore-version"], SIFSTORE_VERSION);
  EXPECT_EQ(prov["built-by"], stored.facts.at("built-by"));
  EXPECT_NE(prov["builder-image-sha256"], stored.facts.at("image-sha256"));

  // The SBOM names exactly the lock's packages.
  json bom = json::parse(dump(sif, sbom_id));
  EXPECT_EQ(bom["bomFormat"], "CycloneDX");
  EXPECT_EQ(bom["specVersion"], "1.5");
  std::set<std::string> deb, pypi, npm;
  for (const auto& [n, v] : stored.dpkg) deb.insert(n + "@" + v);
  for (const auto& [n, v] : stored.pip) pypi.insert(n + "@" + v);
  for (const auto& [n, v] : node_versions(stored.node)) npm.insert(n + "@" + v);
  EXPECT_EQ(component_names(bom, "pkg:deb/"), deb);
  EXPECT_EQ(component_names(bom, "pkg:pypi/"), pypi);
  EXPECT_EQ(component_names(bom, "pkg:npm/"), npm);
  EXPECT_FALSE(deb.empty());
  EXPECT_FALSE(npm.empty());

  RunResult check = cli({"check", "base"});
  EXPECT_EQ(check.status, 0) << check.err;
  RunResult fsck = cli({"fsck"});
  EXPECT_EQ(fsck.status, 0) << fsck.out << fsck.err;
}

// A FROM build names its base (the store build) in the SBOM and provenance.
TEST_F(Provenance, AFromBuildNamesItsBase) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string base_ts = build_ok("base");
  write_file(t / "app.def",
             "Bootstrap: localimage\nFrom: containers/base.sif\n\n%post\n"
             "    pip install pyyaml\n");
  std::string ts = build_ok("app", "app.def", {"--from", "base"});
  ASSERT_FALSE(ts.empty());
  std::string sif = artifact("app", ts, "sif");
  auto types = siftool_types(sif);
  json bom = json::parse(dump(sif, id_of(types, "SBOM (cyclonedx-json)")));
  bool named = false;
  for (const auto& c : bom["components"])
    if (c["type"] == "container" && c["name"] == "base-" + base_ts) named = true;
  EXPECT_TRUE(named) << bom.dump(2);
}

// The embedded SBOM against the official CycloneDX 1.5 JSON schema.
TEST_F(Provenance, SbomValidatesAgainstTheCycloneDxSchema) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string schema;
  if (const char* d = std::getenv("SIFSTORE_CYCLONEDX_SCHEMA_DIR")) schema = d;
  if (schema.empty() && std::getenv("HOME"))
    schema = std::string(std::getenv("HOME")) +
             "/.cache/sifstore-cyclonedx/node_modules/@cyclonedx/cyclonedx-library/res/schema";
  if (!exists(schema + "/bom-1.5.SNAPSHOT.schema.json"))
    GTEST_SKIP() << "no CycloneDX schema in " << schema
                 << " (scripts/install-deps.sh fetches it with npm)";
  if (run({"python3", "-c", "import jsonschema, referencing"}).status != 0)
    GTEST_SKIP() << "python3-jsonschema is not installed";
  std::string base_ts = build_ok("base");
  write_file(t / "app.def",
             "Bootstrap: localimage\nFrom: containers/base.sif\n\n%post\n"
             "    npm install -g left-pad\n");
  std::string ts = build_ok("app", "app.def", {"--from", "base"});
  std::vector<std::string> argv = {
      "python3", std::string(SIFSTORE_SOURCE_DIR) + "/scripts/validate-cyclonedx.py", schema};
  for (const auto& [layer, at] : {std::pair{"base", base_ts}, std::pair{"app", ts}}) {
    std::string sif = artifact(layer, at, "sif");
    std::string out = t / (std::string(layer) + ".cdx.json");
    write_file(out, dump(sif, id_of(siftool_types(sif), "SBOM (cyclonedx-json)")));
    argv.push_back(out);
  }
  RunResult v = run(argv);
  EXPECT_EQ(v.status, 0) << v.out << v.err;
}

}  // namespace
}  // namespace sifstore::test

namespace sifstore::test {
namespace {

// Signing after publishing, as `apptainer sign` does: a signature object
// appended (siftool add --datatype 5). check passes and names it; any other
// change still fails.
class SignedAfterBuild : public BuildChainTest {
 protected:
  RunResult sign(const std::string& sif) {
    write_file(t / "sig.bin", std::string(300, 's'));
    return run({"siftool", "add", sif, t / "sig.bin", "--datatype", "5", "--signentity",
                "433FE984155206BD962725E20E8713472A879943", "--signhash", "1"});
  }
};

TEST_F(SignedAfterBuild, CheckAcceptsAndReportsAnAddedSignature) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base");
  std::string sif = artifact("base", ts, "sif");
  RunResult s = sign(sif);
  ASSERT_EQ(s.status, 0) << s.err;
  RunResult check = cli({"check", "base"});
  EXPECT_EQ(check.status, 0) << check.err;
  EXPECT_TRUE(contains(check.err, "was signed after its build: signature object ID")) << check.err;
  EXPECT_TRUE(contains(check.err, "433FE984155206BD962725E20E8713472A879943")) << check.err;
  RunResult fsck = cli({"fsck", "--hash-images"});
  EXPECT_EQ(fsck.status, 0) << fsck.out << fsck.err;

  // A byte of the image changed as well: refused.
  std::string bytes = read_file(sif);
  bytes[bytes.size() / 2] ^= 1;
  write_file(sif, bytes);
  RunResult bad = cli({"check", "base"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_TRUE(contains(error_line(bad), "changed after it was built")) << bad.err;
}

TEST_F(SignedAfterBuild, AnyOtherAddedObjectIsAChange) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base");
  std::string sif = artifact("base", ts, "sif");
  write_file(t / "extra.json", "{}");
  ASSERT_EQ(run({"siftool", "add", sif, t / "extra.json", "--datatype", "6"}).status, 0);
  RunResult bad = cli({"check", "base"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_TRUE(contains(error_line(bad), "changed after it was built")) << bad.err;
  // And a signature on top of it does not make it acceptable.
  ASSERT_EQ(sign(sif).status, 0);
  EXPECT_EQ(cli({"check", "base"}).status, 1);
}

}  // namespace
}  // namespace sifstore::test

namespace sifstore::test {
namespace {

// build --sign: the builder signs the sealed image before it is published,
// so the lock's digest is the signed image's and check passes as is.
class SignAtBuild : public BuildChainTest {};

TEST_F(SignAtBuild, ThePublishedImageIsSignedAndChecks) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base", "base.def", {"--sign", "--keyidx", "3"});
  ASSERT_FALSE(ts.empty());
  std::string sif = artifact("base", ts, "sif");
  RunResult list = run({"siftool", "list", sif});
  EXPECT_TRUE(contains(list.out, "Signature (SHA-256)")) << list.out;
  EXPECT_TRUE(contains(list.out, "SBOM (cyclonedx-json)")) << list.out;
  PackageLock lock = parse_lock(read_file(artifact("base", ts, "lock")), "lock");
  EXPECT_EQ(lock.facts["image-sha256"], sha256_file(sif));
  RunResult check = cli({"check", "base"});
  EXPECT_EQ(check.status, 0) << check.err;
  EXPECT_FALSE(contains(check.err, "signed after its build")) << check.err;

  // A signing failure publishes nothing.
  RunResult failed = build("base", "base.def", {"--sign"}, {"SIFSTORE_STANDIN_SIGN_FAIL=1"});
  EXPECT_EQ(failed.status, 1);
  EXPECT_TRUE(contains(error_line(failed), "signing the new image failed")) << failed.err;
  EXPECT_EQ(builds("base"), std::vector<std::string>{ts});
  EXPECT_EQ(cli({"build", "base", "--def", "base.def", "--keyidx", "1"}).status, 2);
}

}  // namespace
}  // namespace sifstore::test

namespace sifstore::test {
namespace {

// Rows of `siftool list`: id -> {group, link, type}.
struct SifRow {
  std::string group, link, type;
};
std::map<std::string, SifRow> siftool_rows(const std::string& sif) {
  RunResult r = run({"siftool", "list", sif});
  EXPECT_EQ(r.status, 0) << r.err;
  std::map<std::string, SifRow> out;
  for (const auto& line : split(r.out, '\n')) {
    auto f = split(line, '|');
    if (f.size() != 5 || f[0].empty() || !std::isdigit(static_cast<unsigned char>(f[0][0])))
      continue;
    out[std::string(trim(f[0]))] = {std::string(trim(f[1])), std::string(trim(f[2])),
                                    std::string(trim(f[4]))};
  }
  return out;
}

class SignedTwice : public BuildChainTest {
 protected:
  // The builder's sign, run later by hand with another key.
  RunResult sign_later(const std::string& sif, int keyidx) {
    return run({kStandin, "sign", "--keyidx", std::to_string(keyidx), sif});
  }
};

// Signed at its build (key 3), then again later (key 5): check passes and
// names both signatures; fsck --hash-images agrees.
TEST_F(SignedTwice, CheckAcceptsASignatureAddedToAnImageSignedAtBuild) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base", "base.def", {"--sign", "--keyidx", "3"});
  ASSERT_FALSE(ts.empty());
  std::string sif = artifact("base", ts, "sif");
  PackageLock lock = parse_lock(read_file(artifact("base", ts, "lock")), "lock");
  EXPECT_FALSE(lock.facts["signed-at-build"].empty());
  RunResult s = sign_later(sif, 5);
  ASSERT_EQ(s.status, 0) << s.err;
  RunResult check = cli({"check", "base"});
  EXPECT_EQ(check.status, 0) << check.err;
  EXPECT_TRUE(contains(check.err, "was signed after its build: signature object ID")) << check.err;
  EXPECT_TRUE(contains(check.err, "433FE984155206BD962725E20E8713472A879905")) << check.err;
  EXPECT_TRUE(contains(check.err, "signed at its build: signature object ID")) << check.err;
  EXPECT_TRUE(contains(check.err, "433FE984155206BD962725E20E8713472A879903")) << check.err;
  RunResult fsck = cli({"fsck", "--hash-images"});
  EXPECT_EQ(fsck.status, 0) << fsck.out << fsck.err;
}

// The signature covers SifStore's objects: they are in the primary
// partition's group, and the builder's sign links its signature to that
// group (`apptainer sign` signs each group). With a builder whose images
// are in no group, everything stays in none.
TEST_F(SignedTwice, TheBuildSignatureCoversTheProvenanceObjects) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base", "base.def", {"--sign"});
  ASSERT_FALSE(ts.empty());
  std::string sif = artifact("base", ts, "sif");
  auto rows = siftool_rows(sif);
  std::string part_group, sig_id;
  std::vector<std::string> ours;
  for (const auto& [id, row] : rows) {
    if (row.type.rfind("FS (Squashfs/*System", 0) == 0) part_group = row.group;
    if (row.type.rfind("Signature", 0) == 0) sig_id = id;
    if (row.type == "SBOM (cyclonedx-json)" || row.type == "Generic/Raw") ours.push_back(id);
  }
  ASSERT_FALSE(part_group.empty());
  ASSERT_FALSE(sig_id.empty());
  ASSERT_EQ(ours.size(), 2u);
  for (const auto& id : ours) EXPECT_EQ(rows[id].group, part_group) << "object " << id;
  if (part_group != "NONE") {
    EXPECT_EQ(rows[sig_id].link, part_group + "   (G)");
    std::string text = run({"siftool", "dump", sig_id, sif}).out;
    for (const auto& id : ours) EXPECT_TRUE(contains(text, "object " + id + " sha256:")) << text;
  }
}

// Any other change to an image signed at its build still fails check: an
// object added (then signed over), or a byte of its data.
TEST_F(SignedTwice, AnyOtherChangeStillFails) {
  if (auto why = sif_tools_missing(); !why.empty()) GTEST_SKIP() << why;
  std::string ts = build_ok("base", "base.def", {"--sign"});
  std::string sif = artifact("base", ts, "sif");
  std::string pristine = read_file(sif);
  write_file(t / "extra.json", "{}");
  ASSERT_EQ(run({"siftool", "add", sif, t / "extra.json", "--datatype", "6"}).status, 0);
  ASSERT_EQ(sign_later(sif, 5).status, 0);
  RunResult bad = cli({"check", "base"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_TRUE(contains(error_line(bad), "changed after it was built")) << bad.err;

  write_file(sif, pristine);
  EXPECT_EQ(cli({"check", "base"}).status, 0);
  ASSERT_EQ(sign_later(sif, 5).status, 0);
  std::string bytes = read_file(sif);
  SifImage image = SifImage::open(sif);
  const SifDescriptor& part = image.primary_partition();
  bytes[static_cast<size_t>(part.offset + part.size / 2)] ^= 1;
  write_file(sif, bytes);
  RunResult changed = cli({"check", "base"});
  EXPECT_EQ(changed.status, 1);
  EXPECT_TRUE(contains(error_line(changed), "changed after it was built")) << changed.err;
}

}  // namespace
}  // namespace sifstore::test
