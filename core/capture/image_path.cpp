#include "core/capture/image_path.h"

#include <algorithm>
#include <vector>

#include "core/text.h"

namespace sifstore::capture {

std::string dirname(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t slash = p.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(p.substr(0, slash));
}

std::string basename(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

// os.path.abspath(os.path.join(base, rel)) for paths inside the image.
std::string join_normalized(std::string_view base, std::string_view rel) {
  std::string joined =
      !rel.empty() && rel[0] == '/' ? std::string(rel) : std::string(base) + "/" + std::string(rel);
  std::vector<std::string> parts;
  for (auto& c : split(joined, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (auto& c : parts) out += "/" + c;
  return out.empty() ? "/" : out;
}

// The path of `to` relative to directory `from` (both canonical, absolute).
std::string relative_path(const std::string& from, const std::string& to) {
  auto a = split(from, '/'), b = split(to, '/');
  a.erase(std::remove(a.begin(), a.end(), ""), a.end());
  b.erase(std::remove(b.begin(), b.end(), ""), b.end());
  size_t common = 0;
  while (common < a.size() && common < b.size() && a[common] == b[common]) ++common;
  std::string out;
  for (size_t i = common; i < a.size(); ++i) out += out.empty() ? ".." : "/..";
  for (size_t i = common; i < b.size(); ++i) out += (out.empty() ? "" : "/") + b[i];
  return out.empty() ? "." : out;
}

}  // namespace sifstore::capture
