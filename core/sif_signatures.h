// An image signed after its build (docs/DESIGN.md#provenance).
//
// `apptainer sign` (and `siftool add --datatype 5`) appends signature
// objects to a published image: new descriptors in free slots, their data
// at the end (page aligned by `apptainer sign`, unaligned by siftool), and
// the header's free count, data size and modification time updated. The
// image's sha256 then no longer matches its lock, though nothing that was
// built changed. published_sha256() undoes exactly those changes in the
// digest (never in the file): the bytes up to the end of the last object
// the published image held, with the signature descriptors added since as
// the free slots they were and the header as published (its modification
// time is the lock's sif-modified-at fact, which the build records when it
// seals the image, and again after `build --sign` signs it). Signature
// objects the published image already held (`build --sign`; their IDs are
// the lock's signed-at-build fact) are part of it and stay. When that
// digest is the lock's image-sha256, the image is the published one plus
// signatures; any other change (an object added, removed or rewritten, a
// byte of data or of a descriptor) still differs.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/lockfile.h"
#include "core/sif.h"

namespace sifstore {

// What the lock says of the image as published.
struct PublishedSif {
  int64_t modified_at = 0;           // the header's modification time
  std::set<uint32_t> signature_ids;  // signature objects it held
};

struct PublishedDigest {
  std::string sha256;                   // of the image as published
  std::vector<SifDescriptor> added;     // signature objects added since
  std::vector<SifDescriptor> at_build;  // signature objects it held
};

// nullopt when no signature object was added since, or when the ones added
// are not all after every other object (then they were not simply added).
std::optional<PublishedDigest> published_sha256(const SifImage& image, const PublishedSif& as);

// The published state the lock records (facts sif-modified-at and
// signed-at-build); nullopt when it records none or cannot be read.
std::optional<PublishedSif> published_sif(const PackageLock& lock);

// For `check`: when the image at sif_path differs from its lock's
// image-sha256 only by signature objects added after the build, a line
// naming them ("<sif> was signed after its build: signature object ID 5
// (SHA-256, entity 0A1B...)", then those signed at build, if any); nullopt
// otherwise (the lock records no sif-modified-at, anything else changed,
// or it no longer reads as a SIF).
std::optional<std::string> signed_after_build(const std::string& sif_path, const PackageLock& lock);

}  // namespace sifstore
