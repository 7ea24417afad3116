// Lock files: the versions installed in one image (SPEC §5).
//
// The reference tool's format, read and written compatibly:
//
//   # scitex-container lock
//   # image-sha256: <hex>            extra facts: '#' comment lines, which
//   # def-sha256: <hex>              the reference ignores
//   [pip]
//   numpy==2.1.0                     name lower-cased; a line without '=='
//   [dpkg]                           (editable/VCS pin) is kept whole
//   libc6=2.36-9+deb12u4
//   [node]
//   {"dependencies": {...}}          verbatim `npm list -g --depth=0 --json`
//
// A lock written by either tool is read by the other into the same version
// set. Reading is strict where the reference is silent: an unknown section
// or a garbage line is an Error naming the file and line.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/fs.h"

namespace sifstore {

struct Lock {
  std::map<std::string, std::string> pip;   // lower-cased name -> version ("" when unpinned)
  std::map<std::string, std::string> dpkg;  // package -> version
  std::string node;                         // raw npm JSON text, "" when none
  // Facts kept in "# key: value" comment lines: "image-sha256", "def-sha256",
  // "builder", "builder-version", "base-image", "captured-by", ...
  std::map<std::string, std::string> facts;

  // Flat {"pip:<name>" | "dpkg:<name>" | "node:<name>" -> version}, the set
  // the round trip compares (node names flattened from the npm JSON).
  std::map<std::string, std::string> version_set() const;
};

// {name -> version} of the "dependencies" of `npm list -g --json` output;
// empty for empty or unparsable text (as the reference).
std::map<std::string, std::string> node_versions(std::string_view npm_json);

// Parses lock text; `source` (a path) names it in errors ("<source>:<line>: ...").
Lock parse_lock(std::string_view text, const std::string& source);
// Serialises a lock in the reference's layout, facts first as comments.
std::string format_lock(const Lock& lock);

// Reads a lock file by path (never through a FIFO). Throws Error.
Lock read_lock_file(const std::string& path);
// Writes a lock atomically (temporary name, fsync, rename) into dir.
void write_lock_file(const Dir& dir, const std::string& name, const Lock& lock);

// The comparison of two locks' version sets (the round-trip gate).
struct LockDiff {
  std::map<std::string, std::pair<std::string, std::string>> changed;  // name -> (a, b)
  std::map<std::string, std::string> only_in_a;
  std::map<std::string, std::string> only_in_b;

  bool identical() const { return changed.empty() && only_in_a.empty() && only_in_b.empty(); }
  // The reference's one-paragraph summary: "version sets identical", or
  // "N changed (name: a -> b, ... up to 10); N only in rough; N only in rebuild".
  std::string summary() const;
};

LockDiff compare_locks(const Lock& a, const Lock& b);

}  // namespace sifstore
