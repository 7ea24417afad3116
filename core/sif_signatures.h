// An image signed after its build (docs/DESIGN.md#provenance).
//
// `apptainer sign` (and `siftool add --datatype 5`) appends signature
// objects to a published image: new descriptors in free slots, their data
// at the end, and the header's free count, data size and modification time
// updated. The image's sha256 then no longer matches its lock, though
// nothing that was built changed. unsigned_sha256() undoes exactly those
// changes in the digest (never in the file): the bytes up to the first
// signature object, with the signature descriptors as the free slots they
// were and the header as the build left it (its modification time is the
// lock's sif-modified-at fact, which the build records when it seals the
// image). When that digest is the lock's image-sha256, the image is the
// built one plus signatures; any other change still differs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/lockfile.h"
#include "core/sif.h"

namespace sifstore {

struct UnsignedDigest {
  std::string sha256;                     // of the image without its signatures
  std::vector<SifDescriptor> signatures;  // the signature objects removed
};

// nullopt when the image holds no signature object, or when its signatures
// are not all after every other object (then they were not simply added).
std::optional<UnsignedDigest> unsigned_sha256(const SifImage& image, int64_t built_modified_at);

// For `check`: when the image at sif_path differs from its lock's
// image-sha256 only by signature objects added after the build, a line
// naming them ("<sif> was signed after its build: signature object ID 5
// (SHA-256, entity 0A1B...)"); nullopt otherwise (the lock records no
// sif-modified-at, anything else changed, or it no longer reads as a SIF).
std::optional<std::string> signed_after_build(const std::string& sif_path, const PackageLock& lock);

}  // namespace sifstore
