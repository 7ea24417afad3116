#include "core/user_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.h"
#include "core/fs.h"

namespace sifstore {

std::string read_user_file(const std::string& path, const std::string& what, size_t max_bytes) {
  if (path.empty()) throw Error(what + ": empty path");
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw system_error("cannot read " + what + " " + path);
  Fd owned(fd);
  return read_regular_file(fd, what + " " + path, max_bytes);
}

}  // namespace sifstore
