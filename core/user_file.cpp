#include "core/user_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iostream>

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

namespace {

// What a file of this type is, for the errors that refuse it.
std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file SifStore writes into";
}

Error refused(const std::string& label, mode_t mode) {
  return Error(label + " is " + kind_of(mode) +
               ": name a regular file, a character device, a FIFO or - (standard output)");
}

// Standard output, after what the C++ and C streams hold for it.
void write_stdout(std::string_view text, const std::string& label) {
  std::cout.flush();
  std::fflush(stdout);
  write_all(STDOUT_FILENO, text, label);
}

// Whether the open file fd is the one this process's standard output is.
bool is_stdout(const struct stat& st) {
  struct stat out;
  return ::fstat(STDOUT_FILENO, &out) == 0 && out.st_dev == st.st_dev && out.st_ino == st.st_ino;
}

// Writes text into the existing file at path, following a symlink: see
// write_user_file.
UserFileWritten write_into(const std::string& path, std::string_view text,
                           const std::string& label) {
  int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    struct stat st;
    bool found = ::stat(path.c_str(), &st) == 0;
    if (err == ENXIO && found && S_ISFIFO(st.st_mode))
      throw Error("cannot write " + label +
                  ": it is a FIFO with no reader: start the reader first");
    if (err == ENOENT && !found)
      throw Error("cannot write " + label +
                  ": it is a symlink to a missing file (SifStore creates no file through a "
                  "symlink: name the file itself)");
    if (found && (S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode)))
      throw refused(label, st.st_mode);
    throw system_error("cannot write " + label, err);
  }
  Fd owned(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) throw system_error("cannot write " + label);
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
    throw refused(label, st.st_mode);
  if (is_stdout(st)) {
    write_stdout(text, label);
    return UserFileWritten::kStandardOutput;
  }
  // Opened without blocking; written as the file is written by others.
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
    throw system_error("cannot write " + label);
  if (S_ISREG(st.st_mode) && ::ftruncate(fd, 0) != 0) throw system_error("cannot write " + label);
  write_all(fd, text, label);
  if (S_ISREG(st.st_mode) && ::fsync(fd) != 0) throw system_error("cannot sync " + label);
  return UserFileWritten::kWrittenInto;
}

}  // namespace

UserFileWritten write_user_file(const std::string& path, std::string_view text,
                                const std::string& what) {
  if (path.empty()) throw Error(what + ": empty path");
  const std::string label = what + " " + path;
  if (path == "-") {
    write_stdout(text, "standard output");
    return UserFileWritten::kStandardOutput;
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) throw system_error("cannot write " + label);
  } else if (!S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode))
      throw refused(label, st.st_mode);
    return write_into(path, text, label);
  }
  // A new or regular file: replaced atomically in its directory.
  std::filesystem::path p(path);
  if (!p.has_filename()) throw Error(label + ": not a file name");
  Dir::open(p.has_parent_path() ? p.parent_path().string() : ".")
      .write_file_atomic(p.filename().string(), text);
  return UserFileWritten::kReplaced;
}

}  // namespace sifstore
