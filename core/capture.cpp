#include "core/capture.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include "core/error.h"
#include "core/process.h"
#include "core/sha256.h"
#include "core/sif.h"

namespace sifstore {
namespace {

using FileType = SquashfsImage::FileType;

// Apptainer's PATH in a container before the image's environment scripts.
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---- text helpers -------------------------------------------------------------

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// Lines split at \n, \r\n or \r (what the reference's splitlines() does
// for the output of these commands).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of("\r\n", i);
    if (j == std::string_view::npos) {
      out.push_back(text.substr(i));
      break;
    }
    out.push_back(text.substr(i, j - i));
    i = j + ((text[j] == '\r' && j + 1 < text.size() && text[j + 1] == '\n') ? 2 : 1);
  }
  return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find(sep, i);
    out.emplace_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

std::string dirname(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t slash = p.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(p.substr(0, slash));
}

std::string basename(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

// os.path.abspath(os.path.join(base, rel)) for paths inside the image.
std::string join_normalized(std::string_view base, std::string_view rel) {
  std::string joined =
      !rel.empty() && rel[0] == '/' ? std::string(rel) : std::string(base) + "/" + std::string(rel);
  std::vector<std::string> parts;
  for (auto& c : split(joined, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (auto& c : parts) out += "/" + c;
  return out.empty() ? "/" : out;
}

// The path of `to` relative to directory `from` (both canonical, absolute).
std::string relative_path(const std::string& from, const std::string& to) {
  auto a = split(from, '/'), b = split(to, '/');
  a.erase(std::remove(a.begin(), a.end(), ""), a.end());
  b.erase(std::remove(b.begin(), b.end(), ""), b.end());
  size_t common = 0;
  while (common < a.size() && common < b.size() && a[common] == b[common]) ++common;
  std::string out;
  for (size_t i = common; i < a.size(); ++i) out += out.empty() ? ".." : "/..";
  for (size_t i = common; i < b.size(); ++i) out += (out.empty() ? "" : "/") + b[i];
  return out.empty() ? "." : out;
}

// ---- the image's environment ---------------------------------------------------

using Vars = std::map<std::string, std::string>;

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

std::optional<std::string> eval_word(std::string_view s, const Vars& vars);

// Expands the parameter at s[i] == '$' into out; false for a construct this
// evaluator does not handle ($(...), ${x:+...}, ...).
bool expand_parameter(std::string_view s, size_t& i, const Vars& vars, std::string& out) {
  auto get = [&](const std::string& n) -> const std::string* {
    auto it = vars.find(n);
    return it == vars.end() ? nullptr : &it->second;
  };
  if (i + 1 >= s.size()) {
    out += '$';
    ++i;
    return true;
  }
  char c = s[i + 1];
  if (name_start(c)) {
    size_t j = i + 1;
    while (j < s.size() && name_char(s[j])) ++j;
    if (auto v = get(std::string(s.substr(i + 1, j - i - 1)))) out += *v;
    i = j;
    return true;
  }
  if (c != '{') {
    if (c == '(' || c == '`') return false;
    out += '$';
    ++i;
    return true;
  }
  // ${...}: find the matching brace, honouring quotes and nesting.
  size_t j = i + 2;
  int depth = 1;
  char quote = 0;
  for (; j < s.size(); ++j) {
    char d = s[j];
    if (quote) {
      if (d == '\\' && quote == '"')
        ++j;
      else if (d == quote)
        quote = 0;
      continue;
    }
    if (d == '"' || d == '\'')
      quote = d;
    else if (d == '\\')
      ++j;
    else if (d == '{')
      ++depth;
    else if (d == '}' && --depth == 0)
      break;
  }
  if (j >= s.size()) return false;
  std::string_view inner = s.substr(i + 2, j - i - 2);
  size_t k = 0;
  while (k < inner.size() && name_char(inner[k])) ++k;
  if (k == 0) return false;
  const std::string* v = get(std::string(inner.substr(0, k)));
  std::string_view rest = inner.substr(k);
  if (rest.empty()) {
    if (v) out += *v;
  } else if (starts_with(rest, ":-") || starts_with(rest, "-")) {
    bool colon = rest[0] == ':';
    bool use_value = v && (!colon || !v->empty());
    if (use_value) {
      out += *v;
    } else {
      auto word = eval_word(rest.substr(colon ? 2 : 1), vars);
      if (!word) return false;
      out += *word;
    }
  } else {
    return false;
  }
  i = j + 1;
  return true;
}

// The value of a shell word (quotes removed, parameters expanded); nullopt
// for what needs a shell (command substitution, arithmetic, ...).
std::optional<std::string> eval_word(std::string_view s, const Vars& vars) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '\'') {
      size_t j = s.find('\'', i + 1);
      if (j == std::string_view::npos) return std::nullopt;
      out += s.substr(i + 1, j - i - 1);
      i = j + 1;
    } else if (c == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size() && std::strchr("\"\\$`\n", s[i + 1])) {
          out += s[i + 1];
          i += 2;
        } else if (s[i] == '$') {
          if (!expand_parameter(s, i, vars, out)) return std::nullopt;
        } else if (s[i] == '`') {
          return std::nullopt;
        } else {
          out += s[i++];
        }
      }
      if (i >= s.size()) return std::nullopt;
      ++i;
    } else if (c == '\\') {
      if (i + 1 < s.size()) out += s[i + 1];
      i += 2;
    } else if (c == '$') {
      if (!expand_parameter(s, i, vars, out)) return std::nullopt;
    } else if (c == '`') {
      return std::nullopt;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

// The end of the shell word starting at i (first unquoted blank, ';', '&'
// or '|' outside ${...}).
size_t word_end(std::string_view s, size_t i) {
  char quote = 0;
  int depth = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\' && quote == '"')
        ++i;
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '"' || c == '\'')
      quote = c;
    else if (c == '\\')
      ++i;
    else if (c == '{')
      ++depth;
    else if (c == '}')
      depth = std::max(0, depth - 1);
    else if (depth == 0 && (c == ' ' || c == '\t' || c == ';' || c == '&' || c == '|'))
      break;
  }
  return std::min(i, s.size());
}

// Applies the plain assignments of one environment script (`NAME=value`,
// `export NAME=value`); other shell is ignored.
void apply_env_script(std::string_view text, Vars& vars) {
  for (std::string_view line : lines_of(text)) {
    line = strip(line);
    if (starts_with(line, "export ") || starts_with(line, "export\t")) line = strip(line.substr(7));
    size_t k = 0;
    while (k < line.size() && name_char(line[k])) ++k;
    if (k == 0 || !name_start(line[0]) || k >= line.size() || line[k] != '=') continue;
    std::string name(line.substr(0, k));
    size_t end = word_end(line, k + 1);
    if (auto value = eval_word(line.substr(k + 1, end - k - 1), vars)) vars[name] = *value;
  }
}

Vars image_environment(const SquashfsImage& fs) {
  Vars vars{{"PATH", kDefaultPath}};
  auto entries = fs.list_dir("/.singularity.d/env");
  if (!entries) return vars;
  for (const auto& e : *entries) {
    if (!ends_with(e.name, ".sh")) continue;
    if (auto text = fs.read_file_if_regular("/.singularity.d/env/" + e.name, 64u << 20))
      apply_env_script(*text, vars);
  }
  return vars;
}

std::string var(const Vars& vars, const std::string& name) {
  auto it = vars.find(name);
  return it == vars.end() ? "" : it->second;
}

// The first regular file `name` in the PATH directories, as found (not
// resolved), or nullopt.
std::optional<std::string> which(const SquashfsImage& fs, const Vars& vars,
                                 const std::string& name) {
  if (name.find('/') != std::string::npos)
    return fs.type_of(name) == FileType::kRegular ? std::optional<std::string>(name) : std::nullopt;
  for (const auto& dir : split(var(vars, "PATH"), ':')) {
    if (dir.empty() || dir[0] != '/') continue;
    std::string candidate = join_normalized(dir, name);
    if (fs.type_of(candidate) == FileType::kRegular) return candidate;
  }
  return std::nullopt;
}

// The interpreter a script's #! line runs (through `env` on the PATH, and
// pip's long-path '''exec' trick), or nullopt when it is not a script.
std::optional<std::string> interpreter_of(const SquashfsImage& fs, const Vars& vars,
                                          const std::string& script) {
  auto text = fs.type_of(script) == FileType::kRegular ? fs.read_head(script, 4096) : std::nullopt;
  if (!text || !starts_with(*text, "#!")) return std::nullopt;
  auto lines = lines_of(*text);
  std::vector<std::string> words;
  for (auto& w : split(strip(lines[0].substr(2)), ' '))
    if (!w.empty()) words.push_back(w);
  if (words.empty()) return std::nullopt;
  std::string interp = words[0];
  if (basename(interp) == "env") {
    size_t k = 1;
    while (k < words.size() && words[k][0] == '-') ++k;
    if (k >= words.size()) return std::nullopt;
    return which(fs, vars, words[k]);
  }
  std::string base = basename(interp);
  if (base == "sh" || base == "bash" || base == "dash") {
    // '''exec' "/very/long/path/bin/python3" "$0" "$@"
    for (size_t i = 1; i < lines.size() && i < 5; ++i) {
      std::string_view l = strip(lines[i]);
      if (!starts_with(l, "'''exec' ")) continue;
      l = strip(l.substr(9));
      if (l.empty()) return std::nullopt;
      if (l[0] == '"' || l[0] == '\'') {
        size_t close = l.find(l[0], 1);
        if (close == std::string_view::npos) return std::nullopt;
        return std::string(l.substr(1, close - 1));
      }
      return std::string(l.substr(0, l.find(' ')));
    }
    return std::nullopt;
  }
  return interp;
}

// ---- dpkg -------------------------------------------------------------------------

struct DpkgRecord {
  std::string package, arch, status, version;
};

// The stanzas of a deb822 file (status or an update record). Field names
// are matched case-insensitively, as dpkg does.
std::vector<DpkgRecord> parse_dpkg_stanzas(std::string_view text, const std::string& source) {
  std::vector<DpkgRecord> out;
  DpkgRecord cur;
  bool in_stanza = false, have_package = false, have_version = false;
  size_t stanza_line = 0, line_no = 0;
  std::string* last = nullptr;
  std::string ignored;
  auto finish = [&]() {
    if (!in_stanza) return;
    if (!have_package)
      throw Error(source + ":" + std::to_string(stanza_line) +
                  ": a package record without a Package field (dpkg would refuse it)");
    std::string status_word = "not-installed";
    auto words = split(strip(cur.status), ' ');
    words.erase(std::remove(words.begin(), words.end(), ""), words.end());
    if (words.size() == 3)
      status_word = words[2];
    else if (!cur.status.empty())
      throw Error(source + ":" + std::to_string(stanza_line) + ": package " + cur.package +
                  ": Status \"" + cur.status + "\" is not \"<want> <flag> <status>\"");
    cur.status = status_word;
    if (status_word != "not-installed") {
      std::string_view v = strip(cur.version);
      if (!have_version || v.empty())
        throw Error(source + ":" + std::to_string(stanza_line) + ": package " + cur.package +
                    " is " + status_word + " but has no Version field");
      if (std::any_of(v.begin(), v.end(), is_space))
        throw Error(source + ":" + std::to_string(stanza_line) + ": package " + cur.package +
                    ": Version \"" + std::string(v) + "\" has embedded spaces");
    }
    out.push_back(std::move(cur));
    cur = DpkgRecord();
    in_stanza = have_package = have_version = false;
    last = nullptr;
  };
  for (std::string_view line : lines_of(text)) {
    ++line_no;
    if (strip(line).empty()) {
      finish();
      continue;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (!in_stanza)
        throw Error(source + ":" + std::to_string(line_no) +
                    ": continuation line outside a record");
      if (last) *last += "\n" + std::string(line);
      continue;
    }
    if (!in_stanza) {
      in_stanza = true;
      stanza_line = line_no;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      throw Error(source + ":" + std::to_string(line_no) + ": line is not \"Field: value\"");
    std::string field = lower(line.substr(0, colon));
    std::string value(strip(line.substr(colon + 1)));
    last = &ignored;
    if (field == "package") {
      cur.package = lower(value);
      have_package = !value.empty();
      last = &cur.package;
    } else if (field == "architecture") {
      cur.arch = value;
      last = &cur.arch;
    } else if (field == "status") {
      cur.status = value;
      last = &cur.status;
    } else if (field == "version") {
      cur.version = value;
      have_version = true;
      last = &cur.version;
    }
  }
  finish();
  return out;
}

// ${Version} as dpkg-query prints it: a zero epoch is left out.
std::string dpkg_version_text(std::string_view v) {
  v = strip(v);
  size_t colon = v.find(':');
  if (colon != std::string_view::npos && colon > 0 &&
      std::all_of(v.begin(), v.begin() + static_cast<long>(colon),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    std::string_view epoch = v.substr(0, colon);
    while (epoch.size() > 1 && epoch[0] == '0') epoch.remove_prefix(1);
    if (epoch == "0") return std::string(v.substr(colon + 1));
    return std::string(epoch) + std::string(v.substr(colon));
  }
  return std::string(v);
}

// ---- Python ---------------------------------------------------------------------------

// The first "Key: value" header of an RFC 822 metadata text (headers end at
// the first empty line), stripped.
std::optional<std::string> metadata_header(std::string_view text, std::string_view key) {
  std::string want = lower(key);
  for (std::string_view line : lines_of(text)) {
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (lower(strip(line.substr(0, colon))) == want)
      return std::string(strip(line.substr(colon + 1)));
  }
  return std::nullopt;
}

struct PythonSetup {
  int major = 3, minor = 0;
  std::vector<std::string> sys_path;  // the directories pip scans, in order
};

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
    out[lower(strip(line.substr(0, eq)))] = std::string(strip(line.substr(eq + 1)));
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
    if (lower(cfg["include-system-site-packages"]) == "true") {
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
        if (starts_with(line, "#") || strip(line).empty()) continue;
        if (starts_with(line, "import ") || starts_with(line, "import\t")) continue;
        std::string_view l = line;
        while (!l.empty() && is_space(l.back())) l.remove_suffix(1);
        std::string dir = join_normalized(site, l);
        if (fs.type_of(dir)) add(dir);
      }
    }
  }
  return py;
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
    std::string low = lower(e.name);
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
    return lower(a->name) < lower(b->name);
  });
  std::string out;
  for (const auto* d : dists) out += d->text + "\n";
  return out;
}

// ---- npm --------------------------------------------------------------------------------

// Names npm-package-arg rejects (validate-npm-package-name, old-package rules).
bool valid_npm_name(const std::string& name) {
  if (name.empty() || name.size() > 214 || name[0] == '.' || name[0] == '_') return false;
  if (strip(name) != name) return false;
  std::string l = lower(name);
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
    line = strip(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    if (strip(line.substr(0, eq)) == "prefix") prefix = std::string(strip(line.substr(eq + 1)));
  }
  return prefix;
}

}  // namespace

// ---- public: parsers --------------------------------------------------------------------

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

namespace {

// A version taken apart by PEP 440's grammar (packaging's VERSION_PATTERN).
struct Pep440 {
  std::string epoch;
  std::vector<std::string> release;
  std::string pre_label, pre_number;  // pre_label empty: no pre-release
  std::optional<std::string> post, dev, local;
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_sep(char c) { return c == '-' || c == '_' || c == '.'; }

// A backtracking matcher with the regular expression's preferences: an
// optional part is tried present first, alternatives in pattern order, so
// the result is the one re.match would find. `v` is lower-cased.
class Pep440Parser {
 public:
  explicit Pep440Parser(std::string v) : v_(std::move(v)) {}

  std::optional<Pep440> parse() {
    size_t i = 0;
    if (i < v_.size() && v_[i] == 'v') ++i;
    size_t j = i;
    std::string digits = take_digits(j);
    if (digits.empty()) return std::nullopt;
    if (j < v_.size() && v_[j] == '!') {
      p_.epoch = digits;
      i = j + 1;
    }
    // The release: numbers joined by '.', as many as there are.
    std::string first = take_digits(i);
    if (first.empty()) return std::nullopt;
    p_.release.push_back(first);
    while (i + 1 < v_.size() && v_[i] == '.' && is_digit(v_[i + 1])) {
      ++i;
      p_.release.push_back(take_digits(i));
    }
    if (pre(i)) return p_;
    return std::nullopt;
  }

 private:
  std::string take_digits(size_t& i) const {
    size_t start = i;
    while (i < v_.size() && is_digit(v_[i])) ++i;
    return v_.substr(start, i - start);
  }
  bool word_at(size_t i, std::string_view w) const { return v_.compare(i, w.size(), w) == 0; }

  // [-_.]?(label)[-_.]?(N)? then what follows, or nothing then what follows.
  bool labelled(size_t i, const std::vector<std::string_view>& labels, std::string* label,
                std::string* number, bool (Pep440Parser::*next)(size_t)) {
    for (size_t s0 : {size_t(1), size_t(0)}) {
      if (s0 && !(i < v_.size() && is_sep(v_[i]))) continue;
      size_t a = i + s0;
      for (auto l : labels) {
        if (!word_at(a, l)) continue;
        size_t b = a + l.size();
        for (size_t s1 : {size_t(1), size_t(0)}) {
          if (s1 && !(b < v_.size() && is_sep(v_[b]))) continue;
          size_t c = b + s1;
          std::string n = take_digits(c);
          *label = std::string(l);
          *number = n;
          if ((this->*next)(c)) return true;
        }
      }
    }
    label->clear();
    number->clear();
    return (this->*next)(i);
  }

  bool pre(size_t i) {
    return labelled(i, {"a", "b", "c", "rc", "alpha", "beta", "pre", "preview"}, &p_.pre_label,
                    &p_.pre_number, &Pep440Parser::post);
  }
  bool post(size_t i) {
    // "-N" first, then [-_.]?(post|rev|r)[-_.]?N?, then none.
    if (i + 1 < v_.size() && v_[i] == '-' && is_digit(v_[i + 1])) {
      size_t j = i + 1;
      std::string n = take_digits(j);
      if (dev(j)) {
        p_.post = n;
        return true;
      }
    }
    std::string label, number;
    if (!labelled(i, {"post", "rev", "r"}, &label, &number, &Pep440Parser::dev)) return false;
    if (label.empty())
      p_.post.reset();
    else
      p_.post = number;
    return true;
  }
  bool dev(size_t i) {
    std::string label, number;
    if (!labelled(i, {"dev"}, &label, &number, &Pep440Parser::local)) return false;
    if (label.empty())
      p_.dev.reset();
    else
      p_.dev = number;
    return true;
  }
  bool local(size_t i) {
    if (i < v_.size() && v_[i] == '+') {
      // [a-z0-9]+([-_.][a-z0-9]+)* to the end.
      size_t j = i + 1;
      bool need_alnum = true;
      for (; j < v_.size(); ++j) {
        char c = v_[j];
        bool alnum = is_digit(c) || (c >= 'a' && c <= 'z');
        if (alnum) {
          need_alnum = false;
        } else if (is_sep(c) && !need_alnum) {
          need_alnum = true;
        } else {
          break;
        }
      }
      if (j == v_.size() && !need_alnum) {
        p_.local = v_.substr(i + 1);
        return true;
      }
    }
    p_.local.reset();
    return i == v_.size();
  }

  std::string v_;
  Pep440 p_;
};

std::string pep440_number(const std::string& s) {
  size_t nz = s.find_first_not_of('0');
  return nz == std::string::npos ? std::string("0") : s.substr(nz);
}

}  // namespace

std::optional<std::string> pep440_normalize(std::string_view version) {
  auto p = Pep440Parser(lower(strip(version))).parse();
  if (!p) return std::nullopt;
  std::string out;
  if (!p->epoch.empty() && pep440_number(p->epoch) != "0") out += pep440_number(p->epoch) + "!";
  for (size_t i = 0; i < p->release.size(); ++i)
    out += (i ? "." : "") + pep440_number(p->release[i]);
  if (!p->pre_label.empty()) {
    std::string l = p->pre_label;
    if (l == "alpha")
      l = "a";
    else if (l == "beta")
      l = "b";
    else if (l == "c" || l == "pre" || l == "preview")
      l = "rc";
    out += l + (p->pre_number.empty() ? "0" : pep440_number(p->pre_number));
  }
  if (p->post) out += ".post" + (p->post->empty() ? "0" : pep440_number(*p->post));
  if (p->dev) out += ".dev" + (p->dev->empty() ? "0" : pep440_number(*p->dev));
  if (p->local) {
    std::string local, part;
    auto flush = [&]() {
      bool digits = !part.empty() && std::all_of(part.begin(), part.end(), is_digit);
      local += (local.empty() ? "" : ".") + (digits ? pep440_number(part) : part);
      part.clear();
    };
    for (char c : *p->local) {
      if (is_sep(c))
        flush();
      else
        part += c;
    }
    flush();
    out += "+" + local;
  }
  return out;
}

std::map<std::string, std::string> parse_pip_freeze(std::string_view text) {
  std::map<std::string, std::string> out;
  for (std::string_view line : lines_of(text)) {
    line = strip(line);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find("==");
    if (eq != std::string_view::npos)
      out[lower(strip(line.substr(0, eq)))] = std::string(strip(line.substr(eq + 2)));
    else
      out[std::string(line)] = "";
  }
  return out;
}

std::map<std::string, std::string> parse_dpkg_query(std::string_view text) {
  std::map<std::string, std::string> out;
  for (std::string_view line : lines_of(text)) {
    line = strip(line);
    size_t eq = line.find('=');
    if (line.empty() || eq == std::string_view::npos) continue;
    out[std::string(strip(line.substr(0, eq)))] = std::string(strip(line.substr(eq + 1)));
  }
  return out;
}

std::string dpkg_query_output(std::string_view status, const std::string& source,
                              const std::vector<std::pair<std::string, std::string>>& updates) {
  std::map<std::pair<std::string, std::string>, DpkgRecord> db;
  for (auto& r : parse_dpkg_stanzas(status, source)) db[{r.package, r.arch}] = std::move(r);
  for (const auto& [name, text] : updates)
    for (auto& r : parse_dpkg_stanzas(text, name)) db[{r.package, r.arch}] = std::move(r);
  std::string out;
  for (const auto& [key, r] : db) {
    if (r.status == "not-installed") continue;
    out += r.package + "=" + dpkg_version_text(r.version) + "\n";
  }
  return out;
}

// ---- public: static capture -----------------------------------------------------------

std::string static_dpkg_query(const SquashfsImage& fs) {
  const std::string admin = "/var/lib/dpkg";
  auto status = fs.read_file(admin + "/status");
  if (!status) return "";
  std::vector<std::pair<std::string, std::string>> updates;
  if (auto entries = fs.list_dir(admin + "/updates")) {
    std::vector<std::string> names;
    for (const auto& e : *entries)
      if (!e.name.empty() && std::all_of(e.name.begin(), e.name.end(), ::isdigit))
        names.push_back(e.name);
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    for (const auto& n : names) {
      std::string path = admin + "/updates/" + n;
      if (auto t = fs.read_file(path)) updates.emplace_back(fs.sif_path() + ":" + path, *t);
    }
  }
  return dpkg_query_output(*status, fs.sif_path() + ":" + admin + "/status", updates);
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
    if (!strip(out).empty()) return out;
  }
  return "";
}

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

Lock capture_static(const SquashfsImage& fs) {
  Lock lock;
  lock.dpkg = parse_dpkg_query(static_dpkg_query(fs));
  lock.pip = parse_pip_freeze(static_pip_freeze(fs));
  lock.node = std::string(strip(static_npm_list(fs)));
  return lock;
}

// ---- public: exec capture and the whole -----------------------------------------------

Lock capture_exec(const std::string& sif_path, const std::string& builder) {
  std::vector<std::string> words = split_command_line(builder.empty() ? "apptainer" : builder);
  if (words.empty()) throw Error("--builder is empty: name the apptainer (or singularity) command");
  words[0] = find_program(words[0], "the builder (apptainer) that runs the exec capture");
  auto run_inside = [&](const std::vector<std::string>& cmd) -> std::optional<std::string> {
    std::vector<std::string> argv = words;
    for (const char* w : {"exec", "--cleanenv", "--no-home"}) argv.emplace_back(w);
    argv.push_back(sif_path);
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    CapturedRun r = run_captured(argv);
    if (!r.status.ok()) return std::nullopt;
    return std::move(r.out);
  };
  Lock lock;
  for (const char* pip : {"pip", "pip3"}) {
    auto out = run_inside({pip, "freeze"});
    if (out && !strip(*out).empty()) {
      lock.pip = parse_pip_freeze(*out);
      break;
    }
  }
  if (auto out = run_inside({"dpkg-query", "-W", "-f=${Package}=${Version}\n"}))
    lock.dpkg = parse_dpkg_query(*out);
  if (auto out = run_inside({"npm", "list", "-g", "--depth=0", "--json"}))
    lock.node = std::string(strip(*out));
  return lock;
}

CaptureMethod parse_capture_method(const std::string& word) {
  if (word == "static") return CaptureMethod::kStatic;
  if (word == "exec") return CaptureMethod::kExec;
  throw Error("unknown capture method '" + word + "': use static or exec");
}

Lock capture_lock(const std::string& sif_path, CaptureMethod method, const std::string& builder) {
  SifImage sif = SifImage::open(sif_path);
  Lock lock;
  if (method == CaptureMethod::kStatic) {
    lock = capture_static(SquashfsImage::open_primary(sif));
    lock.facts["captured-by"] = "static";
  } else {
    lock = capture_exec(sif_path, builder);
    lock.facts["captured-by"] = "exec";
    lock.facts["builder"] = builder.empty() ? "apptainer" : builder;
  }
  lock.facts["image-sha256"] = sha256_file(sif_path);
  return lock;
}

}  // namespace sifstore
