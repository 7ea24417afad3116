// RPM packages: what
//   rpm -qa --qf '%{NAME}=%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n'
// prints in an image, sorted (docs/DESIGN.md#capture-rpm).
//
// One line per installed header: a name installed in several versions (a
// kernel) or architectures (multilib) is several lines; the epoch appears
// only when the package has one; a header without an architecture (the
// gpg-pubkey entries `rpm --import` makes) prints "(none)", as rpm does.
// Lines are sorted bytewise (LC_ALL=C sort).
//
// Static capture never runs anything from the image and never parses RPM
// headers by hand: it finds the database directory -- the `%_dbpath` the
// image's macro files define (/usr/lib/rpm/macros, macros.d/macros.*,
// redhat/macros, /etc/rpm/macros.*, /etc/rpm/macros; later files win), else
// /var/lib/rpm -- copies that directory's regular files (rpmdb.sqlite with
// its -wal and -shm, or Packages for Berkeley DB, Packages.db for NDB) out
// of the squashfs into a private temporary directory (mkdtemp, 0700) and
// lets the host's librpm read them there, then removes the directory.
// A SQLite database left in WAL mode is read with its WAL, as rpm reads it.
// `%_dbpath` is expanded from the plain definitions in those files only; a
// definition needing a shell (`%(...)`), Lua or an undefined macro is an
// Error naming it: static capture does not run the image's macros.
//
// The backends are the host librpm's (Debian 12: sqlite and bdb_ro; no
// NDB): a database this librpm cannot read (a non-empty Berkeley DB or NDB
// file that yields no package), or one it reports errors on (a corrupt
// file), is an Error naming the file inside the image.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/squashfs.h"

namespace sifstore {

// The query format above (without the trailing "\n").
extern const char* const kRpmQueryFormat;

// The image's database directory as `%_dbpath` names it ("/var/lib/rpm"
// when no macro file defines it). Error when the definition cannot be
// expanded statically.
std::string rpm_dbpath(const SquashfsImage& fs);

// The sorted lines (each with "\n") librpm formats for the database in the
// directory `dir` on this machine; `source` names the database in errors.
// "" when the directory holds no database.
std::string rpm_query_db_dir(const std::string& dir, const std::string& source);

// The same for the image's database ("" when it has none).
std::string static_rpm_query(const SquashfsImage& fs);

// The lines of `rpm -qa --qf` output, stripped, blank lines dropped, sorted.
std::vector<std::string> parse_rpm_query(std::string_view text);

}  // namespace sifstore
