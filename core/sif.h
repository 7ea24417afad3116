// Reading SIF images: the global header, the data-object descriptors and the
// objects they point at.
//
// A SIF (Singularity Image Format, the format Apptainer writes) is a small
// fixed header, a table of descriptors, and the data objects they describe.
// All integers are little-endian; structures are packed (no padding):
//
//   offset  size  global header (128 bytes)
//        0    32  launch script ("#!/usr/bin/env run-singularity\n", NUL padded)
//       32    10  magic "SIF_MAGIC\0"
//       42     3  spec version "01\0"
//       45     3  primary architecture "02\0" (01 386, 02 amd64, 03 arm, ...)
//       48    16  image ID (UUID)
//       64     8  created at (Unix seconds)       72  8  modified at
//       80     8  descriptors free                88  8  descriptors total
//       96     8  descriptors offset             104  8  descriptors size
//      112     8  data offset                    120  8  data size
//
//   descriptor (585 bytes each, `descriptors total` of them in a row)
//        0     4  data type (0x4001 deffile ... 0x400b OCI blob)
//        4     1  used (0 = free slot)
//        5     4  ID                               9  4  group ID (| 0xf0000000)
//       13     4  linked ID (| 0xf0000000 when it names a group)
//       17     8  offset of the object            25  8  size of the object
//       33     8  size with padding               41  8  created at
//       49     8  modified at                     57  8  UID (historical)
//       65     8  GID (historical)                73 128  name (NUL padded)
//      201   384  type-specific "extra":
//                   partition: fs type i32, partition type i32, arch [3]
//                   signature: hash type i32, entity [256] (fingerprint)
//                   crypto message: format i32, message type i32
//                   SBOM: format i32
//                   OCI root index / blob: digest text "sha256:<hex>\0"
//
// Everything read from the file is checked against the file's size before it
// is used: a truncated file, a bad magic, an unknown version, or a
// descriptor pointing past the end is an Error naming the file and what is
// wrong; nothing is ever read out of bounds. The reader never writes.
//
// The type texts (type_text()) are the ones `siftool list` prints, so the
// reader can be checked against the Sylabs reference implementation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sifstore {

// Data object types.
enum SifDataType : int32_t {
  kSifDeffile = 0x4001,
  kSifEnvVar = 0x4002,
  kSifLabels = 0x4003,
  kSifPartition = 0x4004,
  kSifSignature = 0x4005,
  kSifGenericJson = 0x4006,
  kSifGeneric = 0x4007,
  kSifCryptoMessage = 0x4008,
  kSifSbom = 0x4009,
  kSifOciRootIndex = 0x400a,
  kSifOciBlob = 0x400b,
};

// Partition file system types and partition types.
enum SifFsType : int32_t {
  kSifFsSquash = 1,
  kSifFsExt3 = 2,
  kSifFsImmuObj = 3,
  kSifFsRaw = 4,
  kSifFsEncryptedSquash = 5
};
enum SifPartType : int32_t {
  kSifPartSystem = 1,
  kSifPartPrimSys = 2,
  kSifPartData = 3,
  kSifPartOverlay = 4
};

constexpr size_t kSifHeaderSize = 128;
constexpr size_t kSifDescriptorSize = 585;

struct SifHeader {
  std::string launch_script;  // NULs trimmed
  std::string version;        // "01"
  std::string arch;           // Go arch name ("amd64"), "unknown" when not set
  std::string id;             // UUID text, "00000000-0000-..." when not set
  int64_t created_at = 0;
  int64_t modified_at = 0;
  int64_t descriptors_free = 0;
  int64_t descriptors_total = 0;
  int64_t descriptors_offset = 0;
  int64_t descriptors_size = 0;
  int64_t data_offset = 0;
  int64_t data_size = 0;
};

// One used descriptor. The type-specific fields are filled for their type
// only.
struct SifDescriptor {
  int32_t data_type = 0;
  uint32_t id = 0;
  uint32_t group_id = 0;   // 0: not in a group
  uint32_t linked_id = 0;  // 0: not linked
  bool linked_to_group = false;
  int64_t offset = 0;
  int64_t size = 0;
  int64_t size_with_padding = 0;
  int64_t created_at = 0;
  int64_t modified_at = 0;
  std::string name;

  int32_t fs_type = 0;       // partition
  int32_t part_type = 0;     // partition
  std::string arch;          // partition: Go arch name
  int32_t hash_type = 0;     // signature
  std::string entity;        // signature: fingerprint as upper-case hex, "" when absent
  int32_t format_type = 0;   // crypto message
  int32_t message_type = 0;  // crypto message
  int32_t sbom_format = 0;   // SBOM
  std::string digest;        // OCI root index / blob

  // The TYPE column of `siftool list`, e.g. "FS (Squashfs/*System/amd64)",
  // "Signature (SHA-256)", "Def.FILE".
  std::string type_text() const;
};

// Names of the codes above, as siftool prints them ("Def.FILE", "Squashfs",
// "*System", "SHA-256", "cyclonedx-json", ...; "Unknown" otherwise).
std::string sif_data_type_name(int32_t data_type);
std::string sif_fs_type_name(int32_t fs_type);
std::string sif_part_type_name(int32_t part_type);
std::string sif_hash_type_name(int32_t hash_type);
std::string sif_sbom_format_name(int32_t format);

// Where a SIF's bytes come from: a file (pread) or a buffer (the fuzzer).
class SifSource {
 public:
  virtual ~SifSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly n bytes at offset; the caller has checked the bounds.
  // Throws Error on an I/O failure.
  virtual void read_at(uint64_t offset, void* buf, size_t n) const = 0;
};

class SifImage {
 public:
  // Opens and parses a SIF file (read only, O_NONBLOCK, must be a regular
  // file). Throws Error naming the path.
  static SifImage open(const std::string& path);
  // Parses an image held in memory; `name` names it in errors.
  static SifImage parse(std::string bytes, const std::string& name);

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return source_->size(); }
  const SifHeader& header() const { return header_; }
  // Used descriptors, in table order (the order siftool lists them).
  const std::vector<SifDescriptor>& descriptors() const { return descriptors_; }

  // The primary system partition (partition type *System). Throws Error
  // when there is none or more than one.
  const SifDescriptor& primary_partition() const;
  // The first descriptor of the type, or nullptr.
  const SifDescriptor* find(int32_t data_type) const;

  // The bytes of an object. Throws Error when it is larger than max_bytes.
  std::string read_object(const SifDescriptor& d, size_t max_bytes = 64u << 20) const;
  // The embedded definition file (the first Def.FILE object), if any.
  std::optional<std::string> definition() const;

  // Reads raw bytes of the file (for readers of an object's content, such
  // as the squashfs reader). Bounds are checked: reading past the end is an
  // Error naming the file.
  void read_at(uint64_t offset, void* buf, size_t n) const;

 private:
  SifImage(std::shared_ptr<const SifSource> source, std::string path);
  void load();

  std::shared_ptr<const SifSource> source_;
  std::string path_;
  SifHeader header_;
  std::vector<SifDescriptor> descriptors_;
};

}  // namespace sifstore
