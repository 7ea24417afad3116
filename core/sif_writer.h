// Adding data objects to a SIF image (the reader is core/sif.h, which also
// documents the layout).
//
// No C or C++ SIF library exists, so SifStore writes the few objects it
// adds itself, the way `siftool add` (the Sylabs reference implementation)
// does:
//
//   - each object takes the first free descriptor slot; its ID is the
//     slot's number (1-based) unless another object already holds that ID,
//     then one more than the highest ID in use;
//   - its data is appended at the end of the data section (data offset +
//     data size), unaligned, as siftool adds every object but a partition;
//     "size with padding" is the size, no link, UID/GID 0, created and
//     modified at `now`; its group is the caller's choice (stored, as every
//     SIF group ID, as ID | 0xf0000000, so "none" is 0xf0000000): SifStore
//     puts its objects in the group of the image's primary partition
//     (core/provenance.h), as `siftool add --groupid N` would;
//   - the header's "descriptors free", "data size" and "modified at" are
//     updated; nothing else of the image changes (the bytes of every
//     existing object, its ID, the image ID and creation time stay).
//
// The result is written to a hidden temporary beside the image (the bytes
// up to the end of the data section are copied in the kernel with
// copy_file_range, then the new objects, table and header are written),
// synced and renamed over the image, then the directory is synced: a
// reader sees the old image or the new one, never a mix, and a failure
// leaves the image as it was (the temporary is removed; a killed process
// leaves it for fsck as a stale temporary).
//
// An image nobody can see yet (the build chain's hidden partial image, which
// is itself the temporary that publishing renames into place) can be
// written in place instead (SifWrite::kInPlace): the data is appended and
// synced, then the table and header are written and synced. This avoids
// copying the image (for a 512 MiB image it saves seconds and the disk
// space of a second copy; docs/DESIGN.md#provenance). A failure or kill
// part way leaves a partial image that the build removes, or that is the
// debris of a killed build.
//
// An image with fewer free descriptor slots than objects to add is an
// Error, and the image is left alone: SifStore does not rewrite the table
// with more slots, since that moves every object (and would break the
// signatures of a signed image). Apptainer and siftool make images with 48
// slots; a build uses 3 or 4 of them (docs/DESIGN.md#provenance).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/sif.h"

namespace sifstore {

// SBOM formats (the SBOM descriptor's extra field), as siftool numbers them.
enum SifSbomFormat : int32_t {
  kSifSbomCycloneDxJson = 1,
  kSifSbomCycloneDxXml = 2,
  kSifSbomGithubJson = 3,
  kSifSbomSpdxJson = 4,
};

struct SifNewObject {
  int32_t data_type = kSifGenericJson;
  std::string name;         // the descriptor's name (at most 128 bytes)
  std::string data;         // the object's bytes, written exactly
  int32_t sbom_format = 0;  // for kSifSbom
  uint32_t group_id = 0;    // the object group (1, 2, ...); 0: in no group
};

enum class SifWrite {
  kReplace,  // a temporary copy renamed over the image (atomic)
  kInPlace,  // the image itself, for an image no reader can see yet
};

// Adds `objects` to the SIF image `name` in `dir` (never through a symlink),
// in order, with `now` (Unix seconds) as their creation time and the
// image's modification time. Returns the IDs given to the objects. Throws
// Error naming the image when it is not a readable SIF, has too few free
// descriptor slots, a name is too long, or a write fails.
std::vector<uint32_t> add_sif_objects(const Dir& dir, const std::string& name,
                                      const std::vector<SifNewObject>& objects, int64_t now,
                                      SifWrite how = SifWrite::kReplace);

}  // namespace sifstore
