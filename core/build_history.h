// What changed between two builds (`sifstore log` and `sifstore diff`,
// docs/DESIGN.md#provenance).
//
// Two locks are compared package by package, per ecosystem (deb, pypi,
// npm): added, removed, upgraded, downgraded. Which of two versions is newer
// is decided by the ecosystem's rules: dpkg's (epoch, upstream, revision;
// '~' sorts before everything, letters before other characters), and for
// Python and npm the release numbers compared as numbers, a pre-release
// ("rc1", "b2", "-beta.1", ".dev0") before its release and a post-release
// or local/build part ("post1", "+local") after it. A base that changed
// (the lock's base-image fact) is reported too.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/lockfile.h"

namespace sifstore {

struct PackageChange {
  enum Kind { kAdded, kRemoved, kUpgraded, kDowngraded, kChanged };
  Kind kind;
  std::string ecosystem;  // "deb", "pypi", "npm"
  std::string name;
  std::string from, to;  // "" for added (from) and removed (to)
};

struct BuildChanges {
  std::vector<PackageChange> packages;                      // by ecosystem, then name
  std::optional<std::pair<std::string, std::string>> base;  // (before, after) when it changed
  bool empty() const { return packages.empty() && !base; }
};

BuildChanges compare_builds(const PackageLock& before, const PackageLock& after);

// <0, 0, >0 as a is older than, the same as or newer than b.
int compare_deb_versions(std::string_view a, std::string_view b);
int compare_release_versions(std::string_view a, std::string_view b);

const char* change_kind_name(PackageChange::Kind kind);  // "added", "upgraded", ...

// A unified-style line diff of two texts ("-" and "+" lines, with up to
// `context` unchanged lines around each change, "@@" between hunks); ""
// when they are equal.
std::string line_diff(std::string_view a, std::string_view b, size_t context = 3);

}  // namespace sifstore
