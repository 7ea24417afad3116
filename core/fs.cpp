#include "core/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>

#include "core/error.h"

namespace sifstore {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

std::atomic<unsigned> g_temp_counter{0};
// How many temporary names to try when the name is taken by a leftover.
constexpr int kTempAttempts = 100;

bool denied(int err) { return err == EACCES || err == EPERM; }

}  // namespace

Error access_error(const std::string& what, const std::string& path, const char* right, int err) {
  if (!denied(err)) return system_error(what, err);
  return Error(what + ": permission denied (needs " + right + " permission on " + path + ")");
}

Error Dir::entry_error(const std::string& what, int err) const {
  if (!denied(err)) return system_error(what, err);
  std::string why = what + ": permission denied (needs write permission on directory " + path_;
  // In a sticky directory (as /tmp) only a file's owner may remove or
  // replace it, whatever the directory's write bits.
  struct stat st;
  if (err == EPERM && ::fstat(fd_.get(), &st) == 0 && (st.st_mode & S_ISVTX))
    why += ", which is sticky: only a file's owner may remove or replace it";
  return Error(why + ")");
}

void write_all(int fd, std::string_view content, const std::string& what) {
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw system_error("cannot write " + what);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

std::string read_regular_file(int fd, const std::string& label, size_t max_bytes) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw system_error("cannot stat " + label);
  if (!S_ISREG(st.st_mode)) throw Error(label + " is not a regular file");
  if (static_cast<size_t>(st.st_size) > max_bytes)
    throw Error(label + " is too large (" + std::to_string(st.st_size) + " bytes; at most " +
                std::to_string(max_bytes) + ")");
  std::string content(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  for (;;) {
    if (got == content.size()) content.resize(content.size() + 4096);
    ssize_t n = ::read(fd, content.data() + got, content.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw system_error("cannot read " + label);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got > max_bytes) throw Error(label + " is too large");
  }
  content.resize(got);
  return content;
}

std::string temp_name_for(const std::string& name) {
  return "." + name + ".tmp." + std::to_string(::getpid()) + "." +
         std::to_string(g_temp_counter.fetch_add(1));
}

Dir Dir::open(const std::string& path) {
  int fd = ::open(path.c_str(), kDirFlags);
  if (fd < 0) {
    if (errno == ENOENT) throw Error("directory not found: " + path);
    if (errno == ENOTDIR) throw Error("not a directory: " + path);
    throw access_error("cannot open directory " + path, path, "read", errno);
  }
  return Dir(Fd(fd), path);
}

Dir Dir::open_or_create(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error("cannot create directory " + path + ": " + ec.message());
  return open(path);
}

std::vector<std::string> Dir::missing(const std::string& path) {
  std::vector<std::string> out;
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  while (!p.empty() && p != p.root_path()) {
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0 || errno != ENOENT) break;
    out.push_back(p.string());
    if (p.filename().empty()) p = p.parent_path();  // "a/b/" -> "a/b"
    p = p.parent_path();
  }
  return out;
}

void Dir::remove_empty(const std::vector<std::string>& paths) noexcept {
  for (const auto& p : paths)
    if (::rmdir(p.c_str()) != 0) return;  // not empty (or gone): its parents are not either
}

std::optional<Dir> Dir::open_if_exists(const std::string& path) {
  int fd = ::open(path.c_str(), kDirFlags);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == ENOTDIR) throw Error("not a directory: " + path);
    throw access_error("cannot open directory " + path, path, "read", errno);
  }
  return Dir(Fd(fd), path);
}

std::string Dir::path_of(std::string_view name) const {
  std::string p = path_;
  if (!p.empty() && p.back() != '/') p += '/';
  p += name;
  return p;
}

std::optional<Dir> Dir::subdir(const std::string& name) const {
  int fd = ::openat(fd_.get(), name.c_str(), kDirFlags | O_NOFOLLOW);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return std::nullopt;
    if (err == ELOOP || (err == ENOTDIR && type_of(name) == S_IFLNK))
      throw Error(path_of(name) +
                  " is a symlink; SifStore never follows symlinks inside a store"
                  " (replace it with a real directory)");
    if (err == ENOTDIR) throw Error(path_of(name) + " is not a directory");
    throw access_error("cannot open directory " + path_of(name), path_of(name), "read", err);
  }
  return Dir(Fd(fd), path_of(name), shared_);
}

Dir Dir::subdir_or_create(const std::string& name) const {
  bool made = ::mkdirat(fd_.get(), name.c_str(), 0777) == 0;
  if (!made && errno != EEXIST)
    throw entry_error("cannot create directory " + path_of(name), errno);
  auto d = subdir(name);
  if (!d) throw Error("directory vanished while creating it: " + path_of(name));
  if (made) share_fd(d->fd(), shared_, d->path());
  return std::move(*d);
}

std::vector<DirEntry> Dir::scan() const {
  std::vector<DirEntry> out;
  scan([&](std::string_view name, unsigned char type) {
    out.push_back(DirEntry{std::string(name), type});
  });
  return out;
}

void Dir::scan(const std::function<void(std::string_view, unsigned char)>& visit) const {
  // fdopendir takes ownership of the descriptor it is given: hand it a dup
  // positioned at the start.
  int dupfd = ::openat(fd_.get(), ".", kDirFlags);
  if (dupfd < 0) throw system_error("cannot read directory " + path_);
  DIR* d = ::fdopendir(dupfd);
  if (!d) {
    int err = errno;
    ::close(dupfd);
    throw system_error("cannot read directory " + path_, err);
  }
  struct Closer {
    DIR* d;
    ~Closer() { ::closedir(d); }
  } closer{d};
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (!e) break;
    const char* n = e->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    visit(n, e->d_type);
  }
  if (errno != 0) throw system_error("cannot read directory " + path_);
}

std::optional<mode_t> Dir::type_of(const std::string& name) const {
  struct stat st;
  if (::fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw system_error("cannot stat " + path_of(name));
  }
  return st.st_mode & S_IFMT;
}

bool Dir::resolves(const std::string& name) const {
  struct stat st;
  if (::fstatat(fd_.get(), name.c_str(), &st, 0) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return false;
  throw system_error("cannot stat " + path_of(name));
}

std::optional<std::string> Dir::read_link(const std::string& name) const {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(fd_.get(), name.c_str(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == ENOENT || errno == EINVAL || errno == ENOTDIR) return std::nullopt;
      throw system_error("cannot read symlink " + path_of(name));
    }
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

std::optional<std::string> Dir::read_file(const std::string& name, size_t max_bytes) const {
  int fd = ::openat(fd_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == ELOOP) throw Error(path_of(name) + " is a symlink; refusing to read through it");
    throw access_error("cannot read " + path_of(name), path_of(name), "read", errno);
  }
  Fd owned(fd);
  return read_regular_file(fd, path_of(name), max_bytes);
}

std::string Dir::write_temp_for(const std::string& name, std::string_view content) const {
  std::string tmp = temp_name_for(name);
  int fd =
      ::openat(fd_.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  // The name may be taken by a temporary that a killed process with the same
  // pid (on another host sharing the store, or before a pid was reused) left:
  // take the next one.
  for (int attempt = 0; fd < 0 && errno == EEXIST && attempt < kTempAttempts; ++attempt) {
    tmp = temp_name_for(name);
    fd = ::openat(fd_.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0666);
  }
  if (fd < 0) throw entry_error("cannot write " + path_of(name), errno);
  try {
    Fd owned(fd);
    share_fd(fd, shared_, path_of(tmp));
    write_all(fd, content, path_of(tmp));
    if (::fsync(fd) != 0) throw system_error("cannot sync " + path_of(tmp));
  } catch (...) {
    ::unlinkat(fd_.get(), tmp.c_str(), 0);
    throw;
  }
  return tmp;
}

void Dir::write_file_atomic(const std::string& name, std::string_view content) const {
  std::string tmp = write_temp_for(name, content);
  if (::renameat(fd_.get(), tmp.c_str(), fd_.get(), name.c_str()) != 0) {
    int err = errno;
    ::unlinkat(fd_.get(), tmp.c_str(), 0);
    throw entry_error("cannot write " + path_of(name), err);
  }
  fsync();
}

Fd Dir::create_file(const std::string& name, int flags, mode_t mode,
                    const std::string& what) const {
  Fd fd(::openat(fd_.get(), name.c_str(), flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) {
    int err = errno;
    // An existing file this user may not open as asked, or a directory
    // where no new file may be made.
    bool there = false;
    try {
      there = denied(err) && exists(name);
    } catch (const Error&) {
    }
    if (there) throw access_error(what, path_of(name), "write", err);
    throw entry_error(what, err);
  }
  share_fd(fd.get(), shared_, path_of(name));
  return fd;
}

bool Dir::create_exclusive(const std::string& name, std::string_view content) const {
  std::string tmp = write_temp_for(name, content);
  int rc = ::linkat(fd_.get(), tmp.c_str(), fd_.get(), name.c_str(), 0);
  int link_errno = errno;
  ::unlinkat(fd_.get(), tmp.c_str(), 0);
  if (rc != 0) {
    if (link_errno == EEXIST) return false;
    throw entry_error("cannot create " + path_of(name), link_errno);
  }
  fsync();
  return true;
}

void Dir::symlink_atomic(const std::string& name, const std::string& target) const {
  std::string tmp = temp_name_for(name);
  int rc = ::symlinkat(target.c_str(), fd_.get(), tmp.c_str());
  for (int attempt = 0; rc != 0 && errno == EEXIST && attempt < kTempAttempts; ++attempt) {
    tmp = temp_name_for(name);  // taken by a leftover, as in write_file_atomic
    rc = ::symlinkat(target.c_str(), fd_.get(), tmp.c_str());
  }
  if (rc != 0) throw entry_error("cannot create symlink " + path_of(name), errno);
  if (::renameat(fd_.get(), tmp.c_str(), fd_.get(), name.c_str()) != 0) {
    int err = errno;
    ::unlinkat(fd_.get(), tmp.c_str(), 0);
    throw entry_error("cannot replace symlink " + path_of(name), err);
  }
  fsync();
}

void Dir::rename(const std::string& from, const std::string& to) const {
  // A regular file's content reaches the disk before its new name does: the
  // build chain publishes the image and log the builder wrote by renaming
  // them, shared as the store asks. Opened without following a symlink and
  // without blocking on a FIFO; anything but a regular file is renamed as it
  // is.
  int fd = ::openat(fd_.get(), from.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) {
    Fd owned(fd);
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
      if (::fsync(fd) != 0) throw system_error("cannot sync " + path_of(from));
      share_fd(fd, shared_, path_of(from));
    }
  }
  if (::renameat(fd_.get(), from.c_str(), fd_.get(), to.c_str()) != 0)
    throw entry_error("cannot rename " + path_of(from) + " to " + to, errno);
}

bool Dir::unlink(const std::string& name) const {
  if (::unlinkat(fd_.get(), name.c_str(), 0) == 0) return true;
  if (errno == ENOENT) return false;
  if (errno == EISDIR || errno == EPERM) {
    if (type_of(name) == S_IFDIR)
      throw Error(path_of(name) +
                  " is a directory where SifStore expects a file; remove it by hand");
  }
  throw entry_error("cannot remove " + path_of(name), errno);
}

bool Dir::rmdir(const std::string& name) const {
  if (::unlinkat(fd_.get(), name.c_str(), AT_REMOVEDIR) == 0) return true;
  if (errno == ENOENT || errno == ENOTEMPTY || errno == EEXIST) return false;
  throw entry_error("cannot remove directory " + path_of(name), errno);
}

void Dir::fsync() const {
  if (::fsync(fd_.get()) != 0 && errno != EINVAL)
    throw system_error("cannot sync directory " + path_);
}

}  // namespace sifstore
