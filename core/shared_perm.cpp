#include "core/shared_perm.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace sifstore {

std::optional<SharedMode> parse_shared_mode(std::string_view text) {
  if (text == "umask") return SharedMode::kUmask;
  if (text == "group") return SharedMode::kGroup;
  if (text == "all") return SharedMode::kAll;
  return std::nullopt;
}

const char* shared_mode_name(SharedMode mode) {
  switch (mode) {
    case SharedMode::kUmask:
      return "umask";
    case SharedMode::kGroup:
      return "group";
    case SharedMode::kAll:
      return "all";
  }
  return "umask";
}

mode_t shared_mode_bits(SharedMode shared, mode_t mode) {
  if (shared == SharedMode::kUmask) return mode;
  mode_t tweak = shared == SharedMode::kAll ? 0664 : 0660;
  // A file its owner cannot write (a sealed image) is not made writable.
  if (!(mode & S_IWUSR)) tweak &= ~mode_t{0222};
  // Execute bits follow read bits where the owner may execute.
  if (mode & S_IXUSR) tweak |= (tweak & 0444) >> 2;
  mode_t out = mode | tweak;
  if (S_ISDIR(mode)) out |= ((out & 0444) >> 2) | S_ISGID;
  return out;
}

void share_fd(int fd, SharedMode shared, const std::string& path) {
  if (shared == SharedMode::kUmask) return;
  struct stat st;
  if (::fstat(fd, &st) != 0) throw system_error("cannot stat " + path);
  if (st.st_uid != ::geteuid() || S_ISLNK(st.st_mode)) return;
  mode_t want = shared_mode_bits(shared, st.st_mode);
  if ((want & 07777) == (st.st_mode & 07777)) return;
  if (::fchmod(fd, want & 07777) != 0)
    throw system_error(std::string("cannot give ") + path +
                       " the permissions store.shared: " + shared_mode_name(shared) + " asks for");
}

}  // namespace sifstore
