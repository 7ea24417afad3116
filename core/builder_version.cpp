#include "core/builder_version.h"

#include <regex>

namespace sifstore {

std::optional<BuilderRelease> parse_builder_version(std::string_view first_line) {
  static const std::regex re(R"(^\s*([A-Za-z][A-Za-z0-9_-]*) version (\d+)\.(\d+)(?:\.(\d+))?)");
  std::cmatch m;
  std::string line(first_line);
  if (!std::regex_search(line.c_str(), m, re)) return std::nullopt;
  BuilderRelease r;
  r.product = m[1].str();
  try {
    r.major = std::stoi(m[2].str());
    r.minor = std::stoi(m[3].str());
    r.patch = m[4].matched ? std::stoi(m[4].str()) : 0;
  } catch (const std::exception&) {
    return std::nullopt;  // a number too large for an int
  }
  return r;
}

bool builder_has_build_args(std::string_view first_line) {
  auto r = parse_builder_version(first_line);
  if (!r) return true;
  if (r->product == "apptainer") return r->major > 1 || (r->major == 1 && r->minor >= 2);
  // SingularityCE 4.0 added build arguments; "singularity" 3.x (and the
  // Apptainer 1.0 compatibility name) had none.
  if (r->product == "singularity-ce" || r->product == "singularity") return r->major >= 4;
  return true;
}

}  // namespace sifstore
