// Provenance that travels with the image (docs/DESIGN.md#provenance).
//
// At publish time the build chain adds three objects to the new SIF
// (core/sif_writer.h), before the image's sha256 is taken for its lock:
//
//   SBOM (cyclonedx-json)  "sifstore-sbom.cdx.json"   CycloneDX 1.5 JSON of
//                          the lock's packages (core/sbom.h)
//   JSON.Generic           "sifstore-provenance.json" how it was made: layer,
//                          <ts>, rough and locked def sha256, the base (store
//                          build or registry digest), builder and version,
//                          SifStore's version, capture method, who built it,
//                          when and for how long, and the sha256 of the
//                          image the builder wrote
//   Generic/Raw            "sifstore.lock"            the lock file, with
//                          every fact but image-sha256 (the image cannot
//                          hold its own digest): the store's lock is this
//                          text plus that one fact line
//
// They join the object group of the image's primary partition (group 1 in
// images Apptainer builds; none when the partition is in no group), so a
// signature over the group (`apptainer sign` signs each group) covers them.
// `siftool list` shows them, `siftool dump <id>` gives their bytes, and
// `sifstore sbom`, `inspect` and `log` read them back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/lockfile.h"
#include "core/sif.h"
#include "core/sif_writer.h"

namespace sifstore {

inline constexpr const char* kSbomObjectName = "sifstore-sbom.cdx.json";
inline constexpr const char* kProvenanceObjectName = "sifstore-provenance.json";
inline constexpr const char* kLockObjectName = "sifstore.lock";

// The lock as embedded: every fact but image-sha256.
PackageLock embedded_lock(const PackageLock& lock);

// The provenance JSON of a build from its lock's facts.
std::string provenance_json(const std::string& layer, const std::string& ts,
                            const PackageLock& lock);

// Adds the SBOM, provenance and lock objects to the SIF `sif_name` in dir
// (core/sif_writer.h: a temporary renamed over it, or in place for an
// image nobody sees yet). `now` is their time. Returns the bytes added to
// the image. Throws Error (a replaced image is left as it was).
uint64_t embed_provenance(const Dir& dir, const std::string& sif_name, const std::string& layer,
                          const std::string& ts, const PackageLock& lock, int64_t now,
                          SifWrite how = SifWrite::kReplace);

// The build chain's publish step, before the lock is written: records who
// built it, when and for how long (facts built-by, build-started,
// build-seconds; `started` is the build's start in Unix seconds), embeds
// the three objects in the unpublished image `sif_name` (in place: it is
// the build's hidden partial image), and sets the
// lock's image-sha256 to the digest of the image as it will be published.
// Returns the bytes added.
uint64_t seal_build(const Dir& dir, const std::string& sif_name, const std::string& layer,
                    const std::string& ts, PackageLock& lock, int64_t started);

// `build --sign`: runs `<builder> sign [--keyidx N] <image>` on the sealed,
// unpublished image `sif_name` in dir (output to log_fd and echo_fd), then
// sets the lock's image-sha256 to the signed image's digest, its
// sif-modified-at to the signed header's time and signed-at-build to the
// IDs of the image's signature objects (core/sif_signatures.h: a signature
// added later is told from these). A failing sign is an Error (nothing is
// published).
void sign_sealed_image(const std::vector<std::string>& builder, std::optional<int> keyidx,
                       const Dir& dir, const std::string& sif_name, int log_fd, int echo_fd,
                       PackageLock& lock);

// The objects SifStore embedded in an image, when present.
struct EmbeddedProvenance {
  std::optional<std::string> sbom;        // CycloneDX JSON
  std::optional<std::string> provenance;  // JSON
  std::optional<std::string> lock;        // lock text
};
EmbeddedProvenance read_embedded_provenance(const SifImage& image);

// "user@host" of the running process, for the lock's built-by fact.
std::string current_user_at_host();

}  // namespace sifstore
