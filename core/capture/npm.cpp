#include "core/capture/npm.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/capture/environment.h"
#include "core/capture/image_path.h"
#include "core/text.h"

namespace sifstore {
using namespace capture;
namespace {

using FileType = SquashfsImage::FileType;

// Names npm-package-arg rejects (validate-npm-package-name, old-package rules).
bool valid_npm_name(const std::string& name) {
  if (name.empty() || name.size() > 214 || name[0] == '.' || name[0] == '_') return false;
  if (trim(name) != name) return false;
  std::string l = to_lower(name);
  if (l == "node_modules" || l == "favicon.ico") return false;
  auto url_safe = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             std::strchr("-_.!~*'()", c);
    });
  };
  if (name[0] == '@') {
    size_t slash = name.find('/');
    if (slash == std::string::npos || name.find('/', slash + 1) != std::string::npos) return false;
    return url_safe(name.substr(1, slash - 1)) && url_safe(name.substr(slash + 1));
  }
  return url_safe(name);
}

// npm orders names with localeCompare(b, 'en'): punctuation before digits
// before letters, letters case-insensitively first, lower case before upper.
int collation_weight(char c) {
  static const std::string kPunct = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";
  auto p = kPunct.find(c);
  if (p != std::string::npos) return 1 + static_cast<int>(p);
  if (c >= '0' && c <= '9') return 100 + (c - '0');
  if (c >= 'a' && c <= 'z') return 200 + (c - 'a');
  if (c >= 'A' && c <= 'Z') return 200 + (c - 'A');
  return 300 + static_cast<unsigned char>(c);
}
bool npm_name_less(const std::string& a, const std::string& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    int wa = collation_weight(a[i]), wb = collation_weight(b[i]);
    if (wa != wb) return wa < wb;
  }
  if (a.size() != b.size()) return a.size() < b.size();
  for (size_t i = 0; i < n; ++i) {
    bool la = a[i] >= 'a' && a[i] <= 'z', lb = b[i] >= 'a' && b[i] <= 'z';
    if (a[i] != b[i] && la != lb) return la;  // lower case first
  }
  return a < b;
}

// The `prefix` of an npmrc file, if it sets one.
std::optional<std::string> npmrc_prefix(const SquashfsImage& fs, const std::string& path) {
  auto text = fs.read_file_if_regular(path, 64u << 20);
  if (!text) return std::nullopt;
  std::optional<std::string> prefix;
  for (std::string_view line : lines_of(*text)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(line.substr(0, eq)) == "prefix") prefix = std::string(trim(line.substr(eq + 1)));
  }
  return prefix;
}

}  // namespace

std::string static_npm_list(const SquashfsImage& fs) {
  Vars vars = image_environment(fs);
  auto npm = which(fs, vars, "npm");
  auto node = which(fs, vars, "node");
  if (!npm || !node) return "";
  std::string node_real = fs.real_path(*node).value_or(*node);
  std::string default_prefix = dirname(dirname(node_real));
  std::string npm_real = fs.real_path(*npm).value_or(*npm);
  std::string npm_dir = dirname(dirname(npm_real));

  std::optional<std::string> prefix;
  for (const char* name : {"npm_config_prefix", "NPM_CONFIG_PREFIX"})
    if (!prefix && vars.count(name) && !vars[name].empty()) prefix = vars[name];
  for (const std::string& rc : {join_normalized(default_prefix, "etc/npmrc"),
                                std::string("/etc/npmrc"), npm_dir + "/npmrc"})
    if (!prefix) prefix = npmrc_prefix(fs, rc);
  if (!prefix) prefix = default_prefix;
  std::string lib = join_normalized("/", *prefix + "/lib");
  std::string root = lib + "/node_modules";

  std::vector<std::string> names;
  if (auto entries = fs.list_dir(root)) {
    for (const auto& e : *entries) {
      if (e.name[0] == '.') continue;
      if (e.name[0] == '@') {
        if (auto scoped = fs.list_dir(root + "/" + e.name))
          for (const auto& s : *scoped)
            if (s.name[0] != '.') names.push_back(e.name + "/" + s.name);
        continue;
      }
      names.push_back(e.name);  // npm lists plain files too
    }
  }
  std::sort(names.begin(), names.end(), npm_name_less);
  std::string root_real = fs.real_path(root).value_or(root);

  nlohmann::ordered_json doc;
  doc["name"] = basename(lib);
  nlohmann::ordered_json deps = nlohmann::ordered_json::object();
  for (const auto& name : names) {
    if (!valid_npm_name(name)) return "";  // npm ls fails: the reference keeps nothing
    std::string path = root + "/" + name;
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    auto real = fs.real_path(path);
    if (real && fs.type_of(*real) == FileType::kDirectory) {
      if (auto pkg = fs.read_file_if_regular(*real + "/package.json", 256u << 20)) {
        auto j = nlohmann::json::parse(*pkg, nullptr, false);
        if (j.is_object() && j.contains("version") && j["version"].is_string())
          entry["version"] = j["version"];
      }
      if (fs.type_of(path, false) == FileType::kSymlink)
        entry["resolved"] = "file:" + relative_path(dirname(root_real + "/" + name), *real);
    }
    entry["overridden"] = false;
    deps[name] = std::move(entry);
  }
  if (!deps.empty()) doc["dependencies"] = std::move(deps);
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace sifstore
