#include "support/store_maker.h"

#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "support/temp_dir.h"

namespace sifstore::test {

void make_build(const std::string& root, const std::string& layer, const std::string& ts,
                const std::vector<std::string>& exts) {
  // A lock gets valid (empty) lock text, so commands that read locks accept it.
  for (const auto& ext : exts)
    write_file(root + "/" + layer + "/" + layer + "-" + ts + "." + ext,
               ext == "lock" ? "# scitex-container lock\n[pip]\n[dpkg]\n[node]\n\n"
                             : ext + " of " + ts + "\n");
}

void make_pointer(const std::string& root, const std::string& layer, const std::string& target) {
  std::filesystem::create_directories(root);
  std::string link = root + "/" + layer + ".sif";
  ::unlink(link.c_str());
  if (::symlink(target.c_str(), link.c_str()) != 0)
    throw std::runtime_error("cannot create symlink " + link);
}

std::string link_target(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

}  // namespace sifstore::test
