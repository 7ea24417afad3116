#include "core/capture/python_path.h"

#include <set>

#include "core/capture/image_path.h"
#include "core/text.h"

namespace sifstore::capture {
namespace {

using FileType = SquashfsImage::FileType;

// "<major>.<minor>" at the start of text (then the end or '.'), as numbers.
std::optional<std::pair<int, int>> leading_version(std::string_view text, bool rest_allowed) {
  auto number = [&](size_t& i) -> std::optional<int> {
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start || i - start > 6) return std::nullopt;
    return std::stoi(std::string(text.substr(start, i - start)));
  };
  size_t i = 0;
  auto major = number(i);
  if (!major || i >= text.size() || text[i] != '.') return std::nullopt;
  ++i;
  auto minor = number(i);
  if (!minor) return std::nullopt;
  if (i != text.size() && !(rest_allowed && text[i] == '.')) return std::nullopt;
  return std::make_pair(*major, *minor);
}

// "python3.11" -> (3, 11).
std::optional<std::pair<int, int>> version_from_name(const std::string& name) {
  if (!starts_with(name, "python")) return std::nullopt;
  return leading_version(std::string_view(name).substr(6), false);
}

// "3.11.2" -> (3, 11).
std::optional<std::pair<int, int>> version_from_text(const std::string& text) {
  return leading_version(text, true);
}

// "key = value" lines of pyvenv.cfg.
std::map<std::string, std::string> parse_cfg(std::string_view text) {
  std::map<std::string, std::string> out;
  for (std::string_view line : lines_of(text)) {
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    out[to_lower(trim(line.substr(0, eq)))] = std::string(trim(line.substr(eq + 1)));
  }
  return out;
}

bool is_dir(const SquashfsImage& fs, const std::string& p) {
  return fs.type_of(p) == FileType::kDirectory;
}

// site.getsitepackages() of a (non-virtual) installation at prefix.
std::vector<std::string> base_site_dirs(const SquashfsImage& fs, const std::string& prefix,
                                        int major, int minor) {
  std::string py = "python" + std::to_string(major) + "." + std::to_string(minor);
  std::string pymajor = "python" + std::to_string(major);
  bool debian = prefix == "/usr" && (is_dir(fs, "/usr/lib/" + pymajor + "/dist-packages") ||
                                     is_dir(fs, "/usr/lib/" + py + "/dist-packages") ||
                                     is_dir(fs, "/usr/local/lib/" + py + "/dist-packages"));
  if (debian)
    return {"/usr/local/lib/" + py + "/dist-packages", "/usr/lib/" + pymajor + "/dist-packages",
            "/usr/lib/" + py + "/dist-packages"};
  std::vector<std::string> out;
  bool lib64 = is_dir(fs, join_normalized(prefix, "lib64/" + py));
  if (prefix == "/usr" && lib64) {  // Fedora and friends add /usr/local first
    out.push_back("/usr/local/lib64/" + py + "/site-packages");
    out.push_back("/usr/local/lib/" + py + "/site-packages");
  }
  if (lib64) out.push_back(join_normalized(prefix, "lib64/" + py + "/site-packages"));
  out.push_back(join_normalized(prefix, "lib/" + py + "/site-packages"));
  return out;
}

}  // namespace

// sys.path as the interpreter would build it (the parts that can hold
// distributions): PYTHONPATH, the site directories, and what their .pth
// files add.
std::optional<PythonSetup> python_setup(const SquashfsImage& fs, const Vars& vars,
                                        const std::string& interpreter) {
  auto real = fs.real_path(interpreter);
  if (!real || fs.type_of(*real) != FileType::kRegular) return std::nullopt;
  PythonSetup py;
  // A virtual environment is recognised by pyvenv.cfg beside the
  // executable (not resolved) or one level up.
  std::string bin_dir = fs.real_path(dirname(interpreter)).value_or(dirname(interpreter));
  std::optional<std::string> cfg_path;
  for (const std::string& c : {bin_dir + "/pyvenv.cfg", dirname(bin_dir) + "/pyvenv.cfg"}) {
    if (fs.type_of(c) == FileType::kRegular) {
      cfg_path = c;
      break;
    }
  }
  std::map<std::string, std::string> cfg;
  if (cfg_path) cfg = parse_cfg(fs.read_file_if_regular(*cfg_path, 64u << 20).value_or(""));

  std::optional<std::pair<int, int>> version = version_from_name(basename(*real));
  if (!version) version = version_from_name(basename(interpreter));
  if (!version && cfg.count("version_info")) version = version_from_text(cfg["version_info"]);
  if (!version && cfg.count("version")) version = version_from_text(cfg["version"]);
  std::string prefix = dirname(dirname(*real));
  if (!version) {
    // The standard library directory names the version.
    if (auto entries = fs.list_dir(join_normalized(prefix, "lib"))) {
      for (const auto& e : *entries) {
        auto v = version_from_name(e.name);
        if (v && fs.type_of(join_normalized(prefix, "lib/" + e.name + "/os.py"))) version = v;
      }
    }
  }
  if (!version) return std::nullopt;
  py.major = version->first;
  py.minor = version->second;

  std::vector<std::string> sites;
  if (cfg_path) {
    std::string venv = dirname(*cfg_path);
    std::string pyver = "python" + std::to_string(py.major) + "." + std::to_string(py.minor);
    sites.push_back(venv + "/lib/" + pyver + "/site-packages");
    if (to_lower(cfg["include-system-site-packages"]) == "true") {
      std::string base_prefix = cfg.count("home") ? dirname(cfg["home"]) : prefix;
      if (auto r = fs.real_path(base_prefix)) base_prefix = *r;
      for (auto& s : base_site_dirs(fs, base_prefix, py.major, py.minor)) sites.push_back(s);
    }
  } else {
    sites = base_site_dirs(fs, prefix, py.major, py.minor);
  }

  std::set<std::string> known;
  auto add = [&](const std::string& p) {
    if (known.insert(p).second) py.sys_path.push_back(p);
  };
  for (const auto& p : split(var(vars, "PYTHONPATH"), ':'))
    if (!p.empty() && p[0] == '/') add(join_normalized("/", p));
  for (const auto& site : sites) {
    auto entries = fs.list_dir(site);
    if (!entries) continue;
    add(site);
    for (const auto& e : *entries) {
      if (!ends_with(e.name, ".pth") || e.name[0] == '.') continue;
      auto text = fs.read_file_if_regular(site + "/" + e.name, 64u << 20);
      if (!text) continue;  // not a regular file: site.py skips it too
      for (std::string_view line : lines_of(*text)) {
        if (starts_with(line, "#") || trim(line).empty()) continue;
        if (starts_with(line, "import ") || starts_with(line, "import\t")) continue;
        std::string_view l = line;
        while (!l.empty() && is_ascii_space(l.back())) l.remove_suffix(1);
        std::string dir = join_normalized(site, l);
        if (fs.type_of(dir)) add(dir);
      }
    }
  }
  return py;
}

}  // namespace sifstore::capture
