// Printing shared by every command: JSON documents and aligned tables.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/store.h"

namespace sifstore::tool {

// Pretty JSON (2-space indent) followed by a newline. Bytes that are not
// UTF-8 are printed as U+FFFD.
void print_json(std::ostream& out, const nlohmann::json& doc);

// Columns padded to the widest cell; the first row is the header.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// `list --json`: the builds as a JSON array of objects with exactly the keys
// of docs/DESIGN.md#pointers in the reference's order (ts, sif, lock, def, verified, keep,
// active), followed by a newline.
//
// The text is byte for byte what print_json prints for the same array built
// as an nlohmann::ordered_json (tests/cli/store_test.cpp compares them), but
// composed directly into a buffer written in blocks of 64 KiB: for 10,000
// builds, building the document and serialising it was most of the
// command's time. The library escapes the one string that can need it, the
// paths' common prefix.
void print_builds_json(std::ostream& out, const BuildListing& listing);

}  // namespace sifstore::tool
