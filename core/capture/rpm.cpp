#include "core/capture/rpm.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/capture/rpmdb_module.h"
#include "core/error.h"
#include "core/module.h"
#include "core/text.h"

namespace sifstore {

const char* const kRpmQueryFormat = "%{NAME}=%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}";

namespace {

constexpr const char* kDefaultDbPath = "/var/lib/rpm";
constexpr size_t kMaxDbFile = size_t{2} << 30;  // rpmdb.sqlite of a big image: ~100 MiB

// --- %_dbpath from the image's macro files -------------------------------------------------

bool is_macro_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The plain definitions "%name body" (and "%name(opts) body") of a macro
// file, a trailing backslash continuing the line; later ones win.
void read_macro_defs(std::string_view text, std::map<std::string, std::string>* defs) {
  std::string logical;
  auto finish = [&]() {
    std::string_view s = trim(logical);
    if (s.size() > 1 && s[0] == '%' && is_macro_char(s[1])) {
      size_t n = 1;
      while (n < s.size() && is_macro_char(s[n])) ++n;
      std::string name(s.substr(1, n - 1));
      std::string_view rest = s.substr(n);
      if (!rest.empty() && rest[0] == '(') {
        size_t close = rest.find(')');
        rest = close == std::string_view::npos ? std::string_view{} : rest.substr(close + 1);
      }
      (*defs)[name] = std::string(trim(rest));
    }
    logical.clear();
  };
  for (std::string_view line : lines_of(text)) {
    if (!line.empty() && line.back() == '\\') {
      logical.append(line.substr(0, line.size() - 1));
      logical += '\n';
      continue;
    }
    logical.append(line);
    finish();
  }
  finish();
}

// Expands the plain macro references of body (%name, %{name}, %{?name},
// %%); anything that would run code or is undefined is an Error.
std::string expand_macros(const std::string& body, const std::map<std::string, std::string>& defs,
                          const std::string& what, int depth = 0) {
  if (depth > 32) throw Error(what + ": macro expansion too deep (a recursive definition?)");
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '%' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    char next = body[i + 1];
    if (next == '%') {
      out += '%';
      ++i;
      continue;
    }
    std::string name;
    bool optional = false;
    if (next == '{') {
      size_t close = body.find('}', i + 2);
      if (close == std::string::npos) throw Error(what + ": unterminated %{ in '" + body + "'");
      name = body.substr(i + 2, close - i - 2);
      if (!name.empty() && name[0] == '?') optional = true, name.erase(0, 1);
      i = close;
    } else if (is_macro_char(next)) {
      size_t n = i + 1;
      while (n < body.size() && is_macro_char(body[n])) ++n;
      name = body.substr(i + 1, n - i - 1);
      i = n - 1;
    } else {
      throw Error(what + ": '" + body +
                  "' needs rpm to run code (%(...), %[...]): static capture does not run the "
                  "image's macros; use --method exec");
    }
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_macro_char))
      throw Error(what + ": '%{" + name + "}' in '" + body +
                  "' is not a plain macro: static capture does not run the image's macros; use "
                  "--method exec");
    auto it = defs.find(name);
    if (it == defs.end()) {
      if (optional) continue;
      throw Error(what + ": macro %" + name + " used in '" + body + "' is not defined");
    }
    out += expand_macros(it->second, defs, what, depth + 1);
  }
  return out;
}

// --- the image's database files --------------------------------------------------------

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// A private directory (mkdtemp, 0700) removed with everything in it.
class PrivateDir {
 public:
  PrivateDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sifstore-rpmdb-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw system_error("cannot make a temporary directory " + tmpl);
    path_ = tmpl;
  }
  ~PrivateDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

std::vector<std::string> parse_rpm_query(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view line : lines_of(text)) {
    std::string_view s = trim(line);
    if (!s.empty()) out.emplace_back(s);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string rpm_dbpath(const SquashfsImage& fs) {
  std::vector<std::string> files = {"/usr/lib/rpm/macros"};
  auto add_dir = [&](const std::string& dir, const std::string& prefix) {
    auto entries = fs.list_dir(dir);
    if (!entries) return;
    std::vector<std::string> names;
    for (const auto& e : *entries)
      if (starts_with(e.name, prefix)) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) files.push_back(dir + "/" + n);
  };
  add_dir("/usr/lib/rpm/macros.d", "macros.");
  files.push_back("/usr/lib/rpm/redhat/macros");
  add_dir("/etc/rpm", "macros.");
  files.push_back("/etc/rpm/macros");

  std::map<std::string, std::string> defs;
  std::string defined_in;
  for (const auto& f : files) {
    auto text = fs.read_file_if_regular(f, 16u << 20);
    if (!text) continue;
    std::map<std::string, std::string> mine;
    read_macro_defs(*text, &mine);
    if (mine.count("_dbpath")) defined_in = f;
    for (auto& [k, v] : mine) defs[k] = v;
  }
  auto it = defs.find("_dbpath");
  if (it == defs.end()) return kDefaultDbPath;
  std::string what = fs.sif_path() + ":" + defined_in + ": %_dbpath";
  std::string path(trim(expand_macros(it->second, defs, what)));
  if (path.empty() || path[0] != '/')
    throw Error(what + " is '" + path + "', not an absolute path inside the image");
  return path;
}

std::string rpm_query_db_dir(const std::string& dir, const std::string& source) {
  std::string backend;
  if (exists(dir + "/rpmdb.sqlite"))
    backend = "sqlite";
  else if (exists(dir + "/Packages.db"))
    backend = "ndb";
  else if (exists(dir + "/Packages"))
    backend = "bdb_ro";
  else
    return "";

  auto* query =
      module_function<RpmdbQueryFn>(kRpmdbModule, kRpmdbQuerySymbol, "reading an RPM database");
  RpmdbAnswer answer;
  query(dir, backend, kRpmQueryFormat, &answer);
  if (!answer.config_error.empty()) throw Error(answer.config_error + " on this machine");
  const std::string& format_error = answer.format_error;
  const bool opened = answer.opened;
  std::vector<std::string>& lines = answer.lines;

  if (!format_error.empty())
    throw Error(source + ": librpm could not format a package header: " + format_error);
  if (!answer.errors.empty() || !opened) {
    std::string why =
        answer.errors.empty() ? "librpm could not open it" : join(answer.errors, "; ");
    std::string hint = backend == "ndb" || backend == "bdb_ro"
                           ? " (a " + std::string(backend == "ndb" ? "NDB" : "Berkeley DB") +
                                 " database: this librpm reads the backends `rpm --showrc` "
                                 "lists as available)"
                           : "";
    throw Error(source + ": cannot read the RPM database: " + why + hint);
  }
  // librpm falls back to another backend, silently, when its build lacks the
  // one asked for (Debian's has no NDB), and bdb_ro reads nothing from some
  // damaged files: a Berkeley DB or NDB file holding data but no package is
  // not an empty database. (An SQLite file always holds its schema.)
  if (lines.empty() && backend != "sqlite") {
    struct stat st;
    std::string file = dir + (backend == "ndb" ? "/Packages.db" : "/Packages");
    if (::stat(file.c_str(), &st) == 0 && st.st_size > 0)
      throw Error(source + ": librpm read no package from this " +
                  (backend == "ndb" ? "NDB" : "Berkeley DB") +
                  " database: it is damaged or this librpm cannot read the format (`rpm "
                  "--showrc` lists its backends; Debian 12's: sqlite, bdb_ro)");
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string static_rpm_query(const SquashfsImage& fs) {
  std::string dbpath = rpm_dbpath(fs);
  auto entries = fs.list_dir(dbpath);
  if (!entries) return "";
  PrivateDir tmp;
  std::string source = fs.sif_path() + ":" + dbpath;
  for (const auto& e : *entries) {
    std::string inside = dbpath + "/" + e.name;
    if (fs.type_of(inside) != SquashfsImage::FileType::kRegular) continue;
    std::optional<std::string> data;
    try {
      data = fs.read_file(inside, kMaxDbFile);
    } catch (const Error& err) {
      throw Error(fs.sif_path() + ":" + inside +
                  ": cannot read the RPM database file: " + err.what());
    }
    if (!data) continue;
    std::string out = tmp.path() + "/" + e.name;
    FILE* f = std::fopen(out.c_str(), "wbx");
    if (!f) throw system_error("cannot write " + out);
    bool ok = std::fwrite(data->data(), 1, data->size(), f) == data->size();
    ok = std::fclose(f) == 0 && ok;
    if (!ok) throw system_error("cannot write " + out);
    if (e.name == "rpmdb.sqlite" || e.name == "Packages" || e.name == "Packages.db")
      source = fs.sif_path() + ":" + inside;
  }
  return rpm_query_db_dir(tmp.path(), source);
}

}  // namespace sifstore
