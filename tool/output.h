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
// of SPEC §2 in the reference's order (ts, sif, lock, def, verified, keep,
// active), followed by a newline.
//
// The text is byte for byte what print_json prints for the same array built
// as an nlohmann::ordered_json, but composed directly into a buffer that is
// written in blocks of 64 KiB: for
// 10,000 builds, building the document and serialising it was most of the
// command's time. Strings go through append_json_string, so escaping stays
// the library's.
void print_builds_json(std::ostream& out, const std::vector<Build>& builds);

// Appends s as a JSON string literal exactly as print_json writes it
// (nlohmann-json's escaping, invalid UTF-8 replaced by U+FFFD). Strings of
// printable ASCII without '"' and '\\', which need no escaping, are copied
// between quotes; any other goes through the library.
void append_json_string(std::string& out, std::string_view s);

}  // namespace sifstore::tool
