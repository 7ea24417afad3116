// Constant-time `check`: an image whose identity, as the file system sees
// it, has not changed since a full hash matched its lock is not hashed
// again (see docs/DESIGN.md#image-identity).
//
// After a full hash that matched (at publish, by `check`, by
// `fsck --hash-images`), SifStore writes the image's identity beside the
// build in the hidden record `.<layer>-<ts>.identity` (core/names.h):
//
//   sifstore image identity 1
//   sha256 <hex>          the digest the hash found (= the lock's)
//   inode <n>
//   size <n>
//   mtime <sec>.<nsec>
//   ctime <sec>.<nsec>
//
// The device number is not recorded: NFS clients see different ones for the
// same file. A later `check` stats the image (one fstatat, no symlink
// followed) and trusts the record only when all of these hold:
//   - the record parses exactly and names the digest the lock records;
//   - the image's inode, size, mtime and ctime equal the recorded ones;
//   - the recorded ctime is strictly older than the record file's own
//     mtime (both stamped by the same file-system clock): a change made in
//     the same clock tick as the recording would otherwise keep the same
//     ctime ("racy git"); such a record is used only after a rehash.
// Anything else (no record, a garbled one, another digest, any field
// changed) means a full hash, never a pass.
//
// A record written at publish also vouches for the build's lock and locked
// def (format 2: the header says "... identity 2" and two more lines,
// "lock <inode> <size> <mtime> <ctime>" and "def ..."): SifStore wrote them
// itself a moment before, from the data whose digests the build log and the
// lock record; a `check` that hashed them and found them as built adds them
// to a record that lacks them. `check` skips rehashing them (and reading the
// build log) while both still have those identities, by the same rules as
// the image. So a repeated `check` computes no digest at all and never
// loads the crypto module (core/module.h). ctime cannot be set by users
// (`touch -r` restores mtime and sets ctime to now), so a same-size
// overwrite followed by `touch -r` is caught.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/fs.h"

struct stat;

namespace sifstore {

// What the file system says about an image, without its device number.
struct ImageIdentity {
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_sec = 0, mtime_nsec = 0;
  int64_t ctime_sec = 0, ctime_nsec = 0;
};
bool operator==(const ImageIdentity& a, const ImageIdentity& b);

// The identity a stat() gave (what identity_of() records; core/input_key.h
// records host source files the same way).
ImageIdentity identity_from_stat(const struct stat& st);

// An identity on one line, "<inode> <size> <mtime> <ctime>" (times as
// <sec>.<nsec> with nine digits), as records and caches write it; and its
// strict parser (nullopt for any other shape).
std::string identity_fields_text(const ImageIdentity& id);
std::optional<ImageIdentity> parse_identity_fields(std::string_view text);

// The racy-clean rule: whether the file's last change (ctime) is strictly
// older than `sec`.`nsec` (a record's or cache's own mtime, stamped by the
// same file-system clock). Only then does an equal identity vouch for it.
bool changed_before(const ImageIdentity& id, int64_t sec, int64_t nsec);

// The identity of a regular file of dir (lstat-like); nullopt when it is
// missing or not a regular file.
std::optional<ImageIdentity> identity_of(const Dir& dir, const std::string& name);

// The record's text, and its parser (nullopt for anything but the exact
// form above).
struct IdentityRecord {
  std::string sha256;
  ImageIdentity identity;
  // Format 2 only: the lock's and the locked def's identities.
  std::optional<ImageIdentity> lock, def;
};
std::string format_identity_record(const IdentityRecord& record);
std::optional<IdentityRecord> parse_identity_record(std::string_view text);

// Whether the build's record vouches that its image still hashes to
// `sha256` (the rules above). Never throws: any doubt is false.
bool identity_vouches(const Dir& dir, std::string_view layer, std::string_view ts,
                      std::string_view sha256);

// Writes the build's record after a full hash found `sha256` while the image
// had identity `hashed` (taken before the hash). The record is written only
// when the image still has that identity; with `renamed` (the image was
// published by a rename after the hash, which moves its ctime) only inode,
// size and mtime must match, the ctime is taken as it is now, and the
// record's mtime is stamped anew (waiting up to 1.3 s, the image unchanged)
// until it is no longer racy. Best
// effort: a store the caller cannot write, or an image gone meanwhile, is no
// error (the next check hashes in full). The record is written by a
// temporary and a rename without fsync: it is a cache, and one lost or left
// empty by a crash only costs a full hash.
// With `companions` (publish: the lock and locked def were just written by
// this build) the record also vouches for them (format 2).
void record_identity(const Dir& dir, std::string_view layer, std::string_view ts,
                     const ImageIdentity& hashed, std::string_view sha256, bool renamed = false,
                     bool companions = false);

// Whether the build's record vouches that its lock and locked def are as
// published (format 2, both identities equal, both older than the record).
// Never throws: any doubt is false.
bool companions_vouched(const Dir& dir, std::string_view layer, std::string_view ts);

// After `check` found the lock and locked def as built (their digests
// matched) while they had the identities `lock` and `def`, taken before they
// were read: adds those to a record that vouches for the image (format 2),
// when both files still have them. Best effort, as record_identity.
void vouch_companions(const Dir& dir, std::string_view layer, std::string_view ts,
                      const ImageIdentity& lock, const ImageIdentity& def);

// The sha256 of the build's image, compared with `expected` (its lock's):
// without hashing when the record vouches for it (and `force_full` is
// false), else by a full hash, recording the identity when it matched.
// Returns the digest found (== expected when the image is unchanged).
// Throws Error naming the image when it cannot be read.
struct ImageDigest {
  std::string sha256;
  bool hashed = false;  // a full hash was done
};
ImageDigest image_sha256(const Dir& dir, std::string_view layer, std::string_view ts,
                         std::string_view expected, bool force_full = false);

}  // namespace sifstore
