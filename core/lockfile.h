// Lock files: the versions installed in one image (docs/DESIGN.md#lock-format).
//
// The reference tool's format, read and written compatibly:
//
//   # scitex-container lock
//   # image-sha256: <hex>            extra facts: '#' comment lines, which
//   # def-sha256: <hex>              the reference ignores
//   [rpm]                            SifStore's own sections, before [pip]:
//   bash=5.1.8-9.el9.x86_64          `rpm -qa --qf` lines (core/capture/rpm.h)
//   [conda]                          <prefix> <name>=<version>=<build> [<channel>]
//   /opt/conda numpy=1.26.4=py311h64a7726_0 conda-forge    (core/capture/conda.h)
//   [pip]
//   numpy==2.1.0                     name lower-cased; a line without '=='
//   [dpkg]                           (editable/VCS pin) is kept whole
//   libc6=2.36-9+deb12u4
//   [node]
//   {"dependencies": {...}}          verbatim `npm list -g --depth=0 --json`
//
// A lock written by either tool is read by the other into the same version
// set: lines are split and stripped the way Python's str.splitlines() and
// str.strip() do (every Unicode line boundary and white space the reference
// honours), a line whose stripped text starts with '#' is a comment wherever
// it stands, and a lock without facts is written byte for byte as the
// reference writes it.
//
// Sections the reference does not know ([rpm], [conda]) stand before [pip]: the
// reference reads the lines of an unknown section as lines of the section
// before it, and before [pip] there is none, so it skips them and reads the
// same pip, dpkg and node sets as from the lock without them. They are
// written only when not empty (a lock without them is the reference's
// bytes), [rpm] then [conda]; one placed after [pip], [dpkg] or [node] is refused, since the
// reference would read its lines as packages of that section.
//
// Reading is strict where the reference is silent. Each of these is an Error
// "<source>:<line>: ..." telling what was expected:
//   - text that is not UTF-8 (the reference cannot decode it) or holds a NUL;
//   - a non-blank line before the first section;
//   - a section other than [rpm], [conda], [pip], [dpkg], [node], or one
//     given twice;
//   - [rpm] or [conda] after [pip], [dpkg] or [node];
//   - an [rpm] line that is not <name>=<evr>.<arch> without white space;
//   - a [conda] line that is not "/<prefix> <name>=<version>=<build>"
//     with an optional " <channel>", or a package given twice in a prefix;
//   - a [dpkg] line without '=', a pip or dpkg line with an empty name, a
//     name that is no package name (pip: PEP 508's ASCII letters, digits,
//     '.', '_', '-', so lower-casing is the same in every tool; dpkg:
//     letters, digits, '+', '.', '-', '_', ':'), a name given twice;
//   - a [node] section that is not JSON.
// Facts are comment lines of the form "# key: value" with a key of lower-case
// letters, digits and '-'; other comments are ignored, as the reference does.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/fs.h"

namespace sifstore {

// The content of a lock file: the package versions installed in one image,
// per ecosystem, and the `#` facts about the build. (Named PackageLock so it
// is never read as the layer lock, core/layer_lock.h, that serialises
// writers of a layer directory.)
struct PackageLock {
  std::map<std::string, std::string> pip;   // lower-cased name -> version ("" when unpinned)
  std::map<std::string, std::string> dpkg;  // package -> version
  std::string node;                         // raw npm JSON text, "" when none
  // `rpm -qa --qf` lines "name=[epoch:]version-release.arch", sorted; a
  // name installed twice (kernels) is two lines.
  std::vector<std::string> rpm;
  // conda lines "<prefix> <name>=<version>=<build>[ <channel>]", in
  // sort_conda_lines() order.
  std::vector<std::string> conda;
  // Facts kept in "# key: value" comment lines: "image-sha256", "def-sha256",
  // "builder", "builder-version", "base-image", "captured-by", ...
  std::map<std::string, std::string> facts;

  // Flat {"pip:<name>" | "dpkg:<name>" | "node:<name>" | "rpm:<name>" |
  // "conda:<prefix>:<name>" -> version}, the set the round trip compares
  // (conda: "<version>=<build>[ <channel>]"; node names flattened from the
  // npm JSON; the versions of an rpm name installed several times joined by
  // " ", in sorted order).
  std::map<std::string, std::string> version_set() const;

  bool operator==(const PackageLock& o) const {
    return pip == o.pip && dpkg == o.dpkg && node == o.node && rpm == o.rpm && conda == o.conda &&
           facts == o.facts;
  }
  bool operator!=(const PackageLock& o) const { return !(*this == o); }
};

// {name -> version} of the "dependencies" of `npm list -g --json` output;
// empty for empty or unparsable text (as the reference). A version that is
// not a JSON string is spelled as Python's str() spells it (1 -> "1",
// true -> "True", null -> "None").
std::map<std::string, std::string> node_versions(std::string_view npm_json);

// Sorts [conda] lines by prefix, then package name (as `conda list` orders
// an environment), then the rest.
void sort_conda_lines(std::vector<std::string>& lines);

// Parses lock text; `source` (a path) names it in errors ("<source>:<line>: ...").
PackageLock parse_lock(std::string_view text, const std::string& source);
// Serialises a lock in the reference's layout, facts first as comments
// (after the "# scitex-container lock" line, in key order). Throws Error when
// an entry could not be read back as written: a name or version holding a
// line break, a name with surrounding white space, a pip name holding "==",
// a dpkg name holding '=', a fact key outside [a-z0-9-] or a fact value with
// a line break, node text with a line that would read as a comment or a
// section.
std::string format_lock(const PackageLock& lock);

// A fact value must be text a lock can hold: UTF-8 (the reference cannot
// decode anything else, and parse_lock refuses it) without a NUL. Throws
// Error "<what> '<value>' is not UTF-8 text ..." otherwise, the value shown
// with each byte that is not UTF-8 written "\xNN". The build chain checks
// the paths it records (the definition, the base image) before it starts.
void check_fact_text(const std::string& what, std::string_view value);

// Reads a lock file by path (following a symlink the user named, never
// blocking on a FIFO). Throws Error naming the file.
PackageLock read_lock_file(const std::string& path);
// Writes a lock atomically (temporary name, fsync, rename) into dir.
void write_lock_file(const Dir& dir, const std::string& name, const PackageLock& lock);

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

LockDiff compare_locks(const PackageLock& a, const PackageLock& b);

}  // namespace sifstore
