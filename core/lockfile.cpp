#include "core/lockfile.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "core/user_file.h"

namespace sifstore {
namespace {

constexpr const char* kSections[] = {"rpm", "conda", "pip", "dpkg", "node"};

// SifStore's own sections: the reference does not know them, so they must
// come before its first section (lockfile.h).
bool is_own_section(std::string_view name) { return name == "rpm" || name == "conda"; }

// --- Python str semantics over UTF-8 -----------------------------------------

// Decodes one code point at s[i]; returns its length in bytes, 0 when the
// bytes there are not valid UTF-8 (as Python's strict decoder judges:
// no overlong forms, no surrogates, nothing above U+10FFFF).
size_t decode_utf8(std::string_view s, size_t i, uint32_t* cp) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2, min = 0x80, *cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3, min = 0x800, *cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4, min = 0x10000, *cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    unsigned char b = byte(i + k);
    if ((b & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

// The code points at which Python's str.splitlines() breaks a line.
bool is_line_boundary(uint32_t cp) {
  switch (cp) {
    case '\n':
    case '\r':
    case 0x0B:
    case 0x0C:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x85:
    case 0x2028:
    case 0x2029:
      return true;
    default:
      return false;
  }
}

// Python's str.isspace().
bool is_py_space(uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F)) return true;
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

// Code points of valid UTF-8 text (callers validate first).
std::vector<std::pair<size_t, uint32_t>> code_points(std::string_view s) {
  std::vector<std::pair<size_t, uint32_t>> out;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0xFFFD;
    size_t n = decode_utf8(s, i, &cp);
    if (n == 0) n = 1;  // not reached for validated text
    out.emplace_back(i, cp);
    i += n;
  }
  return out;
}

// Python's str.strip() with no argument.
std::string_view py_strip(std::string_view s) {
  auto cps = code_points(s);
  size_t b = 0, e = cps.size();
  while (b < e && is_py_space(cps[b].second)) ++b;
  while (e > b && is_py_space(cps[e - 1].second)) --e;
  if (b == e) return {};
  size_t from = cps[b].first;
  size_t to = e < cps.size() ? cps[e].first : s.size();
  return s.substr(from, to - from);
}

bool has_line_boundary(std::string_view s) {
  for (auto& [pos, cp] : code_points(s))
    if (is_line_boundary(cp)) return true;
  return false;
}

// Python's str.splitlines() (no keepends): lines without their boundary; a
// final boundary does not start an empty line.
std::vector<std::string_view> py_splitlines(std::string_view s) {
  std::vector<std::string_view> lines;
  auto cps = code_points(s);
  size_t start = 0;
  for (size_t k = 0; k < cps.size(); ++k) {
    auto [pos, cp] = cps[k];
    if (!is_line_boundary(cp)) continue;
    lines.push_back(s.substr(start, pos - start));
    size_t next = k + 1 < cps.size() ? cps[k + 1].first : s.size();
    if (cp == '\r' && k + 1 < cps.size() && cps[k + 1].second == '\n') {
      ++k;
      next = k + 1 < cps.size() ? cps[k + 1].first : s.size();
    }
    start = next;
  }
  if (start < s.size()) lines.push_back(s.substr(start));
  return lines;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// ASCII letters and digits, and the given punctuation.
bool is_package_name(std::string_view s, std::string_view punct) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && punct.find(c) == std::string_view::npos)
      return false;
  return true;
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// Python's re.match(r"^\[(\w+)\]$", stripped): the section name, or nullopt.
// \w is approximated as ASCII letters, digits, '_' and every non-ASCII code
// point (a non-ASCII section name is unknown either way).
std::optional<std::string_view> header_name(std::string_view stripped) {
  if (stripped.size() < 3 || stripped.front() != '[' || stripped.back() != ']') return std::nullopt;
  std::string_view name = stripped.substr(1, stripped.size() - 2);
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '_' || u >= 0x80)) return std::nullopt;
  }
  return name;
}

bool is_known_section(std::string_view name) {
  for (const char* s : kSections)
    if (name == s) return true;
  return false;
}

bool is_fact_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

// "# key: value" -> (key, value).
std::optional<std::pair<std::string, std::string>> parse_fact(std::string_view comment) {
  std::string_view rest = comment.substr(1);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view key = rest.substr(0, colon);
  if (!is_fact_key(key)) return std::nullopt;
  return std::make_pair(std::string(key), std::string(py_strip(rest.substr(colon + 1))));
}

// Python's str() of a JSON value as json.loads returns it.
std::string python_str(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_null()) return "None";
  return v.dump();
}

std::string where(const std::string& source, size_t line) {
  return source + ":" + std::to_string(line) + ": ";
}

// Validates the whole text: UTF-8 without NUL. Reports the line of the first
// offending byte (lines counted at '\n').
void check_text(std::string_view text, const std::string& source) {
  size_t line = 1;
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '\0')
      throw Error(where(source, line) + "NUL byte: this is binary data, not a lock file");
    uint32_t cp;
    size_t n = decode_utf8(text, i, &cp);
    if (n == 0) throw Error(where(source, line) + "not UTF-8 text: this is not a lock file");
    if (cp == '\n') ++line;
    i += n;
  }
}

// A [conda] line's parts: prefix, name, "version=build", channel; nullopt
// when it is not "/<prefix> <name>=<version>=<build>[ <channel>]".
struct CondaLine {
  std::string_view prefix, name, version_build, channel;
};
std::optional<CondaLine> split_conda_line(std::string_view line) {
  std::vector<std::string_view> f;
  size_t i = 0;
  while (i < line.size()) {
    size_t j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    f.push_back(line.substr(i, j - i));
    i = j + 1;
  }
  if (f.size() < 2 || f.size() > 3 || f[0].empty() || f[0][0] != '/') return std::nullopt;
  for (auto part : f)
    for (char c : part)
      if (part.empty() || std::isspace(static_cast<unsigned char>(c))) return std::nullopt;
  if (f.size() == 3 && f[2].empty()) return std::nullopt;
  size_t eq1 = f[1].find('='), eq2 = eq1 == std::string_view::npos ? eq1 : f[1].find('=', eq1 + 1);
  if (eq1 == std::string_view::npos ||
      f[1].substr(0, eq1).find(':') != std::string_view::npos)  // "conda:<p>:<n>" stays unique
    return std::nullopt;
  if (eq1 == 0 || eq2 == std::string_view::npos || eq2 == eq1 + 1 || eq2 + 1 == f[1].size() ||
      f[1].find('=', eq2 + 1) != std::string_view::npos)
    return std::nullopt;
  return CondaLine{f[0], f[1].substr(0, eq1), f[1].substr(eq1 + 1),
                   f.size() == 3 ? f[2] : std::string_view{}};
}

}  // namespace

void check_fact_text(const std::string& what, std::string_view value) {
  std::string shown;
  bool bad = false;
  for (size_t i = 0; i < value.size();) {
    uint32_t cp;
    size_t n = value[i] == '\0' ? 0 : decode_utf8(value, i, &cp);
    if (n == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(value[i]));
      shown += hex;
      bad = true;
      ++i;
      continue;
    }
    shown.append(value.substr(i, n));
    i += n;
  }
  if (bad)
    throw Error(what + " '" + shown +
                "' is not UTF-8 text, and a lock records it as text (which must be UTF-8): " +
                "rename it with UTF-8 characters only");
}

std::map<std::string, std::string> node_versions(std::string_view npm_json) {
  std::map<std::string, std::string> out;
  bool blank = true;
  for (char c : npm_json)
    if (!std::isspace(static_cast<unsigned char>(c))) blank = false;
  if (blank) return out;
  nlohmann::json data = nlohmann::json::parse(npm_json, nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded() || !data.is_object()) return out;
  auto deps = data.find("dependencies");
  if (deps == data.end() || !deps->is_object()) return out;
  for (auto it = deps->begin(); it != deps->end(); ++it) {
    if (!it->is_object()) continue;
    auto v = it->find("version");
    if (v != it->end()) out[it.key()] = python_str(*v);
  }
  return out;
}

void sort_conda_lines(std::vector<std::string>& lines) {
  auto key = [](const std::string& l) {
    auto c = split_conda_line(l);
    return c ? std::make_tuple(std::string(c->prefix), std::string(c->name), l)
             : std::make_tuple(std::string(), std::string(), l);
  };
  std::stable_sort(lines.begin(), lines.end(),
                   [&](const std::string& a, const std::string& b) { return key(a) < key(b); });
}

std::map<std::string, std::string> PackageLock::version_set() const {
  std::map<std::string, std::string> merged;
  for (const auto& [name, ver] : pip) merged["pip:" + name] = ver;
  for (const auto& [name, ver] : dpkg) merged["dpkg:" + name] = ver;
  for (const auto& [name, ver] : node_versions(node)) merged["node:" + name] = ver;
  for (const auto& line : rpm) {  // sorted, so each name's versions come in order
    size_t eq = line.find('=');
    std::string& v = merged["rpm:" + line.substr(0, eq)];
    if (!v.empty()) v += ' ';
    v += eq == std::string::npos ? "" : line.substr(eq + 1);
  }
  for (const auto& line : conda)
    if (auto c = split_conda_line(line))
      merged["conda:" + std::string(c->prefix) + ":" + std::string(c->name)] =
          std::string(c->version_build) + (c->channel.empty() ? "" : " ") + std::string(c->channel);
  return merged;
}

PackageLock parse_lock(std::string_view text, const std::string& source) {
  check_text(text, source);
  PackageLock lock;
  std::string section;
  std::map<std::string, size_t> section_line;
  std::map<std::string, size_t> pip_line, dpkg_line, conda_line;
  std::string node_text;
  bool node_started = false;
  auto lines = py_splitlines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t lineno = i + 1;
    std::string_view line = lines[i];
    std::string_view stripped = py_strip(line);
    if (!stripped.empty() && stripped.front() == '#') {
      if (auto fact = parse_fact(stripped)) lock.facts[fact->first] = fact->second;
      continue;
    }
    if (auto name = header_name(stripped)) {
      if (!is_known_section(*name))
        throw Error(where(source, lineno) + "unknown section [" + std::string(*name) +
                    "]: a lock file has only [rpm], [conda], [pip], [dpkg] and [node]");
      std::string s(*name);
      if (is_own_section(s))
        for (const char* ref : {"pip", "dpkg", "node"})
          if (section_line.count(ref))
            throw Error(where(source, lineno) + "section [" + s + "] after [" + ref + "] (line " +
                        std::to_string(section_line[ref]) + "): [" + s +
                        "] goes before [pip], where the reference tool skips it (after [" + ref +
                        "] it would read its lines as " + ref + " packages)");
      if (auto seen = section_line.find(s); seen != section_line.end())
        throw Error(where(source, lineno) + "section [" + s + "] given twice (first at line " +
                    std::to_string(seen->second) + ")");
      section_line[s] = lineno;
      section = s;
      continue;
    }
    if (section.empty()) {
      if (stripped.empty()) continue;
      throw Error(where(source, lineno) + "'" + std::string(stripped.substr(0, 60)) +
                  "' before the first section: a lock file starts with comments and [pip], "
                  "[dpkg] or [node] (or [rpm], [conda] before them)");
    }
    if (section == "rpm") {
      if (stripped.empty()) continue;
      size_t eq = stripped.find('=');
      bool spaced = std::any_of(stripped.begin(), stripped.end(),
                                [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
      if (eq == std::string_view::npos || eq == 0 || eq + 1 == stripped.size() || spaced)
        throw Error(where(source, lineno) + "rpm line '" + std::string(stripped.substr(0, 60)) +
                    "' is not <name>=<epoch:version-release.arch> without white space");
      lock.rpm.emplace_back(stripped);
    } else if (section == "conda") {
      if (stripped.empty()) continue;
      auto c = split_conda_line(stripped);
      if (!c)
        throw Error(where(source, lineno) + "conda line '" + std::string(stripped.substr(0, 80)) +
                    "' is not '/<prefix> <name>=<version>=<build>' with an optional ' <channel>'");
      std::string key = std::string(c->prefix) + " " + std::string(c->name);
      if (auto seen = conda_line.find(key); seen != conda_line.end())
        throw Error(where(source, lineno) + "conda package '" + std::string(c->name) + "' of " +
                    std::string(c->prefix) + " given twice (first at line " +
                    std::to_string(seen->second) + ")");
      conda_line[key] = lineno;
      lock.conda.emplace_back(stripped);
    } else if (section == "pip") {
      if (stripped.empty()) continue;
      std::string name, version;
      size_t eq = stripped.find("==");
      if (eq != std::string_view::npos) {
        std::string_view raw_name = py_strip(stripped.substr(0, eq));
        if (raw_name.empty())
          throw Error(where(source, lineno) + "pip line '" + std::string(stripped) +
                      "' has no package name before '=='");
        if (!is_package_name(raw_name, "._-"))
          throw Error(where(source, lineno) + "pip package name '" + std::string(raw_name) +
                      "' is not a package name: expected ASCII letters, digits, '.', '_', '-'");
        name = ascii_lower(raw_name);
        version = std::string(py_strip(stripped.substr(eq + 2)));
      } else {
        name = std::string(stripped);  // editable / VCS / URL pin: kept whole
      }
      if (auto seen = pip_line.find(name); seen != pip_line.end())
        throw Error(where(source, lineno) + "pip package '" + name +
                    "' given twice (first at line " + std::to_string(seen->second) + ")");
      pip_line[name] = lineno;
      lock.pip[name] = version;
    } else if (section == "dpkg") {
      if (stripped.empty()) continue;
      size_t eq = stripped.find('=');
      if (eq == std::string_view::npos)
        throw Error(where(source, lineno) + "dpkg line '" + std::string(stripped.substr(0, 60)) +
                    "' has no '=': expected <package>=<version>");
      std::string name(py_strip(stripped.substr(0, eq)));
      if (name.empty())
        throw Error(where(source, lineno) + "dpkg line '" + std::string(stripped) +
                    "' has no package name before '='");
      if (!is_package_name(name, "+.-_:"))
        throw Error(where(source, lineno) + "dpkg package name '" + name +
                    "' is not a package name: expected ASCII letters, digits, '+', '.', '-'");
      if (auto seen = dpkg_line.find(name); seen != dpkg_line.end())
        throw Error(where(source, lineno) + "dpkg package '" + name +
                    "' given twice (first at line " + std::to_string(seen->second) + ")");
      dpkg_line[name] = lineno;
      lock.dpkg[name] = std::string(py_strip(stripped.substr(eq + 1)));
    } else {  // node: kept verbatim
      if (node_started) node_text += '\n';
      node_text.append(line);
      node_started = true;
    }
  }
  std::sort(lock.rpm.begin(), lock.rpm.end());
  sort_conda_lines(lock.conda);
  lock.node = std::string(py_strip(node_text));
  if (!lock.node.empty() && !nlohmann::json::accept(lock.node))
    throw Error(where(source, section_line["node"]) +
                "the [node] section is not JSON (expected the output of "
                "`npm list -g --depth=0 --json`)");
  return lock;
}

std::string format_lock(const PackageLock& lock) {
  auto bad = [](const std::string& what) { return Error("cannot write lock: " + what); };
  auto check_line = [&](const std::string& kind, const std::string& s) {
    if (has_line_boundary(s)) throw bad(kind + " '" + s + "' holds a line break");
    for (char c : s)
      if (c == '\0') throw bad(kind + " holds a NUL byte");
  };
  auto check_name = [&](const std::string& kind, const std::string& name) {
    check_line(kind, name);
    if (name.empty()) throw bad("empty " + kind);
    if (py_strip(name) != name) throw bad(kind + " '" + name + "' has surrounding white space");
    if (name.front() == '#' || header_name(name))
      throw bad(kind + " '" + name + "' reads as " + "a comment or a section");
  };
  auto check_version = [&](const std::string& kind, const std::string& version) {
    check_line(kind, version);
    if (py_strip(version) != version)
      throw bad(kind + " '" + version + "' has surrounding white space");
  };

  std::string out = "# scitex-container lock\n";
  for (const auto& [key, value] : lock.facts) {
    if (!is_fact_key(key)) throw bad("fact key '" + key + "' is not [a-z0-9-]+");
    check_version("fact " + key, value);
    check_fact_text("fact " + key, value);
    out += "# " + key + ": " + value + "\n";
  }
  if (!lock.rpm.empty()) {
    std::vector<std::string> rpm = lock.rpm;
    std::sort(rpm.begin(), rpm.end());
    out += "[rpm]\n";
    for (const auto& line : rpm) {
      check_line("rpm line", line);
      size_t eq = line.find('=');
      bool spaced = std::any_of(line.begin(), line.end(),
                                [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
      if (eq == std::string::npos || eq == 0 || eq + 1 == line.size() || spaced ||
          !py_strip(line).size() || line.front() == '#' || header_name(line))
        throw bad("rpm line '" + line + "' is not <name>=<epoch:version-release.arch>");
      out += line + "\n";
    }
  }
  if (!lock.conda.empty()) {
    std::vector<std::string> conda = lock.conda;
    sort_conda_lines(conda);
    out += "[conda]\n";
    std::map<std::string, int> seen;
    for (const auto& line : conda) {
      check_line("conda line", line);
      auto c = split_conda_line(line);
      if (!c) throw bad("conda line '" + line + "' is not '/<prefix> <name>=<version>=<build>'");
      if (seen[std::string(c->prefix) + " " + std::string(c->name)]++)
        throw bad("conda package '" + std::string(c->name) + "' of " + std::string(c->prefix) +
                  " given twice");
      out += line + "\n";
    }
  }
  out += "[pip]\n";
  for (const auto& [name, ver] : lock.pip) {
    check_name("pip name", name);
    check_version("pip version", ver);
    if (name.find("==") != std::string::npos) throw bad("pip name '" + name + "' holds '=='");
    if (!ver.empty()) {
      if (!is_ascii(name) || ascii_lower(name) != name)
        throw bad("pip name '" + name + "' is not lower-case ASCII");
      out += name + "==" + ver + "\n";
    } else {
      out += name + "\n";
    }
  }
  out += "[dpkg]\n";
  for (const auto& [name, ver] : lock.dpkg) {
    check_name("dpkg name", name);
    if (name.find('=') != std::string::npos) throw bad("dpkg name '" + name + "' holds '='");
    check_version("dpkg version", ver);
    out += name + "=" + ver + "\n";
  }
  out += "[node]\n";
  std::string_view node = py_strip(lock.node);
  if (!node.empty()) {
    for (char c : node)
      if (c == '\0') throw bad("node text holds a NUL byte");
    for (size_t i = 0; i < node.size();) {
      uint32_t cp;
      size_t n = decode_utf8(node, i, &cp);
      if (n == 0) throw bad("node text is not UTF-8");
      i += n;
    }
    if (!nlohmann::json::accept(node)) throw bad("node text is not JSON");
    for (auto line : py_splitlines(node)) {
      std::string_view s = py_strip(line);
      if ((!s.empty() && s.front() == '#') || header_name(s))
        throw bad("node text line '" + std::string(s) + "' reads as a comment or a section");
    }
  }
  out.append(node);
  out += "\n";
  return out;
}

PackageLock read_lock_file(const std::string& path) {
  return parse_lock(read_user_file(path, "lock file"), path);
}

void write_lock_file(const Dir& dir, const std::string& name, const PackageLock& lock) {
  dir.write_file_atomic(name, format_lock(lock));
}

std::string LockDiff::summary() const {
  if (identical()) return "version sets identical";
  std::string out;
  auto part = [&](const std::string& p) {
    if (!out.empty()) out += "; ";
    out += p;
  };
  if (!changed.empty()) {
    std::string sample;
    size_t n = 0;
    for (const auto& [name, ab] : changed) {
      if (n++ == 10) break;
      if (!sample.empty()) sample += ", ";
      sample += name + ": " + ab.first + " -> " + ab.second;
    }
    part(std::to_string(changed.size()) + " changed (" + sample + ")");
  }
  if (!only_in_a.empty()) part(std::to_string(only_in_a.size()) + " only in rough");
  if (!only_in_b.empty()) part(std::to_string(only_in_b.size()) + " only in rebuild");
  return out;
}

LockDiff compare_locks(const PackageLock& a, const PackageLock& b) {
  auto set_a = a.version_set();
  auto set_b = b.version_set();
  LockDiff d;
  for (const auto& [name, ver] : set_a) {
    auto it = set_b.find(name);
    if (it == set_b.end())
      d.only_in_a[name] = ver;
    else if (it->second != ver)
      d.changed[name] = {ver, it->second};
  }
  for (const auto& [name, ver] : set_b)
    if (!set_a.count(name)) d.only_in_b[name] = ver;
  return d;
}

}  // namespace sifstore
