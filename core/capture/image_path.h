// Paths inside an image, computed as text (the image is never mounted):
// what Python's os.path gives for the same absolute, '/'-separated paths.
#pragma once

#include <string>
#include <string_view>

namespace sifstore::capture {

// os.path.dirname / os.path.basename, trailing slashes ignored ("/a/b/" -> "/a", "b").
std::string dirname(std::string_view p);
std::string basename(std::string_view p);

// os.path.abspath(os.path.join(base, rel)) for paths inside the image.
std::string join_normalized(std::string_view base, std::string_view rel);

// The path of `to` relative to directory `from` (both canonical, absolute).
std::string relative_path(const std::string& from, const std::string& to);

}  // namespace sifstore::capture
