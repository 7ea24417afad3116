// The use-time gate: is the image a layer's latest pointer names fit to
// run? `sifstore check` prints its path when it is, so jobs can write
//   apptainer exec "$(sifstore check base --require-verified)" ...
//
// It fails (Error) when the layer has no pointer, the pointer names no
// existing build or a file outside the layer, the build has no lock or no
// locked def, the image's sha256 no longer matches the one its lock
// recorded (likewise the locked def's, and the lock's own digest in the
// build log: tamper evidence), or — when
// verification is required (the flag, else images.require_verified of
// config.yaml) — the build is not marked `.verified`. An unverified build
// that is not required to be verified passes with a warning, as in the
// reference tool.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/lockfile.h"
#include "core/store.h"

namespace sifstore {

struct CheckResult {
  std::string ts;
  std::string sif;     // absolute path of the timestamped image
  std::string state;   // "verified", "unverified" or "unknown"
  std::string detail;  // the unverified marker's reason
  std::vector<std::string> warnings;
};

// Tamper evidence for one build: its locked def must match the digest its
// lock recorded, and its lock the digest its build log recorded (builds made
// by other tools record neither and pass). Throws Error naming the changed
// file; a log that cannot be read adds a warning.
// The base images a build was made from that are gone (removed outside
// SifStore: the reference tool's prune, `rm`), so that it cannot be rebuilt
// (verified) from its locked def: the `From:` of each `Bootstrap:
// localimage` stage of its locked def, and its lock's base-image fact. Each
// entry reads "cannot be rebuilt: its base <b>-<ts> is gone (<path>)". A
// relative `From:` is read against the directory of the lock's def-path.
std::vector<std::string> gone_bases(const std::string& locked_def_text,
                                    const std::string& locked_def_path, const PackageLock& lock);

// Returns true when the build's identity record vouched for both (nothing
// was hashed), false when they were hashed and found as built.
bool check_companions(const Dir& layer_dir, const std::string& layer, const std::string& ts,
                      const std::string& lock_text, const PackageLock& lock,
                      std::vector<std::string>& warnings);

CheckResult check_layer(const Store& store, const std::string& layer,
                        std::optional<bool> require_verified);

}  // namespace sifstore
