#include "core/locked_def.h"

#include <algorithm>
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

constexpr const char* kIncludeComment = "# sifstore: Include pinned to the locked rpm packages";

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

bool is_pep508_name(const std::string& n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

// --- the generated pins section ---------------------------------------------------

std::vector<std::string> pip_pins(const PackageLock& lock) {
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
  return pins;
}

bool is_dpkg_word(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          std::string_view("+-.:~_").find(c) != std::string_view::npos))
      return false;
  return true;
}

// name=version of every dpkg package of the lock that has a version.
std::vector<std::string> dpkg_pins(const PackageLock& lock) {
  std::vector<std::string> pins;
  for (const auto& [name, version] : lock.dpkg) {
    if (version.empty()) continue;
    if (!is_dpkg_word(name) || !is_dpkg_word(version))
      throw Error("cannot pin dpkg package '" + name + "' at '" + version +
                  "': not a Debian package name and version");
    pins.push_back(name + "=" + version);
  }
  return pins;
}

bool is_nevra_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("+-._~^:").find(c) != std::string_view::npos;
}

// name-[epoch:]version-release.arch of every rpm package of the lock that
// comes from a repository (a gpg-pubkey, arch "(none)", does not), as dnf
// reads a package spec.
std::vector<std::string> rpm_pins(const PackageLock& lock) {
  std::vector<std::string> pins;
  for (const auto& line : lock.rpm) {
    size_t eq = line.find('=');
    std::string name = line.substr(0, eq);
    std::string evra = eq == std::string::npos ? "" : line.substr(eq + 1);
    if (ends_with(evra, ".(none)")) continue;
    std::string spec = name + "-" + evra;
    if (name.empty() || evra.empty() || !std::all_of(spec.begin(), spec.end(), is_nevra_char))
      throw Error(
          "cannot pin rpm package '" + line +
          "': not a name=[epoch:]version-release.arch of letters, digits and + - . _ ~ ^ :");
    pins.push_back(spec);
  }
  return pins;
}

// The conda pins of each environment of the lock: prefix -> lines of its
// conda-meta/pinned ("name ==version=build").
std::map<std::string, std::vector<std::string>> conda_pins(const PackageLock& lock) {
  std::map<std::string, std::vector<std::string>> pins;
  for (const auto& line : lock.conda) {
    std::vector<std::string> f = split(line, ' ');
    std::vector<std::string> nvb = f.size() >= 2 ? split(f[1], '=') : std::vector<std::string>();
    bool ok = (f.size() == 2 || f.size() == 3) && f[0].size() > 1 && f[0][0] == '/' &&
              nvb.size() == 3 && !nvb[0].empty() && !nvb[1].empty() && !nvb[2].empty();
    for (const auto& w : f)
      for (char c : w)
        if (static_cast<unsigned char>(c) < 0x21 || c == '\'' || c == '"' || c == '$' || c == '`' ||
            c == '\\')
          ok = false;
    if (!ok)
      throw Error("cannot pin conda package '" + line +
                  "': not '/<prefix> <name>=<version>=<build>' without quotes or '$'");
    pins[f[0]].push_back(nvb[0] + " ==" + nvb[1] + "=" + nvb[2]);
  }
  return pins;
}

void rpm_section(const std::vector<std::string>& rpm, std::vector<std::string>& s) {
  s.push_back("    # dnf, yum and microdnf see only the locked rpm packages while this");
  s.push_back("    # script runs (includepkgs in [main] of their configuration, put back");
  s.push_back("    # at exit): what it installs, and their dependencies, come at the locked");
  s.push_back("    # name-[epoch:]version-release.arch.");
  s.push_back("    mkdir -p " + std::string(kPinsDir) + " || exit 1");
  s.push_back("    cat > " + std::string(kRpmPins) + " <<'SIFSTORE_PINS' || exit 1");
  s.insert(s.end(), rpm.begin(), rpm.end());
  s.push_back("SIFSTORE_PINS");
  s.push_back("    _sifstore_inc=\"\"");
  s.push_back("    while read -r _sifstore_p; do");
  s.push_back("        _sifstore_inc=\"$_sifstore_inc${_sifstore_inc:+,}$_sifstore_p\"");
  s.push_back("    done < " + std::string(kRpmPins));
  s.push_back("    _sifstore_rpm_restore() {");
  s.push_back("        for _sifstore_f in /etc/dnf/dnf.conf /etc/yum.conf; do");
  s.push_back("            if [ -f \"$_sifstore_f.sifstore-saved\" ]; then");
  s.push_back("                mv -f \"$_sifstore_f.sifstore-saved\" \"$_sifstore_f\"");
  s.push_back("            fi");
  s.push_back("        done");
  s.push_back("    }");
  s.push_back("    trap _sifstore_rpm_restore EXIT");
  s.push_back("    for _sifstore_f in /etc/dnf/dnf.conf /etc/yum.conf; do");
  s.push_back("        if [ ! -f \"$_sifstore_f\" ] || [ -L \"$_sifstore_f\" ]; then continue; fi");
  s.push_back("        cp -p \"$_sifstore_f\" \"$_sifstore_f.sifstore-saved\" || exit 1");
  s.push_back("        if grep -q '^\\[main\\]' \"$_sifstore_f\"; then");
  s.push_back(
      "            sed -i \"/^\\[main\\]/a includepkgs=$_sifstore_inc\" \"$_sifstore_f\" || exit "
      "1");
  s.push_back("        else");
  s.push_back(
      "            printf '[main]\\nincludepkgs=%s\\n' \"$_sifstore_inc\" | cat - "
      "\"$_sifstore_f.sifstore-saved\" \\");
  s.push_back("                > \"$_sifstore_f\" || exit 1");
  s.push_back("        fi");
  s.push_back("    done");
  s.push_back("    unset _sifstore_inc _sifstore_p _sifstore_f");
}

void conda_section(const std::map<std::string, std::vector<std::string>>& conda,
                   std::vector<std::string>& s) {
  s.push_back("    # conda (and mamba) hold each locked package of an environment that");
  s.push_back("    # exists now at its locked version and build (conda-meta/pinned).");
  for (const auto& [prefix, lines] : conda) {
    std::string meta = (prefix == "/" ? "" : prefix) + "/conda-meta";
    s.push_back("    if [ -d \"" + meta + "\" ]; then");
    s.push_back("        cat >> \"" + meta + "/pinned\" <<'SIFSTORE_PINS' || exit 1");
    s.insert(s.end(), lines.begin(), lines.end());
    s.push_back("SIFSTORE_PINS");
    s.push_back("    fi");
  }
}

std::vector<std::string> pins_section(const PackageLock& lock, bool apt, bool debootstrap) {
  std::vector<std::string> pip = pip_pins(lock);
  std::vector<std::string> rpm = rpm_pins(lock);
  auto conda = conda_pins(lock);
  std::vector<std::string> dpkg = apt || debootstrap ? dpkg_pins(lock) : std::vector<std::string>();
  std::vector<std::string> s = {
      "%post",
      std::string("    ") + kPinsMarker,
      "    # Runs before the definition's own %post (Apptainer joins every %post of a",
      "    # stage into one script, in order), so the pins hold whatever it does.",
      "    # Every pip, of any interpreter, resolves to the locked versions",
      "    # (PIP_CONSTRAINT), dependencies included; nothing is installed here.",
  };
  if (pip.empty()) {
    s.push_back("    # (the lock has no pip package)");
  } else {
    s.push_back("    mkdir -p " + std::string(kPinsDir) + " || exit 1");
    s.push_back("    cat > " + std::string(kPipConstraints) + " <<'SIFSTORE_PINS' || exit 1");
    s.insert(s.end(), pip.begin(), pip.end());
    s.push_back("SIFSTORE_PINS");
    s.push_back("    export PIP_CONSTRAINT=" + std::string(kPipConstraints));
  }
  if (apt || debootstrap) {
    s.push_back("    # apt prefers the locked version of every dpkg package of the lock");
    s.push_back("    # (Pin-Priority 1001: also when it is older than the candidate).");
    if (dpkg.empty()) {
      s.push_back("    # (the lock has no dpkg package)");
    } else {
      s.push_back("    mkdir -p " + std::string(kPinsDir) + " /etc/apt/preferences.d || exit 1");
      s.push_back("    cat > " + std::string(kDpkgPins) + " <<'SIFSTORE_PINS' || exit 1");
      s.insert(s.end(), dpkg.begin(), dpkg.end());
      s.push_back("SIFSTORE_PINS");
      s.push_back("    while IFS='=' read -r _sifstore_n _sifstore_v; do");
      s.push_back(
          "        printf 'Package: %s\\nPin: version %s\\nPin-Priority: 1001\\n\\n' "
          "\"$_sifstore_n\" \"$_sifstore_v\"");
      s.push_back("    done < " + std::string(kDpkgPins) + " > " + std::string(kAptPreferences) +
                  " || exit 1");
    }
    if (debootstrap && !dpkg.empty()) {
      // debootstrap installed the base set before any %post: bring the
      // packages whose version differs to the locked one (none when the
      // mirror has not moved), keeping apt's auto-installed marks.
      s.push_back("    # debootstrap installed the base set before this script: a package of it");
      s.push_back("    # at another version than the locked one is brought to it.");
      s.push_back("    _sifstore_drift=\"\"");
      s.push_back("    while IFS='=' read -r _sifstore_n _sifstore_v; do");
      s.push_back(
          "        _sifstore_c=\"$(dpkg-query -W -f='${Version}' \"$_sifstore_n\" 2>/dev/null "
          "|| :)\"");
      s.push_back(
          "        if [ -n \"$_sifstore_c\" ] && [ \"$_sifstore_c\" != \"$_sifstore_v\" ]; then");
      s.push_back("            _sifstore_drift=\"$_sifstore_drift $_sifstore_n=$_sifstore_v\"");
      s.push_back("        fi");
      s.push_back("    done < " + std::string(kDpkgPins));
      s.push_back("    if [ -n \"$_sifstore_drift\" ]; then");
      s.push_back("        _sifstore_lists=\"\"");
      s.push_back("        if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then");
      s.push_back("            apt-get update || exit 1");
      s.push_back("            _sifstore_lists=1");
      s.push_back("        fi");
      s.push_back("        _sifstore_auto=\"$(apt-mark showauto)\"");
      s.push_back(
          "        DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "
          "--no-install-recommends $_sifstore_drift || exit 1");
      s.push_back(
          "        if [ -n \"$_sifstore_auto\" ]; then apt-mark auto $_sifstore_auto >/dev/null; "
          "fi");
      s.push_back("        if [ -n \"$_sifstore_lists\" ]; then rm -rf /var/lib/apt/lists/*; fi");
      s.push_back("    fi");
      s.push_back("    unset _sifstore_drift _sifstore_c _sifstore_lists _sifstore_auto");
    }
    if (!dpkg.empty()) s.push_back("    unset _sifstore_n _sifstore_v");
  }
  if (!rpm.empty()) rpm_section(rpm, s);
  if (!conda.empty()) conda_section(conda, s);
  s.push_back("    # npm has no constraint for global packages: `npm install -g x` is not");
  s.push_back("    # pinned here (the round-trip verify reports a drift).");
  s.push_back(std::string("    ") + kPinsEnd);
  return s;
}

// Debian's moving suite names and the codename of each release, by the major
// version of base-files (the package that owns /etc/debian_version).
bool is_moving_suite(const std::string& s) {
  return s == "stable" || s == "oldstable" || s == "oldoldstable" || s == "testing";
}

std::optional<std::string> debian_codename(const PackageLock& lock) {
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
std::string pin_suite(const DefFile& def, const std::string& text, const PackageLock& lock) {
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

// text with the final `Bootstrap: yum` stage's Include: led by
// --setopt=includepkgs=<every locked rpm NEVRA>: Apptainer passes Include's
// words to the bootstrap's dnf as arguments, so the bootstrap, dependencies
// included, installs the locked packages. A pin written by an earlier lock
// (the option and the comment line before it) is replaced.
std::string pin_yum_include(const DefFile& def, const PackageLock& lock) {
  const DefStage& stage = def.final_stage();
  if (to_lower(stage.bootstrap()) != "yum") return def.text;
  std::vector<std::string> rpm = rpm_pins(lock);
  if (rpm.empty()) return def.text;
  std::vector<std::string> lines = split(def.text, '\n');
  std::string rough;
  size_t at = stage.line;  // insert after the Bootstrap line when there is no Include:
  size_t erase_from = 0, erase_to = 0;
  if (const DefHeaderEntry* inc = stage.find_header("include")) {
    std::string v = inc->value;
    for (char& c : v)
      if (is_ascii_space(c)) c = ' ';
    for (const auto& w : split(v, ' '))
      if (!w.empty() && !starts_with(w, kIncludePkgsOption))
        rough += (rough.empty() ? "" : " ") + w;
    erase_from = inc->line;
    erase_to = inc->end_line;
    at = inc->line - 1;
    if (at > 0 && starts_with(trim(lines[at - 1]), kIncludeComment)) {
      --at;
      erase_from = at + 1;
    }
  }
  if (erase_from)
    lines.erase(lines.begin() + static_cast<long>(erase_from - 1),
                lines.begin() + static_cast<long>(erase_to));
  std::string option = kIncludePkgsOption + join(rpm, ",");
  lines.insert(lines.begin() + static_cast<long>(at),
               {std::string(kIncludeComment) +
                    " (rough def: " + (rough.empty() ? std::string("none") : one_line(rough)) + ")",
                "Include: " + option + (rough.empty() ? "" : " " + rough)});
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

namespace {

// The generated pins section of a def locked before, if its final stage has
// one: a %post whose first line is the marker.
const DefSection* generated_pins(const DefFile& def) {
  for (const auto& sec : def.final_stage().sections) {
    if (sec.name != "post") continue;
    std::string_view body = sec.body;
    std::string_view first = trim(body.substr(0, body.find('\n')));
    if (first == kPinsMarker) return &sec;
  }
  return nullptr;
}

}  // namespace

std::string locked_def_text(const DefFile& rough, const PackageLock& lock,
                            const LockedDefOptions& options) {
  bool debootstrap = to_lower(rough.final_stage().bootstrap()) == "debootstrap";
  std::vector<std::string> lines = split(rough.text, '\n');
  // A def locked before: its generated section is replaced, not added to.
  if (const DefSection* old = generated_pins(rough))
    lines.erase(lines.begin() + static_cast<long>(old->line - 1),
                lines.begin() + static_cast<long>(old->end_line));
  // The pins go before the final stage's first %post, else at the end.
  auto section = pins_section(lock, options.pin_apt, debootstrap);
  DefFile stripped = parse_def(join(lines, "\n"), rough.path);
  const DefSection* first_post = nullptr;
  for (const auto& sec : stripped.final_stage().sections)
    if (sec.name == "post") {
      first_post = &sec;
      break;
    }
  if (first_post) {
    lines.insert(lines.begin() + static_cast<long>(first_post->line - 1), section.begin(),
                 section.end());
  } else {
    if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the text's last '\n'
    lines.insert(lines.end(), section.begin(), section.end());
    lines.push_back("");
  }
  DefFile pinned = parse_def(join(lines, "\n"), rough.path);
  if (to_lower(pinned.final_stage().bootstrap()) == "yum")
    pinned = parse_def(pin_yum_include(pinned, lock), rough.path);
  std::string text = pin_images(pinned, options);
  if (debootstrap) text = pin_suite(pinned, text, lock);
  return text;
}

}  // namespace sifstore
