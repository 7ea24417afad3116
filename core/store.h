// The store: a root directory holding layers, their timestamped builds and
// their latest pointers (see docs/DESIGN.md#store).
//
// Reading (list, layers, active build) needs no lock: every file that matters
// appears and disappears by rename or unlink. Every mutation of a layer
// (point, rollback, prune, markers, protect) runs under that layer's
// LayerLock. All paths handed out are the root string given by the caller,
// spelled as Python's pathlib spells it ("./containers/" -> "containers"),
// joined with file names, so `list` prints the same paths as the reference.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/fs.h"
#include "core/names.h"
#include "core/stamp.h"

namespace sifstore {

// One build of a layer, as `list` reports it.
struct Build {
  std::string ts;
  std::string sif;                  // path of the image
  std::optional<std::string> lock;  // path, when the lock file exists
  std::optional<std::string> def;   // path, when the locked def exists
  std::optional<bool> verified;     // .verified -> true, .unverified -> false
  bool keep = false;                // .keep marker present
  bool active = false;              // the latest pointer names this build
  bool has_build_log = false;       // .build.log present (not part of `list --json`)
};

// One build of a layer in the compact form Build is made from: its <ts> and
// which artifacts are present, no paths (see BuildListing).
struct BuildEntry {
  std::array<char, 16> ts_chars{};
  unsigned artifacts = 0;  // bit (1 << Artifact) per artifact present, as Build counts them
  bool active = false;     // the latest pointer names this build

  std::string_view ts() const { return {ts_chars.data(), ts_chars.size()}; }
  bool has(Artifact a) const { return (artifacts >> static_cast<unsigned>(a)) & 1u; }
  // As Build::verified: .verified -> true, else .unverified -> false.
  std::optional<bool> verified() const {
    if (has(Artifact::kVerified)) return true;
    if (has(Artifact::kUnverified)) return false;
    return std::nullopt;
  }
};

// The builds of a layer, newest first, as one scan finds them: what list()
// is made of, without a string per path, for a caller that prints ten
// thousand of them. The path of an artifact is
// file_prefix + ts + artifact_suffix(a), spelled as in Build.
struct BuildListing {
  std::string file_prefix;  // "<layer dir>/<layer>-"
  std::vector<BuildEntry> builds;

  std::string path(const BuildEntry& b, Artifact a) const;
};

// A layer as `layers` reports it.
struct LayerInfo {
  std::string name;
  size_t builds = 0;
  std::optional<std::string> active_ts;
};

// The paths of every artifact of one build.
struct ArtifactPaths {
  std::string layer_dir, sif, lock, def, verified, unverified, keep, build_log, pointer;
};

// What prune decided, newest first.
struct PruneResult {
  std::vector<std::string> pruned;  // removed (or, with dry_run, to be removed)
  std::vector<std::string> kept;    // every other build
};

class Store {
 public:
  // Opens an existing store. Throws Error when root is missing.
  static Store open(const std::string& root);
  // Opens a store, creating the root directory when it is missing.
  static Store open_or_create(const std::string& root);

  const std::string& root() const { return root_.path(); }
  // The root; what is created through it (and the layer directories it
  // gives) is shared as config.yaml's store.shared asks (core/shared_perm.h).
  const Dir& root_dir() const { return root_; }
  // The store's config.yaml as it was read when the store was opened.
  const Config& config() const { return config_; }

  ArtifactPaths paths(std::string_view layer, std::string_view ts) const;

  // Builds of a layer, newest first; empty when the layer does not exist.
  // One directory scan of the layer directory and one readlink of the
  // pointer; no per-build stat.
  std::vector<Build> list(std::string_view layer) const;
  // The same scan in the compact form (no paths).
  BuildListing list_entries(std::string_view layer) const;

  // Every layer: a directory of the root holding at least one build, or a
  // name with a latest pointer. Sorted by name.
  std::vector<LayerInfo> layers() const;

  // The `<ts>` the latest pointer names, read as the reference reads it.
  std::optional<std::string> active_ts(std::string_view layer) const;

  // Points the layer's stable pointers (`<layer>.sif`, `.lock`, `.def`) at
  // the build (move_pointers). Throws when the build's image does not exist.
  void point_latest(std::string_view layer, std::string_view ts) const;

  // Moves the layer's three stable pointers to the build, each by an atomic
  // rename, in the order of kPointerArtifacts: `<layer>.lock`, `<layer>.def`,
  // then `<layer>.sif`. So whenever `<layer>.sif` names a build, the other
  // two were moved to it first; while a move is under way a reader may find
  // `.lock`/`.def` already on the new build and `.sif` still on the old one,
  // never the reverse (a reader that needs the three to agree reads `.sif`,
  // then the other two, and tries again when their <ts> differ). SIGINT,
  // SIGTERM and SIGHUP are held back during the three renames, so an
  // interrupt lands before or after them, never between; a crash between
  // them is what `fsck --repair` realigns (with `.sif`). A companion the
  // build lacks is pointed at all the same: the dangling pointer says "this
  // build has none", never hands out another build's file. The caller holds
  // the layer's LayerLock and has checked that the build's image exists.
  void move_pointers(std::string_view layer, std::string_view ts) const;

  // Points latest at `to`, or at the newest build older than the active one.
  // Returns the `<ts>` now active.
  std::string rollback(std::string_view layer, std::optional<std::string_view> to) const;

  // Removes old builds: never the active build, never a `.keep` build, never
  // a build that a build of another layer was built FROM (a `Bootstrap:
  // localimage` stage of its locked def, any stage, names the image) or is
  // being built FROM (the def of a build in progress,
  // `.<layer>-<ts>.build.def`, names it), never a build a job holds
  // (holds.h); of the rest the `retain` newest stay. Removes all seven
  // artifact files of each pruned build, the image first (files and symlinks;
  // a directory bearing an artifact's name is left, as the reference does).
  PruneResult prune(std::string_view layer, int retain, bool dry_run = false) const;

  // Markers. verified and unverified are exclusive; the unverified marker's
  // body carries the reason. The build's image must exist.
  void mark_verified(std::string_view layer, std::string_view ts) const;
  void mark_unverified(std::string_view layer, std::string_view ts, std::string_view reason) const;
  void protect(std::string_view layer, std::string_view ts) const;
  // Returns false when the build was not protected.
  bool unprotect(std::string_view layer, std::string_view ts) const;

  // Reserves a fresh `<ts>` for a new build of the layer (creating the layer
  // directory), see stamp.h.
  std::string reserve(std::string_view layer, const Clock& clock = system_clock(),
                      ReservationHolder holder = ReservationHolder::kThisProcess) const;

  // The layer directory; nullopt when the layer does not exist. Throws when
  // it is a symlink or not a directory.
  std::optional<Dir> layer_dir(std::string_view layer) const;
  Dir layer_dir_or_create(std::string_view layer) const;

 private:
  // Reads config.yaml, and gives root_ its sharing (store.shared).
  explicit Store(Dir root);
  // The layer directory of an existing build; throws naming the missing image.
  Dir existing_build(std::string_view layer, std::string_view ts) const;
  std::vector<std::string> pinned_by_other_layers(std::string_view layer) const;

  Dir root_;
  Config config_;
};

}  // namespace sifstore
