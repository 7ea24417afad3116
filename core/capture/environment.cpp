#include "core/capture/environment.h"

#include <algorithm>
#include <cstring>

#include "core/capture/image_path.h"
#include "core/text.h"

namespace sifstore::capture {
namespace {

using FileType = SquashfsImage::FileType;

// Apptainer's PATH in a container before the image's environment scripts.
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

std::optional<std::string> eval_word(std::string_view s, const Vars& vars);

// The first character of s from i on that is outside quotes ('...', "...")
// and backslash escapes and at which stop(c, depth) holds, where depth
// counts the braces open before it; s.size() when there is none.
template <typename Stop>
size_t find_unquoted(std::string_view s, size_t i, Stop stop) {
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
    if (stop(c, depth)) return i;
    if (c == '"' || c == '\'')
      quote = c;
    else if (c == '\\')
      ++i;
    else if (c == '{')
      ++depth;
    else if (c == '}')
      depth = std::max(0, depth - 1);
  }
  return s.size();
}

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
  size_t j = find_unquoted(s, i + 2, [](char c, int depth) { return c == '}' && depth == 0; });
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
  return find_unquoted(s, i, [](char c, int depth) {
    return depth == 0 && (c == ' ' || c == '\t' || c == ';' || c == '&' || c == '|');
  });
}

// The first word of a line and its last word (without a trailing ';').
std::string_view first_word(std::string_view line) {
  size_t end = line.find_first_of(" \t;");
  return line.substr(0, end == std::string_view::npos ? line.size() : end);
}
std::string_view last_word(std::string_view line) {
  while (!line.empty() && (line.back() == ';' || line.back() == ' ' || line.back() == '\t'))
    line.remove_suffix(1);
  size_t start = line.find_last_of(" \t;");
  return start == std::string_view::npos ? line : line.substr(start + 1);
}

// How a line opens (+1) or closes (-1) a compound command: if/case/for/
// while/until ... fi/esac/done, and a function body's { ... }.
int block_change(std::string_view line) {
  std::string_view first = first_word(line), last = last_word(line);
  int change = 0;
  if (first == "if" || first == "case" || first == "for" || first == "while" || first == "until" ||
      (!line.empty() && line.back() == '{' && line.find("()") != line.npos))
    ++change;
  if (first == "fi" || first == "esac" || first == "done" || first == "}")
    --change;
  else if (change > 0 && (last == "fi" || last == "esac" || last == "done" || last == "}"))
    --change;  // a one-line `if ...; then ...; fi`
  return change;
}

// Applies the plain assignments of one environment script (`NAME=value`,
// `export NAME=value`) made outside any compound command: what an `if`,
// a loop, a `case` or a function does depends on the run, so it is not
// applied (Apptainer's own scripts change PATH only in `if`s on variables
// that `exec --cleanenv` leaves unset). Other shell is ignored.
void apply_env_script(std::string_view text, Vars& vars) {
  int depth = 0;
  for (std::string_view line : lines_of(text)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    int change = block_change(line);
    bool inside = depth > 0 || change > 0;
    depth = std::max(0, depth + change);
    if (inside) continue;
    if (starts_with(line, "export ") || starts_with(line, "export\t")) line = trim(line.substr(7));
    size_t k = 0;
    while (k < line.size() && name_char(line[k])) ++k;
    if (k == 0 || !name_start(line[0]) || k >= line.size() || line[k] != '=') continue;
    std::string name(line.substr(0, k));
    size_t end = word_end(line, k + 1);
    if (auto value = eval_word(line.substr(k + 1, end - k - 1), vars)) vars[name] = *value;
  }
}

}  // namespace

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
  for (auto& w : split(trim(lines[0].substr(2)), ' '))
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
      std::string_view l = trim(lines[i]);
      if (!starts_with(l, "'''exec' ")) continue;
      l = trim(l.substr(9));
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

}  // namespace sifstore::capture
