#include "core/capture/pip.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "core/capture/environment.h"
#include "core/capture/image_path.h"
#include "core/capture/pep440.h"
#include "core/capture/python_path.h"
#include "core/text.h"

namespace sifstore {
using namespace capture;
namespace {

using FileType = SquashfsImage::FileType;

// The first "Key: value" header of an RFC 822 metadata text (headers end at
// the first empty line), stripped.
std::optional<std::string> metadata_header(std::string_view text, std::string_view key) {
  std::string want = to_lower(key);
  for (std::string_view line : lines_of(text)) {
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (to_lower(trim(line.substr(0, colon))) == want)
      return std::string(trim(line.substr(colon + 1)));
  }
  return std::nullopt;
}

// file:///a%20b -> /a b (pip's url_to_path on Linux).
std::optional<std::string> file_url_to_path(const std::string& url) {
  if (!starts_with(url, "file:")) return std::nullopt;
  std::string rest = url.substr(5);
  if (starts_with(rest, "//")) {
    rest = rest.substr(2);
    size_t slash = rest.find('/');
    std::string netloc = rest.substr(0, slash);
    if (!netloc.empty() && netloc != "localhost") return std::nullopt;
    rest = slash == std::string::npos ? "" : rest.substr(slash);
  }
  rest = rest.substr(0, rest.find_first_of("?#"));
  std::string out;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() &&
        std::isxdigit(static_cast<unsigned char>(rest[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(rest[i + 2]))) {
      out += static_cast<char>(std::stoi(rest.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += rest[i];
    }
  }
  return join_normalized("/", out);
}

// One line of `pip freeze` (with comment lines before it), from a
// distribution's metadata and direct_url.json (PEP 610).
std::string freeze_line(const std::string& name, const std::string& version,
                        const std::optional<std::string>& direct_url_json) {
  std::optional<std::string> norm = pep440_normalize(version);
  std::string plain = norm ? name + "==" + *norm : name + "===" + version;
  if (!direct_url_json) return plain;
  nlohmann::json d = nlohmann::json::parse(*direct_url_json, nullptr, false);
  if (d.is_discarded() || !d.is_object() || !d.contains("url") || !d["url"].is_string())
    return plain;
  auto info_of = [&](const char* key) -> const nlohmann::json* {
    if (!d.contains(key) || d[key].is_null()) return nullptr;
    return &d[key];
  };
  const nlohmann::json* archive = info_of("archive_info");
  const nlohmann::json* dir = info_of("dir_info");
  const nlohmann::json* vcs = info_of("vcs_info");
  if ((archive != nullptr) + (dir != nullptr) + (vcs != nullptr) != 1) return plain;
  for (const nlohmann::json* info : {archive, dir, vcs})
    if (info && !info->is_object()) return plain;
  if (d.contains("subdirectory") && !d["subdirectory"].is_null() && !d["subdirectory"].is_string())
    return plain;
  std::string url = d["url"];
  if (dir) {
    bool editable = false;
    if (dir->contains("editable")) {
      if (!(*dir)["editable"].is_boolean()) return plain;
      editable = (*dir)["editable"];
    }
    if (editable) {
      auto location = file_url_to_path(url);
      if (!location) return plain;
      return "# Editable install with no version control (" + plain + ")\n-e " + *location;
    }
  }
  std::string req = name + " @ ";
  std::vector<std::string> fragments;
  if (vcs) {
    if (!vcs->contains("vcs") || !(*vcs)["vcs"].is_string() || !vcs->contains("commit_id") ||
        !(*vcs)["commit_id"].is_string())
      return plain;
    req +=
        (*vcs)["vcs"].get<std::string>() + "+" + url + "@" + (*vcs)["commit_id"].get<std::string>();
  } else if (archive) {
    req += url;
    if (archive->contains("hash") && (*archive)["hash"].is_string())
      fragments.push_back((*archive)["hash"]);
  } else {
    req += url;
  }
  if (d.contains("subdirectory") && d["subdirectory"].is_string())
    fragments.push_back("subdirectory=" + d["subdirectory"].get<std::string>());
  for (size_t i = 0; i < fragments.size(); ++i) req += (i ? "&" : "#") + fragments[i];
  return req;
}

struct FrozenDist {
  std::string name;  // as in the metadata
  std::string text;  // the freeze line(s)
};

// Reads the distribution whose metadata is at `info` (a *.dist-info or
// *.egg-info directory, or an *.egg-info file).
std::optional<FrozenDist> read_dist(const SquashfsImage& fs, const std::string& info) {
  // importlib.metadata reads METADATA, else PKG-INFO, else the entry itself
  // (an *.egg-info file); what is missing or not a file is skipped.
  auto text = fs.read_file_if_regular(info + "/METADATA", 256u << 20);
  bool dir = text.has_value();
  if (!text) {
    text = fs.read_file_if_regular(info + "/PKG-INFO", 256u << 20);
    dir = text.has_value();
  }
  if (!text) text = fs.read_file_if_regular(info, 256u << 20);
  if (!text) return std::nullopt;
  auto name = metadata_header(*text, "Name");
  auto version = metadata_header(*text, "Version");
  if (!name || name->empty() || !version) return std::nullopt;
  std::optional<std::string> direct_url;
  if (dir) direct_url = fs.read_file_if_regular(info + "/direct_url.json", 64u << 20);
  return FrozenDist{*name, freeze_line(*name, *version, direct_url)};
}

// importlib.metadata's grouping of a directory's metadata entries: by the
// normalised name before the first '-', groups in order of first
// appearance, entries in directory order.
std::vector<std::string> metadata_entries(const std::vector<SquashfsImage::Entry>& entries) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& e : entries) {
    std::string low = to_lower(e.name);
    if (!ends_with(low, ".dist-info") && !ends_with(low, ".egg-info")) continue;
    std::string stem = low.substr(0, low.rfind('.'));
    std::string key = canonical_python_name(stem.substr(0, stem.find('-')));
    auto& g = groups[key];
    if (g.empty()) order.push_back(key);
    g.push_back(e.name);
  }
  std::vector<std::string> out;
  for (const auto& k : order)
    for (auto& n : groups[k]) out.push_back(n);
  return out;
}

// pip freeze's lines for one interpreter.
std::string pip_freeze_for(const SquashfsImage& fs, const PythonSetup& py) {
  std::set<std::string> skip = {"pip", "python", "wsgiref", "argparse"};
  if (py.major < 3 || (py.major == 3 && py.minor < 12))
    skip.insert({"setuptools", "distribute", "wheel"});
  std::unordered_set<std::string> seen;
  std::map<std::string, FrozenDist> found;  // canonical name -> dist
  std::vector<std::string> order;
  for (const auto& dir : py.sys_path) {
    auto entries = fs.list_dir(dir);
    if (!entries) continue;
    for (const auto& name : metadata_entries(*entries)) {
      auto dist = read_dist(fs, dir + "/" + name);
      if (!dist) continue;
      std::string canonical = canonical_python_name(dist->name);
      if (!seen.insert(canonical).second) continue;
      found.emplace(canonical, std::move(*dist));
    }
    // Eggs (pip's legacy finder): name and version from the directory
    // name, after the metadata entries, the later one of a name winning.
    for (const auto& e : *entries) {
      if (!ends_with(e.name, ".egg") || e.type == FileType::kRegular) continue;
      std::string path = dir + "/" + e.name;
      auto text = fs.read_file_if_regular(path + "/EGG-INFO/PKG-INFO", 256u << 20);
      if (!text) continue;
      auto parts = split(e.name.substr(0, e.name.size() - 4), '-');
      // pkg_resources' safe_name: runs of other characters become '-'.
      std::string name;
      for (char c : parts[0]) {
        bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '.';
        if (keep)
          name += c;
        else if (name.empty() || name.back() != '-')
          name += '-';
      }
      std::string version =
          parts.size() > 1 ? parts[1] : metadata_header(*text, "Version").value_or("");
      if (version.empty()) continue;
      std::string canonical = canonical_python_name(name);
      seen.insert(canonical);
      found[canonical] = FrozenDist{name, freeze_line(name, version, std::nullopt)};
    }
  }
  std::vector<const FrozenDist*> dists;
  for (const auto& [canonical, d] : found)
    if (!skip.count(canonical)) dists.push_back(&d);
  std::stable_sort(dists.begin(), dists.end(), [](const FrozenDist* a, const FrozenDist* b) {
    return to_lower(a->name) < to_lower(b->name);
  });
  std::string out;
  for (const auto* d : dists) out += d->text + "\n";
  return out;
}

}  // namespace

std::string canonical_python_name(std::string_view name) {
  std::string out;
  bool in_sep = false;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      if (!in_sep) out += '-';
      in_sep = true;
    } else {
      out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      in_sep = false;
    }
  }
  return out;
}

std::map<std::string, std::string> parse_pip_freeze(std::string_view text) {
  std::map<std::string, std::string> out;
  for (std::string_view line : lines_of(text)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find("==");
    if (eq != std::string_view::npos)
      out[to_lower(trim(line.substr(0, eq)))] = std::string(trim(line.substr(eq + 2)));
    else
      out[std::string(line)] = "";
  }
  return out;
}

std::string static_pip_freeze(const SquashfsImage& fs) {
  Vars vars = image_environment(fs);
  for (const char* pip : {"pip", "pip3"}) {
    auto script = which(fs, vars, pip);
    if (!script) continue;
    auto interp = interpreter_of(fs, vars, *script);
    if (!interp) continue;
    auto py = python_setup(fs, vars, *interp);
    if (!py) continue;
    std::string out = pip_freeze_for(fs, *py);
    if (!trim(out).empty()) return out;
  }
  return "";
}

}  // namespace sifstore
