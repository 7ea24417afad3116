#include "core/image_identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

#include "core/error.h"
#include "core/names.h"
#include "core/sha256.h"
#include "core/text.h"

namespace sifstore {
namespace {

constexpr std::string_view kHeader = "sifstore image identity 1";
constexpr std::string_view kHeaderWithCompanions = "sifstore image identity 2";

}  // namespace

ImageIdentity identity_from_stat(const struct stat& st) {
  ImageIdentity id;
  id.inode = st.st_ino;
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_sec = st.st_mtim.tv_sec;
  id.mtime_nsec = st.st_mtim.tv_nsec;
  id.ctime_sec = st.st_ctim.tv_sec;
  id.ctime_nsec = st.st_ctim.tv_nsec;
  return id;
}

namespace {

// A decimal number of at most 19 digits, nothing else.
bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

// "<sec>.<nsec>" with exactly nine digits of nanoseconds.
bool parse_time(std::string_view s, int64_t& sec, int64_t& nsec) {
  size_t dot = s.find('.');
  uint64_t a, b;
  if (dot == std::string_view::npos || s.size() - dot - 1 != 9) return false;
  if (!parse_u64(s.substr(0, dot), a) || !parse_u64(s.substr(dot + 1), b)) return false;
  if (a > static_cast<uint64_t>(INT64_MAX)) return false;
  sec = static_cast<int64_t>(a);
  nsec = static_cast<int64_t>(b);
  return true;
}

std::string time_text(int64_t sec, int64_t nsec) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%09lld", static_cast<long long>(sec),
                static_cast<long long>(nsec));
  return buf;
}

bool is_hex_digest(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool older(int64_t a_sec, int64_t a_nsec, int64_t b_sec, int64_t b_nsec) {
  return a_sec < b_sec || (a_sec == b_sec && a_nsec < b_nsec);
}

// Writes the record by a temporary and a rename, without fsync: it is a
// cache, and one lost or left empty by a crash only costs a full hash.
void write_record(const Dir& dir, const std::string& name, const std::string& text) {
  const std::string tmp = temp_name_for(name);
  Fd fd = dir.create_file(tmp, O_WRONLY | O_EXCL, 0644, "cannot write " + dir.path_of(name));
  try {
    write_all(fd.get(), text, dir.path_of(tmp));
  } catch (const Error&) {
    ::unlinkat(dir.fd(), tmp.c_str(), 0);
    throw;
  }
  fd = Fd();
  if (::renameat(dir.fd(), tmp.c_str(), dir.fd(), name.c_str()) != 0) {
    int err = errno;
    ::unlinkat(dir.fd(), tmp.c_str(), 0);
    throw system_error("cannot write " + dir.path_of(name), err);
  }
}

}  // namespace

bool operator==(const ImageIdentity& a, const ImageIdentity& b) {
  return a.inode == b.inode && a.size == b.size && a.mtime_sec == b.mtime_sec &&
         a.mtime_nsec == b.mtime_nsec && a.ctime_sec == b.ctime_sec && a.ctime_nsec == b.ctime_nsec;
}

std::optional<ImageIdentity> identity_of(const Dir& dir, const std::string& name) {
  struct stat st;
  if (::fstatat(dir.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  return identity_from_stat(st);
}

namespace {

bool parse_fields(std::string_view inode, std::string_view size, std::string_view mtime,
                  std::string_view ctime, ImageIdentity& id) {
  return parse_u64(inode, id.inode) && parse_u64(size, id.size) &&
         parse_time(mtime, id.mtime_sec, id.mtime_nsec) &&
         parse_time(ctime, id.ctime_sec, id.ctime_nsec) && id.mtime_nsec < 1000000000 &&
         id.ctime_nsec < 1000000000;
}

}  // namespace

std::string identity_fields_text(const ImageIdentity& id) {
  return std::to_string(id.inode) + " " + std::to_string(id.size) + " " +
         time_text(id.mtime_sec, id.mtime_nsec) + " " + time_text(id.ctime_sec, id.ctime_nsec);
}

std::optional<ImageIdentity> parse_identity_fields(std::string_view text) {
  std::vector<std::string> f = split(text, ' ');
  ImageIdentity id;
  if (f.size() != 4 || !parse_fields(f[0], f[1], f[2], f[3], id)) return std::nullopt;
  return id;
}

bool changed_before(const ImageIdentity& id, int64_t sec, int64_t nsec) {
  return older(id.ctime_sec, id.ctime_nsec, sec, nsec);
}

std::string format_identity_record(const IdentityRecord& r) {
  const ImageIdentity& id = r.identity;
  const bool companions = r.lock && r.def;
  std::string out(companions ? kHeaderWithCompanions : kHeader);
  out.append("\nsha256 ").append(r.sha256);
  out.append("\ninode ").append(std::to_string(id.inode));
  out.append("\nsize ").append(std::to_string(id.size));
  out.append("\nmtime ").append(time_text(id.mtime_sec, id.mtime_nsec));
  out.append("\nctime ").append(time_text(id.ctime_sec, id.ctime_nsec));
  if (companions) {
    out.append("\nlock ").append(identity_fields_text(*r.lock));
    out.append("\ndef ").append(identity_fields_text(*r.def));
  }
  out.append("\n");
  return out;
}

std::optional<IdentityRecord> parse_identity_record(std::string_view text) {
  const bool companions = starts_with(text, std::string(kHeaderWithCompanions) + "\n");
  std::vector<std::string_view> keys = {"sha256", "inode", "size", "mtime", "ctime"};
  if (companions) keys.insert(keys.end(), {"lock", "def"});
  auto values = keyed_record_values(text, companions ? kHeaderWithCompanions : kHeader, keys);
  if (!values) return std::nullopt;
  const auto& v = *values;
  IdentityRecord r;
  if (!is_hex_digest(v[0])) return std::nullopt;
  r.sha256 = v[0];
  if (!parse_fields(v[1], v[2], v[3], v[4], r.identity)) return std::nullopt;
  if (companions) {
    r.lock = parse_identity_fields(v[5]);
    r.def = parse_identity_fields(v[6]);
    if (!r.lock || !r.def) return std::nullopt;
  }
  return r;
}

namespace {

// The build's record and its file's mtime; nullopt when absent or garbled.
std::optional<std::pair<IdentityRecord, struct timespec>> read_record(const Dir& dir,
                                                                      std::string_view layer,
                                                                      std::string_view ts) {
  std::string name = identity_record_name(layer, ts);
  Fd fd(::openat(dir.fd(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return std::nullopt;
  struct stat rst;
  if (::fstat(fd.get(), &rst) != 0 || !S_ISREG(rst.st_mode)) return std::nullopt;
  auto record = parse_identity_record(read_regular_file(fd.get(), dir.path_of(name), 4096));
  if (!record) return std::nullopt;
  return std::make_pair(*record, rst.st_mtim);
}

// The file still has the recorded identity, and its last change predates
// the record (racy-clean guard).
bool still(const Dir& dir, const std::string& name, const ImageIdentity& recorded,
           const struct timespec& record_mtime) {
  auto now = identity_of(dir, name);
  return now && *now == recorded && changed_before(*now, record_mtime.tv_sec, record_mtime.tv_nsec);
}

}  // namespace

bool identity_vouches(const Dir& dir, std::string_view layer, std::string_view ts,
                      std::string_view sha256) {
  try {
    auto record = read_record(dir, layer, ts);
    if (!record || record->first.sha256 != sha256) return false;
    return still(dir, artifact_name(layer, ts, Artifact::kSif), record->first.identity,
                 record->second);
  } catch (const Error&) {
    return false;
  }
}

bool companions_vouched(const Dir& dir, std::string_view layer, std::string_view ts) {
  try {
    auto record = read_record(dir, layer, ts);
    if (!record || !record->first.lock || !record->first.def) return false;
    return still(dir, artifact_name(layer, ts, Artifact::kLock), *record->first.lock,
                 record->second) &&
           still(dir, artifact_name(layer, ts, Artifact::kDef), *record->first.def, record->second);
  } catch (const Error&) {
    return false;
  }
}

void vouch_companions(const Dir& dir, std::string_view layer, std::string_view ts,
                      const ImageIdentity& lock, const ImageIdentity& def) {
  try {
    auto record = read_record(dir, layer, ts);
    if (!record) return;
    auto image = identity_of(dir, artifact_name(layer, ts, Artifact::kSif));
    auto lock_now = identity_of(dir, artifact_name(layer, ts, Artifact::kLock));
    auto def_now = identity_of(dir, artifact_name(layer, ts, Artifact::kDef));
    if (!image || !(*image == record->first.identity) || !lock_now || !(*lock_now == lock) ||
        !def_now || !(*def_now == def))
      return;
    IdentityRecord r = record->first;
    r.lock = lock;
    r.def = def;
    write_record(dir, identity_record_name(layer, ts), format_identity_record(r));
  } catch (const Error&) {
    // A store this user cannot write: the next check hashes them again.
  }
}

void record_identity(const Dir& dir, std::string_view layer, std::string_view ts,
                     const ImageIdentity& hashed, std::string_view sha256, bool renamed,
                     bool companions) {
  std::string sif = artifact_name(layer, ts, Artifact::kSif);
  auto now = identity_of(dir, sif);
  if (!now) return;
  bool same = renamed
                  ? now->inode == hashed.inode && now->size == hashed.size &&
                        now->mtime_sec == hashed.mtime_sec && now->mtime_nsec == hashed.mtime_nsec
                  : *now == hashed;
  if (!same) return;
  std::string name = identity_record_name(layer, ts);
  try {
    IdentityRecord record{std::string(sha256), *now, std::nullopt, std::nullopt};
    if (companions) {
      record.lock = identity_of(dir, artifact_name(layer, ts, Artifact::kLock));
      record.def = identity_of(dir, artifact_name(layer, ts, Artifact::kDef));
    }
    write_record(dir, name, format_identity_record(record));
    auto vouched = [&] {
      return identity_vouches(dir, layer, ts, sha256) &&
             (!record.lock || !record.def || companions_vouched(dir, layer, ts));
    };
    // Just published, the image's ctime is of this very clock tick: once
    // the file system's clock has moved on, and the image is still as
    // recorded, stamp the record's mtime anew, so that the first checks
    // after a build (a whole job array at once) trust it instead of all
    // hashing the image. Bounded: 1.3 s covers one-second file times.
    for (int ms = 5; renamed && ms <= 640 && !vouched(); ms *= 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      auto still = identity_of(dir, sif);
      if (!still || !(*still == *now)) break;
      if (::utimensat(dir.fd(), name.c_str(), nullptr, AT_SYMLINK_NOFOLLOW) != 0) break;
    }
    // A prune that removed the build meanwhile leaves no orphan behind.
    if (!identity_of(dir, sif)) dir.unlink(name);
  } catch (const Error&) {
    // A store this user cannot write: the next check hashes in full.
  }
}

ImageDigest image_sha256(const Dir& dir, std::string_view layer, std::string_view ts,
                         std::string_view expected, bool force_full) {
  if (!force_full && identity_vouches(dir, layer, ts, expected))
    return {std::string(expected), false};
  std::string sif = artifact_name(layer, ts, Artifact::kSif);
  auto before = identity_of(dir, sif);
  ImageDigest d{sha256_file(dir.path_of(sif)), true};
  if (before && d.sha256 == expected) record_identity(dir, layer, ts, *before, d.sha256);
  return d;
}

}  // namespace sifstore
