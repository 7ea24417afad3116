// Test helper: lays out store contents by hand, as another tool (or a user)
// would have left them.
#pragma once

#include <string>
#include <vector>

namespace sifstore::test {

// Creates <root>/<layer>/<layer>-<ts>.<ext> for each ext (e.g. "sif",
// "lock", "def", "keep", "verified", "unverified", "build.log").
void make_build(const std::string& root, const std::string& layer, const std::string& ts,
                const std::vector<std::string>& exts = {"sif", "lock", "def"});

// <root>/<layer>.sif -> target (any text).
void make_pointer(const std::string& root, const std::string& layer, const std::string& target);

// The target text of a symlink, "" when it is not one.
std::string link_target(const std::string& path);

}  // namespace sifstore::test
