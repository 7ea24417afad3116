#include "core/capture/dpkg.h"

#include <algorithm>

#include "core/error.h"
#include "core/text.h"

namespace sifstore {
namespace {

struct DpkgRecord {
  std::string package, arch, status, version;
};

// The stanzas of a deb822 file (status or an update record), read as
// dpkg's parser reads them: field names case-insensitively; a line that
// starts with white space continues the field above it, even when it holds
// nothing else (dpkg warns "blank line in value of field" and reads on; the
// warning goes to `warnings`); only an empty line ends a record; values
// lose their trailing white space.
std::vector<DpkgRecord> parse_dpkg_stanzas(std::string_view text, const std::string& source,
                                           std::vector<std::string>* warnings) {
  std::vector<DpkgRecord> out;
  DpkgRecord cur;
  bool in_stanza = false, have_package = false, have_version = false;
  size_t stanza_line = 0, line_no = 0;
  std::string* last = nullptr;
  std::string last_field, ignored;
  auto finish = [&]() {
    if (!in_stanza) return;
    if (!have_package)
      throw Error(source + ":" + std::to_string(stanza_line) +
                  ": a package record without a Package field (dpkg would refuse it)");
    cur.package = std::string(trim(cur.package));
    cur.arch = std::string(trim(cur.arch));
    std::string status_word = "not-installed";
    auto words = split(trim(cur.status), ' ');
    words.erase(std::remove(words.begin(), words.end(), ""), words.end());
    if (words.size() == 3)
      status_word = words[2];
    else if (!cur.status.empty())
      throw Error(source + ":" + std::to_string(stanza_line) + ": package " + cur.package +
                  ": Status \"" + cur.status + "\" is not \"<want> <flag> <status>\"");
    cur.status = status_word;
    if (status_word != "not-installed") {
      std::string_view v = trim(cur.version);
      if (!have_version || v.empty())
        throw Error(source + ":" + std::to_string(stanza_line) + ": package " + cur.package +
                    " is " + status_word + " but has no Version field");
      if (std::any_of(v.begin(), v.end(), is_ascii_space))
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
    if (line.empty()) {
      finish();
      continue;
    }
    if (is_ascii_space(line[0])) {
      bool blank = trim(line).empty();
      if (!in_stanza)
        throw Error(source + ":" + std::to_string(line_no) +
                    (blank ? ": a line of only white space outside a record (dpkg would refuse "
                             "it: an empty line ends a record)"
                           : ": continuation line outside a record"));
      if (blank && warnings)
        warnings->push_back(source + ":" + std::to_string(line_no) + ": " +
                            (have_package ? "package " + cur.package + ": " : "") +
                            "blank line in value of field '" + last_field +
                            "' (read as part of the field, as dpkg does)");
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
    last_field = std::string(line.substr(0, colon));
    std::string field = to_lower(last_field);
    std::string value(trim(line.substr(colon + 1)));
    last = &ignored;
    if (field == "package") {
      cur.package = to_lower(value);
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
  v = trim(v);
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

}  // namespace

std::map<std::string, std::string> parse_dpkg_query(std::string_view text) {
  std::map<std::string, std::string> out;
  for (std::string_view line : lines_of(text)) {
    line = trim(line);
    size_t eq = line.find('=');
    if (line.empty() || eq == std::string_view::npos) continue;
    out[std::string(trim(line.substr(0, eq)))] = std::string(trim(line.substr(eq + 1)));
  }
  return out;
}

std::string dpkg_query_output(std::string_view status, const std::string& source,
                              const std::vector<std::pair<std::string, std::string>>& updates,
                              std::vector<std::string>* warnings) {
  std::map<std::pair<std::string, std::string>, DpkgRecord> db;
  for (auto& r : parse_dpkg_stanzas(status, source, warnings))
    db[{r.package, r.arch}] = std::move(r);
  for (const auto& [name, text] : updates)
    for (auto& r : parse_dpkg_stanzas(text, name, warnings)) db[{r.package, r.arch}] = std::move(r);
  std::string out;
  for (const auto& [key, r] : db) {
    if (r.status == "not-installed") continue;
    out += r.package + "=" + dpkg_version_text(r.version) + "\n";
  }
  return out;
}

std::string static_dpkg_query(const SquashfsImage& fs, std::vector<std::string>* warnings) {
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
  return dpkg_query_output(*status, fs.sif_path() + ":" + admin + "/status", updates, warnings);
}

}  // namespace sifstore
