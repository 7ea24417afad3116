// Finding and repairing what does not belong in a store.
//
// fsck walks every layer and pointer of the store and reports:
//   - debris of killed builds (core/debris.h)           repair: removed
//   - orphan files: a lock, def, rough def, marker or
//     build log whose image does not exist (and whose
//     build is not in progress)                          repair: removed
//     The log of a failed build (a build log alone,
//     kept on purpose for the user to read) is a note,
//     not a problem: it does not fail fsck              repair: removed
//   - builds whose image has no lock or no locked def    reported only
//   - a locked def or lock changed after the build (the
//     digests the lock and the build log recorded), and
//     with hash_images an image changed after the build  reported only
//   - a build whose base image is gone (check.h:
//     gone_bases): it cannot be rebuilt                  reported only
//   - an image name that is not a regular file           reported only
//   - a layer directory that is a symlink                reported only
//   - pointers that dangle, or name something that is
//     not a build of their layer in this store           repair: pointed at the newest
//                                                        complete build, else removed
//   - stable pointers `<layer>.lock`, `<layer>.def` that
//     do not name the companions of the build
//     `<layer>.sif` names (e.g. the reference tool moved
//     only `.sif`), or are left without it               repair: realigned with `.sif`,
//                                                        or removed
//     (missing beside `.sif`, as in a store the
//     reference made, is no finding; --repair adds them)
//   - a regular file or directory where a stable
//     pointer `<layer>.lock`/`.def` belongs              reported only
// It never removes an image, and never follows a symlink.
#pragma once

#include <string>
#include <vector>

#include "core/store.h"

namespace sifstore {

struct FsckFinding {
  std::string path;
  std::string problem;
  std::string action;  // what --repair did ("removed", "pointed at ..."), or "" when nothing
  bool note = false;   // worth saying, not a problem: never counted as unrepaired
};

struct FsckReport {
  std::vector<FsckFinding> findings;
  size_t layers = 0;
  size_t builds = 0;
  size_t unrepaired() const;  // findings without an action, notes aside
};

struct FsckOptions {
  bool repair = false;
  bool hash_images = false;  // also recompute every image's sha256 (slow on big stores)
};

FsckReport fsck(const Store& store, const FsckOptions& options);

}  // namespace sifstore
