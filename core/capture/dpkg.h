// Debian packages: what `dpkg-query -W -f='${Package}=${Version}\n'` prints
// in an image, and the reference's parser of that output.
//
// Every stanza of /var/lib/dpkg/status (with the pending records of
// /var/lib/dpkg/updates/ applied, as dpkg does) whose status is not
// "not-installed" -- config-files and half-installed packages included --
// named by the bare package name (multi-arch instances print the same
// name) and the version without a zero epoch.
//
// A status file dpkg would refuse (no Package, or an installed package
// without a valid Version) is an Error naming the line.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/squashfs.h"

namespace sifstore {

// dpkg-query's output for a status file's text (and pending update
// records, applied in order). `source` names the file in errors.
std::string dpkg_query_output(std::string_view status, const std::string& source,
                              const std::vector<std::pair<std::string, std::string>>& updates = {});

// The same for the image's dpkg database ("" when it has none).
std::string static_dpkg_query(const SquashfsImage& fs);

// The reference's parser of dpkg-query's output: package -> version.
std::map<std::string, std::string> parse_dpkg_query(std::string_view text);

}  // namespace sifstore
