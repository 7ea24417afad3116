// Printing shared by every command: JSON documents and aligned tables.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "core/store.h"

namespace sifstore::tool {

// Pretty JSON (2-space indent) followed by a newline.
void print_json(std::ostream& out, const nlohmann::json& doc);

// A JSON array of n elements, each made by element(i) when it is printed:
// the same text print_json gives the whole array, without holding the whole
// document (a `list` of 10,000 builds) in memory at once.
void print_json_array(std::ostream& out, size_t n,
                      const std::function<nlohmann::json(size_t)>& element);

// Columns padded to the widest cell; the first row is the header.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// The `list --json` object of one build: exactly the keys of SPEC §2.
nlohmann::json build_json(const Build& b);

}  // namespace sifstore::tool
