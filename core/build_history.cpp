#include "core/build_history.h"

#include <algorithm>
#include <cctype>

#include "core/text.h"

namespace sifstore {
namespace {

// dpkg's order of one character of a non-digit part: '~' first, then the
// end of the part, then letters, then everything else.
int deb_order(int c) {
  if (c == '~') return -1;
  if (c == 0) return 0;
  if (std::isalpha(c)) return c;
  return c + 256;
}

int deb_part(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    int first_diff = 0;
    while ((i < a.size() && !std::isdigit(static_cast<unsigned char>(a[i]))) ||
           (j < b.size() && !std::isdigit(static_cast<unsigned char>(b[j])))) {
      int ac =
          i < a.size() && !std::isdigit(static_cast<unsigned char>(a[i])) ? deb_order(a[i]) : 0;
      int bc =
          j < b.size() && !std::isdigit(static_cast<unsigned char>(b[j])) ? deb_order(b[j]) : 0;
      if (ac != bc) return ac - bc;
      if (i < a.size() && !std::isdigit(static_cast<unsigned char>(a[i]))) ++i;
      if (j < b.size() && !std::isdigit(static_cast<unsigned char>(b[j]))) ++j;
    }
    while (i < a.size() && a[i] == '0') ++i;
    while (j < b.size() && b[j] == '0') ++j;
    while (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i])) && j < b.size() &&
           std::isdigit(static_cast<unsigned char>(b[j]))) {
      if (!first_diff) first_diff = a[i] - b[j];
      ++i;
      ++j;
    }
    if (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i]))) return 1;
    if (j < b.size() && std::isdigit(static_cast<unsigned char>(b[j]))) return -1;
    if (first_diff) return first_diff;
  }
  return 0;
}

struct DebVersion {
  long epoch = 0;
  std::string_view upstream, revision;
};

DebVersion split_deb(std::string_view v) {
  DebVersion d;
  size_t colon = v.find(':');
  if (colon != std::string_view::npos) {
    d.epoch = std::atol(std::string(v.substr(0, colon)).c_str());
    v.remove_prefix(colon + 1);
  }
  size_t dash = v.rfind('-');
  d.upstream = dash == std::string_view::npos ? v : v.substr(0, dash);
  d.revision = dash == std::string_view::npos ? std::string_view() : v.substr(dash + 1);
  return d;
}

// A Python or npm version: its release numbers and what follows them.
struct Release {
  std::vector<long> numbers;
  std::string rest;  // lower case, leading '.', '-', '_' removed
  int rank = 0;      // -1 pre-release, 0 release, 1 post-release / local
};

Release split_release(std::string_view v) {
  Release r;
  if (!v.empty() && (v[0] == 'v' || v[0] == 'V')) v.remove_prefix(1);
  size_t i = 0;
  while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
    long n = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
      n = n * 10 + (v[i++] - '0');
    r.numbers.push_back(n);
    if (i + 1 < v.size() && v[i] == '.' && std::isdigit(static_cast<unsigned char>(v[i + 1])))
      ++i;
    else
      break;
  }
  while (!r.numbers.empty() && r.numbers.back() == 0) r.numbers.pop_back();
  std::string rest = to_lower(v.substr(i));
  while (!rest.empty() && (rest[0] == '.' || rest[0] == '-' || rest[0] == '_')) rest.erase(0, 1);
  r.rest = rest;
  if (rest.empty())
    r.rank = 0;
  else if (starts_with(rest, "post") || rest[0] == '+' || starts_with(rest, "rev") ||
           (rest[0] == 'r' && !starts_with(rest, "rc")) ||
           std::isdigit(static_cast<unsigned char>(rest[0])))
    r.rank = 1;
  else
    r.rank = -1;  // a, b, c, rc, alpha, beta, pre, preview, dev, npm's -anything
  return r;
}

std::string_view ecosystem_of(const std::string& key, std::string& name) {
  size_t colon = key.find(':');
  name = key.substr(colon + 1);
  std::string_view prefix = std::string_view(key).substr(0, colon);
  if (prefix == "dpkg") return "deb";
  if (prefix == "pip") return "pypi";
  if (prefix == "node") return "npm";
  return prefix;
}

}  // namespace

int compare_deb_versions(std::string_view a, std::string_view b) {
  DebVersion x = split_deb(a), y = split_deb(b);
  if (x.epoch != y.epoch) return x.epoch < y.epoch ? -1 : 1;
  if (int c = deb_part(x.upstream, y.upstream)) return c;
  return deb_part(x.revision, y.revision);
}

int compare_release_versions(std::string_view a, std::string_view b) {
  Release x = split_release(a), y = split_release(b);
  if (x.numbers != y.numbers) return x.numbers < y.numbers ? -1 : 1;
  if (x.rank != y.rank) return x.rank < y.rank ? -1 : 1;
  // Same kind of suffix: dpkg's rules order "rc1" < "rc2", "b1" < "rc1".
  return deb_part(x.rest, y.rest);
}

const char* change_kind_name(PackageChange::Kind k) {
  switch (k) {
    case PackageChange::kAdded:
      return "added";
    case PackageChange::kRemoved:
      return "removed";
    case PackageChange::kUpgraded:
      return "upgraded";
    case PackageChange::kDowngraded:
      return "downgraded";
    case PackageChange::kChanged:
      break;
  }
  return "changed";
}

BuildChanges compare_builds(const PackageLock& before, const PackageLock& after) {
  LockDiff d = compare_locks(before, after);
  BuildChanges c;
  std::string name;
  for (const auto& [key, v] : d.only_in_a) {
    std::string eco(ecosystem_of(key, name));
    c.packages.push_back({PackageChange::kRemoved, eco, name, v, ""});
  }
  for (const auto& [key, v] : d.only_in_b) {
    std::string eco(ecosystem_of(key, name));
    c.packages.push_back({PackageChange::kAdded, eco, name, "", v});
  }
  for (const auto& [key, vs] : d.changed) {
    std::string eco(ecosystem_of(key, name));
    // rpm's order is close to dpkg's (segments of digits and letters, '~'
    // first); conda's to Python's.
    int cmp = eco == "deb" || eco == "rpm" ? compare_deb_versions(vs.first, vs.second)
                                           : compare_release_versions(vs.first, vs.second);
    auto kind = cmp < 0   ? PackageChange::kUpgraded
                : cmp > 0 ? PackageChange::kDowngraded
                          : PackageChange::kChanged;
    c.packages.push_back({kind, eco, name, vs.first, vs.second});
  }
  std::sort(c.packages.begin(), c.packages.end(), [](const auto& x, const auto& y) {
    return std::tie(x.ecosystem, x.name) < std::tie(y.ecosystem, y.name);
  });
  auto base_of = [](const PackageLock& l) {
    auto it = l.facts.find("base-image");
    return it == l.facts.end() ? std::string() : it->second;
  };
  if (base_of(before) != base_of(after)) c.base = std::make_pair(base_of(before), base_of(after));
  return c;
}

std::string line_diff(std::string_view a, std::string_view b, size_t context) {
  std::vector<std::string_view> x = lines_of(a), y = lines_of(b);
  const size_t n = x.size(), m = y.size();
  // Longest common subsequence table, from the ends.
  std::vector<std::vector<unsigned>> lcs(n + 1, std::vector<unsigned>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  struct Line {
    char mark;
    std::string_view text;
  };
  std::vector<Line> script;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] == y[j]) {
      script.push_back({' ', x[i++]});
      ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      script.push_back({'-', x[i++]});
    } else {
      script.push_back({'+', y[j++]});
    }
  }
  std::string out;
  size_t last_printed = 0;
  bool any = false;
  for (size_t k = 0; k < script.size(); ++k) {
    if (script[k].mark == ' ') continue;
    size_t from = k > context ? k - context : 0;
    if (any && from > last_printed) out += "@@\n";
    if (!any && from > 0) out += "@@\n";
    for (size_t p = std::max(from, last_printed); p < k; ++p)
      out += std::string(1, script[p].mark) + std::string(script[p].text) + "\n";
    size_t end = k;
    // This change and the changes within 2*context of it.
    while (end < script.size()) {
      if (script[end].mark != ' ') {
        out += std::string(1, script[end].mark) + std::string(script[end].text) + "\n";
        ++end;
        continue;
      }
      size_t next = end;
      while (next < script.size() && script[next].mark == ' ') ++next;
      if (next < script.size() && next - end <= 2 * context) {
        for (; end < next; ++end) out += " " + std::string(script[end].text) + "\n";
        continue;
      }
      break;
    }
    size_t stop = std::min(script.size(), end + context);
    for (; end < stop; ++end) out += " " + std::string(script[end].text) + "\n";
    last_printed = end;
    k = end - 1;
    any = true;
  }
  return out;
}

}  // namespace sifstore
