#include "core/sbom.h"

#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "core/purl.h"
#include "core/sha256.h"
#include "core/text.h"

namespace sifstore {
namespace {

using nlohmann::json;
using ordered = nlohmann::ordered_json;

// One package of the subject, whatever its ecosystem.
struct Package {
  std::string ecosystem;  // "deb", "pypi", "npm", "os", "base"
  std::string name, version, purl;
  std::string type;  // CycloneDX component type
};

// The value of an os-release assignment, quotes and escapes removed.
std::string os_release_value(std::string_view v) {
  v = trim(v, " \t");
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    char q = v.front();
    v = v.substr(1, v.size() - 2);
    if (q == '\'') return std::string(v);
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      out += v[i];
    }
    return out;
  }
  return std::string(v);
}

std::vector<Package> packages_of(const SbomSubject& s) {
  std::vector<Package> out;
  if (!s.os_id.empty()) out.push_back({"os", s.os_id, s.os_version, "", "operating-system"});
  std::string distro = s.os_id.empty() ? "debian" : s.os_id;
  std::string arch = s.arch.empty() || s.arch == "unknown" ? "" : debian_arch(s.arch);
  for (const auto& [name, version] : s.lock.dpkg)
    out.push_back(
        {"deb", name, version, deb_purl(distro, name, version, arch, s.os_version), "library"});
  for (const auto& [name, version] : s.lock.pip)
    out.push_back({"pypi", name, version, pypi_purl(name, version), "library"});
  for (const auto& [name, version] : node_versions(s.lock.node))
    out.push_back({"npm", name, version, npm_purl(name, version), "library"});
  for (const auto& line : s.lock.rpm) {
    size_t eq = line.find('=');
    std::string evr = eq == std::string::npos ? "" : line.substr(eq + 1);
    out.push_back(
        {"rpm", line.substr(0, eq), evr, rpm_purl(s.os_id, line, s.os_version), "library"});
  }
  // conda: version_set() keys "conda:<prefix>:<name>" -> "<version>=<build>[ <channel>]".
  for (const auto& [key, value] : s.lock.version_set()) {
    if (!starts_with(key, "conda:")) continue;
    std::string name = key.substr(key.rfind(':') + 1);
    std::string version = value.substr(0, value.find('='));
    std::string rest =
        value.find('=') == std::string::npos ? "" : value.substr(value.find('=') + 1);
    std::string build = rest.substr(0, rest.find(' '));
    std::string channel =
        rest.find(' ') == std::string::npos ? "" : rest.substr(rest.find(' ') + 1);
    out.push_back({"conda", name, version, conda_purl(name, version, build, channel), "library"});
  }
  if (auto it = s.lock.facts.find("base-image"); it != s.lock.facts.end()) {
    std::string tag;
    if (auto t = s.lock.facts.find("base-tag"); t != s.lock.facts.end()) tag = t->second;
    if (auto purl = oci_purl(it->second, tag)) {
      std::string ref = it->second;
      out.push_back({"base", ref.substr(0, ref.find('@')), ref.substr(ref.find('@') + 1), *purl,
                     "container"});
    } else {
      // A store build: "<root>/<layer>/<layer>-<ts>.sif".
      std::string file = it->second.substr(it->second.rfind('/') + 1);
      if (ends_with(file, ".sif")) file.resize(file.size() - 4);
      out.push_back({"base", file, "", "", "container"});
    }
  }
  return out;
}

// A UUID (version 5 layout) from the sha256 of text, so the same SBOM has
// the same serial number.
std::string content_uuid(const std::string& text) {
  std::string h = sha256_hex(text).substr(0, 32);
  h[12] = '5';
  static const char kVariant[] = "89ab";
  h[16] = kVariant[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::string subject_label(const SbomSubject& s) {
  return s.version.empty() ? s.name : s.name + "-" + s.version;
}

}  // namespace

void read_os_release(const SquashfsImage& fs, SbomSubject& s) {
  std::optional<std::string> text;
  for (const char* p : {"/etc/os-release", "/usr/lib/os-release"})
    if ((text = fs.read_file_if_regular(p, 64u << 10))) break;
  if (!text) return;
  for (const auto& line : lines_of(*text)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key(trim(line.substr(0, eq), " \t"));
    std::string value = os_release_value(line.substr(eq + 1));
    if (key == "ID") s.os_id = to_lower(value);
    if (key == "VERSION_ID") s.os_version = value;
    if (key == "PRETTY_NAME") s.os_name = value;
  }
}

std::string iso8601_utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string cyclonedx_json(const SbomSubject& s) {
  std::vector<Package> pkgs = packages_of(s);
  ordered components = ordered::array();
  ordered depends = ordered::array();
  std::set<std::string> refs;
  for (const auto& p : pkgs) {
    ordered c;
    c["type"] = p.type;
    std::string ref = p.purl.empty() ? "sifstore:" + p.ecosystem + ":" + p.name : p.purl;
    while (!refs.insert(ref).second) ref += "+";
    c["bom-ref"] = ref;
    c["name"] = p.name;
    if (!p.version.empty()) c["version"] = p.version;
    if (p.ecosystem == "os" && !s.os_name.empty()) c["description"] = s.os_name;
    if (!p.purl.empty()) c["purl"] = p.purl;
    if (p.ecosystem == "base") {
      c["description"] = "the image this one was built from";
      c["properties"] = ordered::array(
          {{{"name", "sifstore:base-image"}, {"value", s.lock.facts.at("base-image")}}});
    }
    components.push_back(std::move(c));
    depends.push_back(ref);
  }
  ordered subject;
  subject["type"] = "container";
  subject["bom-ref"] = "sifstore:image:" + subject_label(s);
  subject["name"] = s.name;
  if (!s.version.empty()) subject["version"] = s.version;

  ordered bom;
  bom["bomFormat"] = "CycloneDX";
  bom["specVersion"] = "1.5";
  bom["serialNumber"] = "";
  bom["version"] = 1;
  ordered tool;
  tool["type"] = "application";
  tool["name"] = "sifstore";
  tool["version"] = SIFSTORE_VERSION;
  bom["metadata"]["timestamp"] = s.timestamp;
  bom["metadata"]["tools"]["components"] = ordered::array({tool});
  bom["metadata"]["component"] = subject;
  bom["components"] = std::move(components);
  ordered dep;
  dep["ref"] = subject["bom-ref"];
  dep["dependsOn"] = std::move(depends);
  bom["dependencies"] = ordered::array({dep});
  bom["serialNumber"] = "urn:uuid:" + content_uuid(bom.dump());
  return bom.dump(2) + "\n";
}

std::string spdx_json(const SbomSubject& s) {
  std::vector<Package> pkgs = packages_of(s);
  ordered packages = ordered::array();
  ordered relations = ordered::array();
  auto package = [](const std::string& id, const std::string& name, const std::string& version,
                    const std::string& purpose) {
    ordered p;
    p["name"] = name;
    p["SPDXID"] = id;
    if (!version.empty()) p["versionInfo"] = version;
    p["downloadLocation"] = "NOASSERTION";
    p["filesAnalyzed"] = false;
    p["licenseConcluded"] = "NOASSERTION";
    p["licenseDeclared"] = "NOASSERTION";
    p["copyrightText"] = "NOASSERTION";
    p["primaryPackagePurpose"] = purpose;
    return p;
  };
  const std::string image_id = "SPDXRef-Image";
  packages.push_back(package(image_id, s.name, s.version, "CONTAINER"));
  relations.push_back({{"spdxElementId", "SPDXRef-DOCUMENT"},
                       {"relationshipType", "DESCRIBES"},
                       {"relatedSpdxElement", image_id}});
  size_t n = 0;
  for (const auto& p : pkgs) {
    std::string id = "SPDXRef-" + p.ecosystem + "-" + std::to_string(++n);
    std::string purpose = p.ecosystem == "os"     ? "OPERATING-SYSTEM"
                          : p.ecosystem == "base" ? "CONTAINER"
                                                  : "LIBRARY";
    ordered pk = package(id, p.name, p.version, purpose);
    if (!p.purl.empty())
      pk["externalRefs"] = ordered::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                                            {"referenceType", "purl"},
                                            {"referenceLocator", p.purl}}});
    packages.push_back(std::move(pk));
    if (p.ecosystem == "base")
      relations.push_back({{"spdxElementId", image_id},
                           {"relationshipType", "DESCENDANT_OF"},
                           {"relatedSpdxElement", id}});
    else
      relations.push_back({{"spdxElementId", image_id},
                           {"relationshipType", "CONTAINS"},
                           {"relatedSpdxElement", id}});
  }
  ordered doc;
  doc["spdxVersion"] = "SPDX-2.3";
  doc["dataLicense"] = "CC0-1.0";
  doc["SPDXID"] = "SPDXRef-DOCUMENT";
  doc["name"] = subject_label(s);
  doc["documentNamespace"] = "";
  doc["creationInfo"]["created"] = s.timestamp;
  doc["creationInfo"]["creators"] =
      ordered::array({std::string("Tool: sifstore-") + SIFSTORE_VERSION});
  doc["packages"] = std::move(packages);
  doc["relationships"] = std::move(relations);
  doc["documentNamespace"] = "https://sifstore.invalid/spdx/" + purl_encode(subject_label(s)) +
                             "-" + content_uuid(doc.dump());
  return doc.dump(2) + "\n";
}

}  // namespace sifstore
