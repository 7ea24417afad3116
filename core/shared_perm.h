// Permissions for a store shared by a team: what `config.yaml`'s
// `store.shared` asks of every file and directory SifStore creates in the
// store, as git's `core.sharedRepository` does it (docs/DESIGN.md#shared):
//
//   umask  (default) modes as the creating process's umask leaves them;
//   group  also readable and writable by the group (a file its owner cannot
//          write stays unwritable), directories also searchable by the group
//          and setgid, so that what is made in them belongs to the store's
//          group: colleagues in the group build, prune, move pointers and
//          clear each other's holds, reservations and markers;
//   all    as group, and also readable (directories searchable) by everybody.
//
// Bits are only ever added, never taken away (git's `group`/`all` too): the
// umask's read bits for others stay. Keeping everybody else out is a
// matter of the store root's own mode (chmod 2770 ROOT). Only files and
// directories this process owns are changed: SifStore never chmods a
// colleague's file.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace sifstore {

enum class SharedMode { kUmask, kGroup, kAll };

// "umask", "group", "all"; nullopt for anything else.
std::optional<SharedMode> parse_shared_mode(std::string_view text);
const char* shared_mode_name(SharedMode mode);

// The mode a file or directory of `mode` (with its S_IFMT type bits) gets
// in a store shared as `shared`: git's calc_shared_perm and, for a
// directory, adjust_shared_perm (search bits follow read bits; setgid).
mode_t shared_mode_bits(SharedMode shared, mode_t mode);

// Gives the open file or directory fd the mode shared_mode_bits asks for,
// when it is this process's and lacks a bit of it; `path` names it in the
// Error thrown when fchmod fails.
void share_fd(int fd, SharedMode shared, const std::string& path);

}  // namespace sifstore
