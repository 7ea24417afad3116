// Debian packages: what `dpkg-query -W -f='${Package}=${Version}\n'` prints
// in an image, and the reference's parser of that output
// (docs/DESIGN.md#capture-dpkg).
//
// Every stanza of /var/lib/dpkg/status (with the pending records of
// /var/lib/dpkg/updates/ applied, as dpkg does) whose status is not
// "not-installed" -- config-files and half-installed packages included --
// named by the bare package name (multi-arch instances print the same
// name) and the version without a zero epoch.
//
// The status file is read as dpkg reads it: field names case-insensitively;
// a line that starts with white space continues the field above it -- a
// line of only white space inside a record too (dpkg warns "blank line in
// value of field" and reads on; so do we, through `warnings`); only an
// empty line ends a record. A status file dpkg would refuse (no Package,
// an installed package without a valid Version, a continuation or a line
// of white space outside a record) is an Error naming the line.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/squashfs.h"

namespace sifstore {

// dpkg-query's output for a status file's text (and pending update
// records, applied in order). `source` names the file in errors and
// warnings; a warning (what dpkg-query warns about and reads anyway) is
// appended to `warnings` when it is given.
std::string dpkg_query_output(std::string_view status, const std::string& source,
                              const std::vector<std::pair<std::string, std::string>>& updates = {},
                              std::vector<std::string>* warnings = nullptr);

// The same for the image's dpkg database ("" when it has none).
std::string static_dpkg_query(const SquashfsImage& fs,
                              std::vector<std::string>* warnings = nullptr);

// The reference's parser of dpkg-query's output: package -> version.
std::map<std::string, std::string> parse_dpkg_query(std::string_view text);

}  // namespace sifstore
