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
  struct stat st;
  if (::fstat(fd, &st) != 0) throw system_error("cannot stat " + what + " " + path);
  if (!S_ISREG(st.st_mode)) throw Error(what + " " + path + " is not a regular file");
  if (static_cast<size_t>(st.st_size) > max_bytes)
    throw Error(what + " " + path + " is too large (" + std::to_string(st.st_size) +
                " bytes; at most " + std::to_string(max_bytes) + ")");
  std::string content(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  for (;;) {
    if (got == content.size()) content.resize(content.size() + 4096);
    ssize_t n = ::read(fd, content.data() + got, content.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw system_error("cannot read " + what + " " + path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got > max_bytes) throw Error(what + " " + path + " is too large");
  }
  content.resize(got);
  return content;
}

}  // namespace sifstore
