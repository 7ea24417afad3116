// PEP 440 versions, as Python's `packaging` library reads and prints them
// (pip freeze prints every version in this normal form).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sifstore {

// A version as packaging's Version prints it (PEP 440 normal form, e.g.
// "1.0-beta.2" -> "1.0b2", "v01.02" -> "1.2"), or nullopt when it is not a
// PEP 440 version.
std::optional<std::string> pep440_normalize(std::string_view version);

}  // namespace sifstore
