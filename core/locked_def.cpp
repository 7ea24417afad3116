#include "core/locked_def.h"

#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "core/error.h"
#include "core/text.h"

namespace sifstore {
namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// The rough text with every localimage stage the options name pinned.
std::string pin_images(const DefFile& rough, const LockedDefOptions& options) {
  std::vector<FromPin> pins;
  if (options.base)
    pins.push_back(
        {&rough.require_base_stage("a base image was given (--base " + *options.base + ")"),
         *options.base});
  for (const auto& [index, image] : options.stage_images) {
    if (index >= rough.stages.size() || !rough.stages[index].from_local_image())
      throw Error(rough.path + ": stage " + std::to_string(index + 1) +
                  " does not say 'Bootstrap: localimage'; its image cannot be pinned");
    pins.push_back({&rough.stages[index], image});
  }
  return pins.empty() ? rough.text : pin_froms(rough, pins);
}

// --- the apt scan ------------------------------------------------------------------

struct Word {
  std::string text;
  bool op = false;      // a shell operator: && || ; | & ( ) < >
  bool quoted = false;  // had quotes or an expansion character in it
  bool expands = false;
};

// Splits one logical shell line into words and operators; stops at a '#'
// that starts a word.
std::vector<Word> shell_words(std::string_view line) {
  std::vector<Word> words;
  Word cur;
  bool in_word = false;
  auto flush = [&] {
    if (in_word) words.push_back(cur);
    cur = Word();
    in_word = false;
  };
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      flush();
    } else if (c == '#' && !in_word) {
      break;
    } else if (c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '<' || c == '>') {
      flush();
      Word op;
      op.op = true;
      op.text = c;
      if (i + 1 < line.size() && (line[i + 1] == c) && (c == '&' || c == '|')) op.text += line[++i];
      words.push_back(op);
    } else if (c == '\'' || c == '"') {
      in_word = true;
      cur.quoted = true;
      size_t close = line.find(c, i + 1);
      if (close == std::string_view::npos) close = line.size();
      std::string_view inner = line.substr(i + 1, close - i - 1);
      if (c == '"' && inner.find_first_of("$`") != std::string_view::npos) cur.expands = true;
      cur.text.append(inner);
      i = close;
    } else if (c == '\\' && i + 1 < line.size()) {
      in_word = true;
      cur.text += line[++i];
    } else {
      if (c == '$' || c == '`' || c == '*' || c == '?' || c == '[' || c == '{') cur.expands = true;
      in_word = true;
      cur.text += c;
    }
  }
  flush();
  return words;
}

bool is_assignment(const std::string& w) {
  size_t eq = w.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  for (size_t i = 0; i < eq; ++i) {
    char c = w[i];
    if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (i > 0 && c >= '0' && c <= '9')))
      return false;
  }
  return true;
}

std::string basename_of(const std::string& w) {
  size_t slash = w.rfind('/');
  return slash == std::string::npos ? w : w.substr(slash + 1);
}

// apt options that take the next word as their value.
bool option_takes_value(const std::string& w) {
  return w == "-o" || w == "-c" || w == "-t" || w == "-a" || w == "--option" ||
         w == "--config-file" || w == "--target-release" || w == "--default-release" ||
         w == "--host-architecture";
}

void scan_command(const std::vector<Word>& words, std::vector<std::string>& out,
                  std::set<std::string>& seen) {
  size_t i = 0;
  // Command prefixes: VAR=value, sudo [-E], env [VAR=value...].
  for (; i < words.size(); ++i) {
    const std::string& w = words[i].text;
    if (is_assignment(w) || w == "sudo" || w == "env" ||
        (i > 0 && w.size() > 1 && w[0] == '-' &&
         (words[i - 1].text == "sudo" || words[i - 1].text == "env")))
      continue;
    break;
  }
  if (i >= words.size()) return;
  std::string prog = basename_of(words[i].text);
  if (prog != "apt-get" && prog != "apt") return;
  ++i;
  bool install = false;
  for (; i < words.size(); ++i) {
    const Word& w = words[i];
    if (!w.text.empty() && w.text[0] == '-') {
      if (option_takes_value(w.text)) ++i;
      continue;
    }
    if (!install) {
      if (w.text != "install") return;
      install = true;
      continue;
    }
    if (w.expands || w.text.empty()) continue;
    const std::string& spec = w.text;
    // Pinned already, a file or release selection, or an apt pattern.
    if (spec.find_first_of("=/*?[]^$") != std::string::npos) continue;
    if (seen.insert(spec).second) out.push_back(spec);
  }
}

// A word is safe unquoted in sh when it has only these characters.
std::string sh_quote(const std::string& s) {
  bool safe = !s.empty();
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          std::string_view("+-.:=_~,/@%").find(c) != std::string_view::npos))
      safe = false;
  if (safe && s[0] != '~') return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool is_pep508_name(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

// The apt stanza. For a debootstrap stage every dpkg package of the lock is
// pinned (keeping apt's auto-installed marks); otherwise the packages the
// rough %post installs by name.
std::vector<std::string> apt_stanza(const DefFile& rough, const Lock& lock, bool all) {
  std::vector<std::string> pins;
  if (all) {
    for (const auto& [name, version] : lock.dpkg)
      if (!version.empty()) pins.push_back(name + "=" + version);
  }
  for (const auto& spec : all ? std::vector<std::string>() : apt_installed_packages(rough)) {
    std::string name = spec.substr(0, spec.find(':'));
    auto it = lock.dpkg.find(name);
    if (it == lock.dpkg.end() && !name.empty() && name.back() == '+') {
      // "pkg+" asks apt to install pkg, unless a package is named so (g++).
      name.pop_back();
      it = lock.dpkg.find(name);
      if (it != lock.dpkg.end()) {
        std::string arch = spec.find(':') == std::string::npos ? "" : spec.substr(spec.find(':'));
        pins.push_back(name + arch + "=" + it->second);
        continue;
      }
    }
    if (it == lock.dpkg.end() || it->second.empty()) continue;
    pins.push_back(spec + "=" + it->second);
  }
  std::vector<std::string> s = {
      "# --- sifstore: pinned apt versions (generated) ---------------------------",
      all ? "# Every dpkg package of the debootstrap image, at the version captured"
          : "# The packages the rough %post installs with apt, at the versions captured",
      "# from the rough build; --allow-downgrades forces a pin that would drift.",
      "%post",
      "    set -e",
  };
  if (pins.empty()) {
    s.push_back("    : # no apt-installed packages to pin");
  } else {
    s.push_back("    _sifstore_lists=\"\"");
    s.push_back("    if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then");
    s.push_back("        apt-get update");
    s.push_back("        _sifstore_lists=1");
    s.push_back("    fi");
    // Installing a package by name marks it manually installed: keep the marks.
    if (all) s.push_back("    _sifstore_auto=\"$(apt-mark showauto)\"");
    s.push_back(
        "    DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "
        "--no-install-recommends \\");
    for (size_t i = 0; i < pins.size(); ++i)
      s.push_back("        " + sh_quote(pins[i]) + (i + 1 < pins.size() ? " \\" : ""));
    if (all)
      s.push_back(
          "    if [ -n \"$_sifstore_auto\" ]; then apt-mark auto $_sifstore_auto >/dev/null; fi");
    s.push_back("    if [ -n \"$_sifstore_lists\" ]; then rm -rf /var/lib/apt/lists/*; fi");
  }
  s.push_back("# --- end sifstore apt pins -------------------------------------------------");
  return s;
}

std::vector<std::string> pip_stanza(const Lock& lock) {
  std::vector<std::string> pins;
  for (const auto& [name, ver] : lock.pip) {
    if (ver.empty()) continue;
    if (!is_pep508_name(name))
      throw Error("cannot pin pip package '" + name +
                  "': not a package name (ASCII letters, digits, '.', '_', '-')");
    if (ver.find_first_of(" \t\r\n\v\f") != std::string::npos)
      throw Error("cannot pin pip package '" + name + "': version '" + ver + "' holds white space");
    pins.push_back(name + "==" + ver);
  }
  std::vector<std::string> s = {
      "# --- sifstore: pinned pip versions (generated) ---------------------------",
      "# Every pip package at the version captured from the rough build: a no-op",
      "# when the resolver lands on these versions anyway, the pin when it would",
      "# drift. Rebuilding from this def reproduces the captured pip set.",
      "%post",
      "    set -e",
  };
  if (pins.empty()) {
    s.push_back("    : # no pip packages captured");
  } else {
    // A quoted heredoc holds any number of pins without shell quoting.
    s.push_back("    cat > /tmp/sifstore-pins.txt <<'SIFSTORE_PINS'");
    s.insert(s.end(), pins.begin(), pins.end());
    s.push_back("SIFSTORE_PINS");
    s.push_back("    _pip=\"$(command -v pip3 || command -v pip)\"");
    s.push_back("    _bsp=\"\"");
    s.push_back(
        "    if \"$_pip\" install --help 2>/dev/null | grep -q -- "
        "--break-system-packages; then");
    s.push_back("        _bsp=\"--break-system-packages\"");
    s.push_back("    fi");
    s.push_back("    \"$_pip\" install --no-deps $_bsp -r /tmp/sifstore-pins.txt");
    s.push_back("    rm -f /tmp/sifstore-pins.txt");
  }
  s.push_back("# --- end sifstore pip pins -------------------------------------------------");
  return s;
}

// Debian's moving suite names and the codename of each release, by the major
// version of base-files (the package that owns /etc/debian_version).
bool is_moving_suite(const std::string& s) {
  return s == "stable" || s == "oldstable" || s == "oldoldstable" || s == "testing";
}

std::optional<std::string> debian_codename(const Lock& lock) {
  auto it = lock.dpkg.find("base-files");
  if (it == lock.dpkg.end()) return std::nullopt;
  std::string v = it->second;
  if (size_t colon = v.find(':'); colon != std::string::npos) v = v.substr(colon + 1);
  size_t digits = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
  static const std::map<std::string, std::string> codenames = {
      {"9", "stretch"},   {"10", "buster"}, {"11", "bullseye"},
      {"12", "bookworm"}, {"13", "trixie"}, {"14", "forky"}};
  auto c = codenames.find(v.substr(0, digits));
  if (digits == 0 || c == codenames.end()) return std::nullopt;
  return c->second;
}

// text with the final stage's moving OSVersion (stable, testing, ...)
// replaced by the codename the lock's base-files names.
std::string pin_suite(const DefFile& def, const std::string& text, const Lock& lock) {
  const DefHeaderEntry* os = def.final_stage().find_header("osversion");
  if (!os || !is_moving_suite(os->value)) return text;
  auto codename = debian_codename(lock);
  if (!codename)
    throw Error(def.path + ":" + std::to_string(os->line) +
                ": cannot pin 'OSVersion: " + os->value +
                "': the lock names no Debian release (no base-files package with a known major "
                "version); write the release's codename (e.g. bookworm) instead");
  // The header lines moved only if pin_images inserted lines before them;
  // it touches localimage stages, never a debootstrap one, so find the line
  // by its text.
  std::vector<std::string> lines = split(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string l = lines[i];
    size_t colon = l.find(':');
    if (colon == std::string::npos) continue;
    std::string key = to_lower(l.substr(0, colon));
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key != "osversion" || i + 1 < os->line) continue;
    lines[i] = "OSVersion: " + *codename;
    lines.insert(lines.begin() + static_cast<long>(i),
                 "# sifstore: OSVersion pinned to the release built (rough def: " +
                     one_line(os->value) + ")");
    break;
  }
  return join(lines, "\n");
}

}  // namespace

std::vector<std::string> apt_installed_packages(const DefFile& def) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& sec : def.final_stage().sections) {
    if (sec.name != "post" && sec.name != "appinstall") continue;
    // Logical lines: a line ending in '\' continues on the next.
    std::vector<std::string> logical;
    std::string cur;
    bool continued = false;
    for (const auto& raw : split(sec.body, '\n')) {
      std::string line = raw;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      bool cont = !line.empty() && line.back() == '\\';
      if (cont) line.pop_back();
      cur += line;
      if (cont) {
        cur += ' ';
        continued = true;
        continue;
      }
      logical.push_back(cur);
      cur.clear();
      continued = false;
    }
    if (continued) logical.push_back(cur);
    for (const auto& line : logical) {
      auto words = shell_words(line);
      std::vector<Word> command;
      for (const auto& w : words) {
        if (w.op) {
          scan_command(command, out, seen);
          command.clear();
        } else {
          command.push_back(w);
        }
      }
      scan_command(command, out, seen);
    }
  }
  return out;
}

std::string locked_def_text(const DefFile& rough, const Lock& lock,
                            const LockedDefOptions& options) {
  std::string base = pin_images(rough, options);
  std::string agent = to_lower(rough.final_stage().bootstrap());
  bool debootstrap = agent == "debootstrap";
  if (debootstrap) base = pin_suite(rough, base, lock);
  while (!base.empty() && base.back() == '\n') base.pop_back();
  std::vector<std::string> stanza = {""};
  if (options.pin_apt || debootstrap) {
    auto apt = apt_stanza(rough, lock, debootstrap);
    stanza.insert(stanza.end(), apt.begin(), apt.end());
    stanza.push_back("");
  }
  auto pip = pip_stanza(lock);
  stanza.insert(stanza.end(), pip.begin(), pip.end());
  stanza.push_back("");
  return base + "\n" + join(stanza, "\n");
}

}  // namespace sifstore
