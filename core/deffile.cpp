#include "core/deffile.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include "core/error.h"
#include "core/text.h"
#include "core/user_file.h"

namespace sifstore {
namespace {

namespace stdfs = std::filesystem;

constexpr const char* kSections[] = {"help",        "setup",       "files",    "labels",
                                     "environment", "pre",         "post",     "runscript",
                                     "test",        "startscript", "arguments"};
constexpr const char* kAppSections[] = {"appinstall", "applabels", "appfiles", "appenv",
                                        "apptest",    "apphelp",   "apprun",   "appstart"};
constexpr const char* kHeaderKeys[] = {
    "bootstrap",  "from",        "includecmd", "mirrorurl",  "updateurl",    "osversion", "include",
    "library",    "registry",    "namespace",  "stage",      "product",      "user",      "regcode",
    "productpgp", "registerurl", "modules",    "otherurl&n", "fingerprints", "confurl",   "setopt",
    "target",     "frontend",    "filename",   "buildargs"};

// Every bootstrap agent of Apptainer 1.1 to 1.5 (values are case-sensitive).
constexpr const char* kAgents[] = {
    "library", "oras",        "shub",    "docker",      "docker-archive", "docker-daemon",
    "oci",     "oci-archive", "busybox", "debootstrap", "arch",           "localimage",
    "yum",     "dnf",         "zypper",  "scratch",     "buildkit",       "dockerfile"};

template <size_t N>
bool one_of(std::string_view s, const char* const (&set)[N]) {
  for (const char* x : set)
    if (s == x) return true;
  return false;
}

std::string where(const std::string& path, size_t line) {
  return path + ":" + std::to_string(line) + ": ";
}

// --- Go's notion of white space (strings.TrimSpace, bufio.ScanWords) ---------

// Length of the Unicode white space character at s[i] (Go's unicode.IsSpace),
// 0 when there is none.
size_t space_len(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  if (c == 0xC2 && (at(1) == 0x85 || at(1) == 0xA0)) return 2;
  if (c == 0xE1 && at(1) == 0x9A && at(2) == 0x80) return 3;  // U+1680
  if (c == 0xE2 && at(1) == 0x80 &&
      ((at(2) >= 0x80 && at(2) <= 0x8A) || at(2) == 0xA8 || at(2) == 0xA9 || at(2) == 0xAF))
    return 3;                                                 // U+2000..200A, 2028, 2029, 202F
  if (c == 0xE2 && at(1) == 0x81 && at(2) == 0x9F) return 3;  // U+205F
  if (c == 0xE3 && at(1) == 0x80 && at(2) == 0x80) return 3;  // U+3000
  return 0;
}

std::string_view trim_space(std::string_view s) {
  size_t b = 0;
  while (b < s.size()) {
    size_t n = space_len(s, b);
    if (n == 0) break;
    b += n;
  }
  s.remove_prefix(b);
  // Trailing: scan forward, remembering where the last non-space run ended.
  size_t end = 0;
  for (size_t i = 0; i < s.size();) {
    size_t n = space_len(s, i);
    if (n == 0) {
      ++i;
      end = i;
    } else {
      i += n;
    }
  }
  return s.substr(0, end);
}

// The first word (bufio.ScanWords) and what follows it, trimmed.
std::pair<std::string_view, std::string_view> first_word(std::string_view line) {
  std::string_view t = trim_space(line);
  size_t i = 0;
  while (i < t.size() && space_len(t, i) == 0) ++i;
  return {t.substr(0, i), trim_space(t.substr(i))};
}

bool is_section_line(std::string_view line) {
  auto [word, rest] = first_word(line);
  return !word.empty() && word.front() == '%';
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && to_lower(s.substr(0, prefix.size())) == prefix;
}

bool valid_header_key(const std::string& key) {
  if (one_of(key, kHeaderKeys)) return true;
  // "otherurl1", "otherurl2", ...: trailing digits stand for "&n".
  size_t d = key.size();
  while (d > 0 && key[d - 1] >= '0' && key[d - 1] <= '9') --d;
  return d < key.size() && one_of(key.substr(0, d) + "&n", kHeaderKeys);
}

// --- the %files word splitter ---------------------------------------------------
//
// Apptainer splits a %files line with the regular expression
//   ([^\s"']*{{\s*\w+\s*}}*[^\s{}"']*)+|([^\s"']+|"([^"]*)"|'([^']*))
// (Go RE2: leftmost-first, \s = [\t\n\f\r ], \w = [0-9A-Za-z_]) and takes
// every match in turn. This is that match, written out so that it runs in
// bounded time on any input.

bool re_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
bool re_word(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool plain_a(char c) { return !re_space(c) && c != '"' && c != '\''; }  // [^\s"']
bool plain_b(char c) { return plain_a(c) && c != '{' && c != '}'; }     // [^\s{}"']

constexpr size_t kNoMatch = std::string_view::npos;

// "{{ S* W+ S* }" at q, then "}*" and "[^\s{}"']*": the end, or kNoMatch.
size_t template_at(std::string_view s, size_t q) {
  if (q + 1 >= s.size() || s[q] != '{' || s[q + 1] != '{') return kNoMatch;
  size_t r = q + 2;
  while (r < s.size() && re_space(s[r])) ++r;
  size_t w = r;
  while (w < s.size() && re_word(s[w])) ++w;
  if (w == r) return kNoMatch;
  while (w < s.size() && re_space(s[w])) ++w;
  if (w >= s.size() || s[w] != '}') return kNoMatch;
  ++w;
  while (w < s.size() && s[w] == '}') ++w;
  while (w < s.size() && plain_b(s[w])) ++w;
  return w;
}

// One repetition of the first alternative at p: "[^\s"']*" as long as
// possible such that a template follows.
size_t template_word_at(std::string_view s, size_t p) {
  size_t run = p;
  while (run < s.size() && plain_a(s[run])) ++run;
  for (size_t q = run;; --q) {
    size_t e = template_at(s, q);
    if (e != kNoMatch) return e;
    if (q == p) return kNoMatch;
  }
}

size_t match_at(std::string_view s, size_t p) {
  size_t e = template_word_at(s, p);
  if (e != kNoMatch) {
    for (size_t next; (next = template_word_at(s, e)) != kNoMatch;) e = next;
    return e;
  }
  if (plain_a(s[p])) {
    while (p < s.size() && plain_a(s[p])) ++p;
    return p;
  }
  if (s[p] == '"') {
    size_t close = s.find('"', p + 1);
    return close == std::string_view::npos ? kNoMatch : close + 1;
  }
  if (s[p] == '\'') {
    size_t close = s.find('\'', p + 1);
    return close == std::string_view::npos ? s.size() : close;
  }
  return kNoMatch;
}

std::vector<std::string_view> files_words(std::string_view line, size_t max_words) {
  std::vector<std::string_view> words;
  for (size_t p = 0; p < line.size() && words.size() < max_words;) {
    size_t e = match_at(line, p);
    if (e == kNoMatch) {
      ++p;
      continue;
    }
    words.push_back(line.substr(p, e - p));
    p = e;
  }
  return words;
}

// src/dst of a %files line (already trimmed, not a comment); nullopt when
// no word matches (Apptainer would fail on it).
std::optional<std::pair<std::string, std::string>> split_files_line(std::string_view line) {
  auto words = files_words(line, 2);
  if (words.empty()) return std::nullopt;
  std::string src = std::string(trim(trim_space(words[0]), "\""));
  std::string dst = words.size() > 1 ? std::string(trim(trim_space(words[1]), "\"")) : "";
  return std::make_pair(src, dst);
}

// --- build-argument templates ------------------------------------------------------

struct Templated {
  std::string text;
  std::string undefined;  // the first undefined name, "" when none
};

// Replaces every "{{ name }}" in text (Go: {{\s*(\w+)\s*}}) by lookup(name);
// templates starting at `limit` or later are left as written.
template <typename Lookup>
Templated fill_templates(std::string_view text, Lookup lookup,
                         size_t limit = std::string_view::npos) {
  Templated out;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string_view::npos || open >= limit) break;
    size_t r = open + 2;
    while (r < text.size() && re_space(text[r])) ++r;
    size_t w = r;
    while (w < text.size() && re_word(text[w])) ++w;
    size_t t = w;
    while (t < text.size() && re_space(text[t])) ++t;
    if (w == r || t + 1 >= text.size() || text[t] != '}' || text[t + 1] != '}') {
      out.text.append(text.substr(i, open + 1 - i));
      i = open + 1;
      continue;
    }
    out.text.append(text.substr(i, open - i));
    std::string name(text.substr(r, w - r));
    if (auto v = lookup(name)) {
      out.text += *v;
    } else {
      if (out.undefined.empty()) out.undefined = name;
      out.text.append(text.substr(open, t + 2 - open));
    }
    i = t + 2;
  }
  out.text.append(text.substr(std::min(i, text.size())));
  return out;
}

// --- the shell word of a host source -------------------------------------------------
//
// Apptainer hands a %files source to a shell-word expander after escaping
// its spaces. Quotes and backslashes are undone here, unquoted glob
// characters make a pattern, and anything that needs a shell environment
// (parameters, command substitution, ~) leaves the source unresolved.

struct ShellWord {
  std::string literal;  // unquoted text
  std::string glob;     // glob(3) pattern: quoted special characters escaped
  bool pattern = false;
  std::string why;  // non-empty: cannot be resolved
};

bool glob_special(char c) { return c == '*' || c == '?' || c == '[' || c == '\\'; }

ShellWord shell_word(std::string_view src) {
  ShellWord w;
  auto lit = [&](char c) {
    w.literal += c;
    if (glob_special(c)) w.glob += '\\';
    w.glob += c;
  };
  for (size_t i = 0; i < src.size(); ++i) {
    char c = src[i];
    if (c == '\\') {
      if (i + 1 < src.size())
        lit(src[++i]);
      else
        lit('\\');
    } else if (c == '\'') {
      size_t close = src.find('\'', i + 1);
      if (close == std::string_view::npos) return w.why = "unclosed ' quote", w;
      for (size_t k = i + 1; k < close; ++k) lit(src[k]);
      i = close;
    } else if (c == '"') {
      size_t k = i + 1;
      for (; k < src.size() && src[k] != '"'; ++k) {
        char d = src[k];
        if (d == '$' || d == '`') return w.why = "needs shell expansion ($ or `)", w;
        if (d == '\\' && k + 1 < src.size() &&
            (src[k + 1] == '"' || src[k + 1] == '\\' || src[k + 1] == '$' || src[k + 1] == '`'))
          d = src[++k];
        lit(d);
      }
      if (k >= src.size()) return w.why = "unclosed \" quote", w;
      i = k;
    } else if (c == '$' || c == '`') {
      return w.why = "needs shell expansion ($ or `)", w;
    } else if (c == '~' && i == 0) {
      return w.why = "needs shell expansion (~)", w;
    } else if (c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || c == ')') {
      return w.why = std::string("holds shell syntax '") + c + "'", w;
    } else if (c == '*' || c == '?' || c == '[') {
      w.pattern = true;
      w.literal += c;
      w.glob += c;
    } else {
      lit(c);
    }
  }
  return w;
}

std::string glob_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (glob_special(c)) out += '\\';
    out += c;
  }
  return out;
}

// Lexically normal absolute path without a trailing '/' (except "/").
std::string normal_path(const std::string& p) {
  std::string n = stdfs::path(p).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

std::string absolute_dir_of(const std::string& path) {
  try {
    stdfs::path p = path.empty() ? stdfs::current_path() / "x" : stdfs::absolute(path);
    return normal_path(p.parent_path().string());
  } catch (const stdfs::filesystem_error& e) {
    throw Error("cannot resolve the directory of " + path + ": " + e.what());
  }
}

}  // namespace

bool DefSection::copies_from_host() const {
  // Apptainer: the arguments up to any '#' are exactly empty ("%files  "
  // copies nothing, neither from the host nor from a stage).
  std::string_view a = raw_args;
  return name == "files" && a.substr(0, a.find('#')).empty();
}

std::string DefSection::from_stage() const {
  if (name != "files") return "";
  std::string_view a = raw_args;
  a = a.substr(0, a.find('#'));
  std::vector<std::string_view> fields;
  while (true) {
    auto [w, rest] = first_word(a);
    if (w.empty()) break;
    fields.push_back(w);
    a = rest;
  }
  return fields.size() == 2 ? std::string(fields[1]) : "";
}

const DefHeaderEntry* DefStage::find_header(std::string_view key) const {
  for (auto it = header.rbegin(); it != header.rend(); ++it)
    if (it->key == key) return &*it;
  return nullptr;
}

std::string DefStage::header_value(std::string_view key) const {
  const DefHeaderEntry* e = find_header(key);
  return e ? e->value : "";
}

std::map<std::string, std::string> DefStage::argument_defaults() const {
  std::map<std::string, std::string> out;
  for (const auto& s : sections) {
    if (s.name != "arguments") continue;
    std::string_view body = s.body;
    while (!body.empty()) {
      size_t nl = body.find('\n');
      std::string_view line = trim_space(body.substr(0, nl));
      body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
      if (line.empty() || line.front() == '#') continue;
      size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = trim_space(line.substr(0, eq));
      if (key.empty()) continue;
      out[std::string(key)] = std::string(trim_space(line.substr(eq + 1)));
    }
  }
  return out;
}

bool DefStage::from_local_image() const { return to_lower(bootstrap()) == "localimage"; }

std::vector<const DefStage*> DefFile::local_image_stages() const {
  std::vector<const DefStage*> out;
  for (const auto& st : stages)
    if (st.from_local_image()) out.push_back(&st);
  return out;
}

const DefStage* DefFile::base_stage() const {
  if (final_stage().from_local_image()) return &final_stage();
  auto local = local_image_stages();
  return local.size() == 1 ? local.front() : nullptr;
}

const DefStage& DefFile::require_base_stage(const std::string& what) const {
  if (const DefStage* st = base_stage()) return *st;
  auto local = local_image_stages();
  if (local.empty())
    throw Error(path + ": " + what + ", but no stage says `Bootstrap: localimage` (the final " +
                "stage says `Bootstrap: " + final_stage().bootstrap() + "`)");
  throw Error(path + ": " + what + ", but the stages at lines " + std::to_string(local[0]->line) +
              " and " + std::to_string(local[1]->line) +
              " both bootstrap from a local image and the final stage does not; which one is "
              "the base is ambiguous");
}

std::string pin_froms(const DefFile& def, std::vector<FromPin> pins) {
  for (const auto& pin : pins) {
    const std::string& image = pin.image;
    if (image.empty() || image.find_first_of("#\n\r") != std::string::npos ||
        image.front() == ' ' || image.front() == '\t' || image.back() == ' ' ||
        image.back() == '\t' || image.back() == '\\')
      throw Error("cannot write base image path '" + image +
                  "' into a 'From:' header: it must not hold '#' or a line break, nor start or "
                  "end with white space or '\\'");
  }
  // Raw lines, split at '\n' (a final '\n' gives a final "").
  std::vector<std::string> lines = split(def.text, '\n');
  // From the last stage up, so that earlier line numbers stay valid.
  std::sort(pins.begin(), pins.end(),
            [](const FromPin& a, const FromPin& b) { return a.stage->line > b.stage->line; });
  for (const auto& pin : pins) {
    const DefStage& st = *pin.stage;
    std::string pinned = "From: " + pin.image;
    if (const DefHeaderEntry* from = st.find_header("from")) {
      std::string old = from->value;
      for (char& c : old)
        if (c == '\n' || c == '\r') c = ' ';
      std::vector<std::string> repl = {
          "# sifstore: From pinned to the exact base build (rough def: " + old + ")", pinned};
      lines.erase(lines.begin() + static_cast<long>(from->line - 1),
                  lines.begin() + static_cast<long>(from->end_line));
      lines.insert(lines.begin() + static_cast<long>(from->line - 1), repl.begin(), repl.end());
    } else {
      const DefHeaderEntry* boot = st.find_header("bootstrap");
      size_t after = boot ? boot->end_line : st.line;
      std::vector<std::string> repl = {"# sifstore: From added: the exact base build", pinned};
      lines.insert(lines.begin() + static_cast<long>(after), repl.begin(), repl.end());
    }
  }
  return join(lines, "\n");
}

DefFile parse_def(std::string_view text, const std::string& path) {
  DefFile def;
  def.path = path;
  def.dir = absolute_dir_of(path);
  def.text = std::string(text);
  // Apptainer reads bytes: a byte-order mark is part of the first line,
  // whose "Bootstrap:" it then does not see. Say so, since the mark is
  // invisible in the line an error would show.
  if (text.substr(0, 3) == "\xEF\xBB\xBF")
    throw Error(where(path, 1) +
                "the file starts with a UTF-8 byte-order mark (bytes EF BB BF), which Apptainer "
                "reads as part of its first line: save the file without a byte-order mark");

  // Lines as Go's bufio.ScanLines gives them: split at '\n', one trailing
  // '\r' dropped, no empty line after a final '\n'.
  std::vector<std::string_view> lines;
  for (size_t i = 0; i < text.size();) {
    size_t nl = text.find('\n', i);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(i, end - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\0') != std::string_view::npos)
      throw Error(where(path, lines.size() + 1) +
                  "NUL byte: this is binary data, not a definition file");
    lines.push_back(line);
    i = end + 1;
  }

  // Stages begin at lines that start with "Bootstrap:" (column 0, any
  // case), as Apptainer splits them. What comes before the first is a stage
  // of its own when it holds more than blank and comment lines (Apptainer
  // parses it too: " Bootstrap : docker" or an indented header is valid
  // there); it must then have a Bootstrap header like any stage.
  std::vector<size_t> starts;
  for (size_t i = 0; i < lines.size(); ++i)
    if (starts_with_ci(lines[i], "bootstrap:")) starts.push_back(i);
  size_t preamble_end = starts.empty() ? lines.size() : starts.front();
  for (size_t i = 0; i < preamble_end; ++i) {
    std::string_view t = trim_space(lines[i]);
    if (t.empty() || t.front() == '#') continue;
    starts.insert(starts.begin(), 0);
    break;
  }
  if (starts.empty())
    throw Error(where(path, 1) + "no 'Bootstrap:' header: this is an empty definition file");

  for (size_t k = 0; k < starts.size(); ++k) {
    DefStage stage;
    size_t begin = starts[k];
    size_t end = k + 1 < starts.size() ? starts[k + 1] : lines.size();
    stage.line = begin + 1;
    stage.end_line = end;

    // Header, as Apptainer's doHeader reads it: a value ending in '\'
    // continues on the next line while the value so far is not empty; a
    // blank or comment line right after such a line crashes Apptainer (an
    // error here); a continuation the header's end cuts off is dropped.
    size_t i = begin;
    std::string cont_key, cont_val;
    size_t cont_line = 0;
    for (; i < end && !is_section_line(lines[i]); ++i) {
      const size_t lineno = i + 1;
      std::string_view t = trim_space(lines[i]);
      if (t.empty() || t.front() == '#') {
        if (!cont_key.empty())
          throw Error(where(path, lineno) + "the header value of '" + cont_key + "' (line " +
                      std::to_string(cont_line) +
                      ") ends in '\\' but a blank or comment line follows; Apptainer cannot "
                      "read this header");
        continue;
      }
      std::string_view content = t.substr(0, t.find('#'));
      std::string key, val;
      size_t first_line = lineno;
      if (cont_val.empty()) {
        size_t colon = content.find(':');
        if (colon == std::string_view::npos)
          throw Error(where(path, lineno) + "header line '" + std::string(t.substr(0, 60)) +
                      "' has no ':' (expected 'Key: value' before the first %section)");
        key = to_lower(trim_space(content.substr(0, colon)));
        val = std::string(trim_space(content.substr(colon + 1)));
      } else {
        key = cont_key;
        val = cont_val + std::string(trim_space(content));
        first_line = cont_line;
      }
      cont_key.clear();
      cont_val.clear();
      if (!val.empty() && val.back() == '\\') {
        cont_key = key;
        cont_val = val.substr(0, val.size() - 1);
        cont_line = first_line;
        if (cont_val.size() >= 2 && cont_val.compare(cont_val.size() - 2, 2, "\\n") == 0)
          cont_val.replace(cont_val.size() - 2, 2, "\n");
        continue;
      }
      if (!valid_header_key(key))
        throw Error(where(path, first_line) + "unknown header keyword '" + key +
                    "' (Apptainer knows Bootstrap, From, Stage, IncludeCmd, MirrorURL, "
                    "OSVersion, Include, Library, Registry, Namespace, Fingerprints, ...)");
      stage.header.push_back({key, val, first_line, lineno});
    }
    const DefHeaderEntry* boot = stage.find_header("bootstrap");
    if (!boot) {
      size_t first = begin;
      while (first < end &&
             (trim_space(lines[first]).empty() || trim_space(lines[first]).front() == '#'))
        ++first;
      throw Error(where(path, first + 1) + "'" +
                  std::string(trim_space(lines[first]).substr(0, 60)) +
                  "' comes before any 'Bootstrap:' header: a definition file starts with its "
                  "header (Bootstrap: ..., From: ...)");
    }
    stage.line = boot->line;
    if (boot->value.empty())
      throw Error(where(path, boot->line) +
                  "'Bootstrap:' has no value (docker, localimage, library, debootstrap, ...)");
    if (!one_of(boot->value, kAgents))
      throw Error(where(path, boot->line) + "unknown bootstrap agent '" + boot->value +
                  "' (Apptainer knows docker, localimage, library, debootstrap, scratch, "
                  "busybox, oras, shub, oci, yum, zypper, arch, ...; in lower case)");

    // Sections.
    while (i < end) {
      DefSection sec;
      sec.line = i + 1;
      // As Apptainer: the '%'s trimmed, the name up to the first space (only
      // a space), the arguments everything after it, verbatim.
      std::string_view line = lines[i];
      auto [word, rest] = first_word(line);
      if (line.front() != '%')
        throw Error(where(path, sec.line) + "section line '" + std::string(trim_space(line)) +
                    "' is indented: Apptainer reads a section only with its '%' at the start "
                    "of the line");
      size_t name_at = line.find_first_not_of('%');  // npos: a line of only '%'s
      std::string_view named =
          name_at == std::string_view::npos ? std::string_view() : line.substr(name_at);
      std::string_view raw_name = named.substr(0, named.find(' '));
      sec.raw_args = raw_name.size() < named.size() ? std::string(named.substr(raw_name.size() + 1))
                                                    : std::string();
      sec.name = to_lower(raw_name);
      sec.args = std::string(rest);
      bool app = one_of(sec.name, kAppSections);
      if (raw_name.find_first_of("\t\v\f") != std::string_view::npos)
        throw Error(where(path, sec.line) + "section '" + std::string(word) +
                    "' is followed by a tab: Apptainer takes the name up to a space and "
                    "rejects '" +
                    std::string(raw_name) + "'");
      if (app && raw_name != sec.name)
        throw Error(where(path, sec.line) + "section '" + std::string(word) +
                    "': Apptainer knows app sections only in lower case");
      if (!app && !one_of(sec.name, kSections))
        throw Error(where(path, sec.line) + "unknown section '" + std::string(word) +
                    "' (Apptainer knows %help, %setup, %files, %labels, %environment, %pre, "
                    "%post, %runscript, %test, %startscript, %arguments and the %app* sections)");
      if (app && trim_space(sec.raw_args.substr(0, sec.raw_args.find(' '))).empty())
        throw Error(where(path, sec.line) + "section '" + std::string(word) +
                    "' needs an app name (%" + sec.name + " <app>)");
      size_t j = i + 1;
      for (; j < end && !is_section_line(lines[j]); ++j) {
        sec.body.append(lines[j]);
        sec.body += '\n';
        std::string_view t = trim_space(lines[j]);
        if (t.empty() || t.front() == '#') continue;
        if (sec.name == "files") {
          auto split = split_files_line(t);
          if (!split)
            throw Error(where(path, j + 1) + "%files line '" + std::string(t.substr(0, 60)) +
                        "' names no source (expected '<source> [<destination>]')");
          sec.files.push_back({split->first, split->second, std::string(t), j + 1});
        } else if (sec.name == "appfiles") {
          std::string_view c = trim_space(t.substr(0, t.find('#')));
          size_t sp = c.find(' ');
          std::string src(c.substr(0, sp));
          std::string dst = sp == std::string_view::npos ? src : std::string(c.substr(sp + 1));
          sec.files.push_back({src, dst, std::string(t), j + 1});
        }
      }
      sec.end_line = j;
      stage.sections.push_back(std::move(sec));
      i = j;
    }
    def.stages.push_back(std::move(stage));
  }
  // "%files from <stage>" needs the stage (Apptainer: "stage x was not found").
  for (const auto& stage : def.stages)
    for (const auto& sec : stage.sections) {
      std::string from = sec.from_stage();
      if (from.empty()) continue;
      bool found = false;
      for (const auto& other : def.stages) found = found || other.name() == from;
      if (!found)
        throw Error(where(path, sec.line) + "%files from stage '" + from +
                    "': no stage is named so (Stage: " + from + " in its header)");
    }
  return def;
}

DefFile read_def_file(const std::string& path) {
  return parse_def(read_user_file(path, "definition file"), path);
}

bool valid_build_arg_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), re_word);
}

RenderedDef render_build_args(const DefFile& def,
                              const std::map<std::string, std::string>& build_args,
                              const std::set<std::string>& kept) {
  for (const auto& [name, value] : build_args) {
    if (!valid_build_arg_name(name))
      throw Error("invalid build argument name '" + name +
                  "': a name is letters, digits and '_' (as in {{ name }})");
    if (value.find_first_of("\r\n") != std::string::npos)
      throw Error("build argument '" + name + "': its value holds a line break");
  }
  for (const auto& name : kept)
    if (!valid_build_arg_name(name))
      throw Error("invalid build argument name '" + name +
                  "': a name is letters, digits and '_' (as in {{ name }})");

  // The stage of each line, and the %arguments lines, which are dropped.
  std::vector<std::string_view> lines;
  for (std::string_view rest = def.text; !rest.empty();) {
    size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl == std::string_view::npos ? rest.size() : nl + 1));
    rest.remove_prefix(lines.back().size());
  }
  std::vector<const DefStage*> stage_of(lines.size() + 2, nullptr);
  std::vector<bool> dropped(lines.size() + 2, false);
  std::vector<std::map<std::string, std::string>> defaults;
  defaults.reserve(def.stages.size());
  for (const auto& stage : def.stages) {
    defaults.push_back(stage.argument_defaults());
    for (size_t n = stage.line; n <= stage.end_line && n < stage_of.size(); ++n)
      stage_of[n] = &stage;
    for (const auto& sec : stage.sections)
      if (sec.name == "arguments")
        for (size_t n = sec.line; n <= sec.end_line && n < dropped.size(); ++n) dropped[n] = true;
  }

  RenderedDef out;
  std::set<std::string> used;
  bool changed = false;
  for (size_t n = 1; n <= lines.size(); ++n) {
    std::string_view line = lines[n - 1];
    if (dropped[n]) {
      changed = true;
      continue;
    }
    if (line.find("{{") == std::string_view::npos || !stage_of[n]) {
      out.text.append(line);
      continue;
    }
    const auto& stage_defaults = defaults[stage_of[n] - def.stages.data()];
    std::string undefined;
    auto value_of = [&](const std::string& name) -> std::optional<std::string> {
      if (auto it = build_args.find(name); it != build_args.end()) return it->second;
      if (auto it = stage_defaults.find(name); it != stage_defaults.end()) return it->second;
      return std::nullopt;
    };
    auto lookup = [&](const std::string& name) -> std::optional<std::string> {
      used.insert(name);
      if (kept.count(name)) return std::nullopt;  // left for the builder
      auto v = value_of(name);
      if (!v) {
        if (undefined.empty()) undefined = name;
        return v;
      }
      // One level of nesting inside a value, as Apptainer allows.
      std::string value = fill_templates(*v, value_of).text;
      out.values[name] = value;
      return value;
    };
    // As Apptainer: a template after a comment ('#' and a character other
    // than '!') is left as written.
    size_t limit = std::string_view::npos;
    for (size_t i = 0; i + 1 < line.size(); ++i)
      if (line[i] == '#' && line[i + 1] != '!') {
        limit = i + 2;
        break;
      }
    auto filled = fill_templates(line, lookup, limit);
    if (!undefined.empty())
      throw Error(where(def.path, n) + "build argument '" + undefined +
                  "' is not defined: give it with --build-arg " + undefined +
                  "=VALUE or a default in %arguments");
    changed = changed || filled.text != line;
    out.text += filled.text;
  }
  std::vector<std::string> given;
  for (const auto& arg : build_args) given.push_back(arg.first);
  given.insert(given.end(), kept.begin(), kept.end());
  for (const auto& name : given)
    if (!used.count(name))
      throw Error(def.path + ": build argument '" + name +
                  "' is not used: the definition has no {{ " + name + " }} outside comments");
  if (!changed) out.text = def.text;
  return out;
}

std::vector<DefSource> def_sources(const DefFile& def,
                                   const std::map<std::string, std::string>& build_args) {
  std::vector<DefSource> out;
  for (const auto& stage : def.stages) {
    auto defaults = stage.argument_defaults();
    auto lookup = [&](const std::string& name) -> std::optional<std::string> {
      if (auto it = build_args.find(name); it != build_args.end()) return it->second;
      if (auto it = defaults.find(name); it != defaults.end()) return it->second;
      return std::nullopt;
    };
    for (const auto& sec : stage.sections) {
      bool host_files = sec.copies_from_host();
      if (!host_files && sec.name != "appfiles") continue;
      for (const auto& entry : sec.files) {
        DefSource s;
        s.src = entry.src;
        s.line = entry.line;
        std::string src = entry.src;
        if (host_files && entry.text.find("{{") != std::string::npos) {
          // Fill the whole line, then split it again, as Apptainer does.
          auto filled = fill_templates(entry.text, [&](const std::string& name) {
            auto v = lookup(name);
            if (!v) return v;
            // One level of nesting inside a value, as Apptainer allows.
            return std::optional<std::string>(
                fill_templates(*v, [&](const std::string& n) { return lookup(n); }).text);
          });
          if (!filled.undefined.empty()) {
            s.resolved = false;
            s.why = "build argument '" + filled.undefined +
                    "' is not defined (--build-arg or %arguments)";
            out.push_back(std::move(s));
            continue;
          }
          auto split = split_files_line(trim_space(filled.text));
          src = split ? split->first : "";
        }
        if (src.empty()) continue;  // Apptainer skips a source with no name
        ShellWord w;
        if (host_files) {
          w = shell_word(src);
        } else {
          w.literal = src;  // %appfiles: copied without a shell
          w.glob = glob_escape(src);
        }
        if (!w.why.empty()) {
          s.resolved = false;
          s.why = w.why;
          out.push_back(std::move(s));
          continue;
        }
        bool absolute = !w.literal.empty() && w.literal.front() == '/';
        s.path = normal_path(absolute ? w.literal : def.dir + "/" + w.literal);
        s.pattern = w.pattern;
        if (w.pattern) s.glob = absolute ? w.glob : glob_escape(def.dir) + "/" + w.glob;
        out.push_back(std::move(s));
      }
    }
  }
  return out;
}

std::vector<std::string> def_inputs(const DefFile& def,
                                    const std::map<std::string, std::string>& build_args) {
  std::set<std::string> inputs;
  auto add_tree = [&](const std::string& p) {
    inputs.insert(p);
    std::error_code ec;
    if (!stdfs::is_directory(p, ec)) return;
    auto opts = stdfs::directory_options::skip_permission_denied;
    for (auto it = stdfs::recursive_directory_iterator(p, opts, ec);
         !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec))
      inputs.insert(it->path().string());
  };
  for (const auto& s : def_sources(def, build_args)) {
    if (!s.resolved) continue;
    if (!s.pattern) {
      add_tree(s.path);
      continue;
    }
    // The directory the pattern searches: a file appearing there (or
    // vanishing) changes its mtime.
    std::string base = s.path;
    size_t special = base.find_first_of("*?[");
    base = special == std::string::npos ? base : base.substr(0, base.rfind('/', special));
    inputs.insert(base.empty() ? "/" : base);
    glob_t g{};
    if (::glob(s.glob.c_str(), 0, nullptr, &g) == 0)
      for (size_t k = 0; k < g.gl_pathc; ++k) add_tree(normal_path(g.gl_pathv[k]));
    ::globfree(&g);
  }
  return {inputs.begin(), inputs.end()};
}

namespace {

// Characters Ninja's depfile parser (1.10 and later) reads as plain text.
bool depfile_plain(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x80) return true;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("+,/_:.~()}{%=@[]!-").find(c) != std::string_view::npos;
}

std::string depfile_escape(const std::string& path) {
  auto bad = [&](const std::string& why) {
    return Error("cannot write '" + path + "' into a depfile: " + why);
  };
  if (path.empty()) throw bad("empty path");
  if (path.back() == ':') throw bad("it ends in ':'");
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (depfile_plain(c)) {
      out += c;
    } else if (c == ' ') {
      out += "\\ ";
    } else if (c == '#') {
      out += "\\#";
    } else if (c == '$') {
      out += "$$";
    } else if (c == '\\') {
      if (i + 1 >= path.size() || !depfile_plain(path[i + 1]) || path[i + 1] == ':')
        throw bad("a '\\' before a special character or at the end");
      out += c;
    } else {
      throw bad(c == '\n' ? "a line break"
                : c == '\t'
                    ? "a tab"
                    : std::string("the character '") + c + "', which Ninja cannot read there");
    }
  }
  return out;
}

}  // namespace

std::string depfile_text(const std::string& target, const std::vector<std::string>& deps,
                         std::vector<std::string>* skipped) {
  std::string out = depfile_escape(target) + ":";
  for (const auto& d : deps) {
    std::string escaped;
    try {
      escaped = depfile_escape(d);
    } catch (const Error&) {
      if (!skipped) throw;
      skipped->push_back(d);
      continue;
    }
    out += " \\\n  " + escaped;
  }
  out += "\n";
  return out;
}

void write_depfile(const std::string& path, const std::string& target,
                   const std::vector<std::string>& deps, std::vector<std::string>* skipped) {
  write_user_file(path, depfile_text(target, deps, skipped), "depfile");
}

}  // namespace sifstore
