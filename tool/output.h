// Printing shared by every command: JSON documents and aligned tables.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "core/store.h"

namespace sifstore::tool {

// Pretty JSON (2-space indent) followed by a newline.
void print_json(std::ostream& out, const nlohmann::json& doc);

// Columns padded to the widest cell; the first row is the header.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// The `list --json` object of one build: exactly the keys of SPEC §2.
nlohmann::json build_json(const Build& b);

}  // namespace sifstore::tool
