#include "core/sif_signatures.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/sha256.h"

namespace sifstore {
namespace {

void put_le64(unsigned char* p, int64_t value) {
  uint64_t v = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Hashes the file's bytes [from, to).
void hash_range(const SifImage& image, Sha256& h, uint64_t from, uint64_t to) {
  std::string buf(1u << 20, '\0');
  while (from < to) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), to - from));
    image.read_at(from, buf.data(), n);
    h.update(buf.data(), n);
    from += n;
  }
}

}  // namespace

std::optional<UnsignedDigest> unsigned_sha256(const SifImage& image, int64_t built_modified_at) {
  UnsignedDigest out;
  int64_t cut = -1, others_end = 0;
  for (const auto& d : image.descriptors()) {
    if (d.data_type == kSifSignature) {
      out.signatures.push_back(d);
      cut = cut < 0 ? d.offset : std::min(cut, d.offset);
    } else {
      others_end = std::max(others_end, d.offset + d.size);
    }
  }
  if (out.signatures.empty() || cut < others_end) return std::nullopt;
  const SifHeader& h = image.header();
  if (cut < h.data_offset) return std::nullopt;

  unsigned char header[kSifHeaderSize];
  image.read_at(0, header, sizeof header);
  put_le64(header + 72, built_modified_at);
  put_le64(header + 80, h.descriptors_free + static_cast<int64_t>(out.signatures.size()));
  put_le64(header + 120, cut - h.data_offset);

  const size_t table_bytes = static_cast<size_t>(h.descriptors_total) * kSifDescriptorSize;
  std::string table(table_bytes, '\0');
  image.read_at(static_cast<uint64_t>(h.descriptors_offset), table.data(), table_bytes);
  for (size_t i = 0; i < static_cast<size_t>(h.descriptors_total); ++i) {
    char* r = table.data() + i * kSifDescriptorSize;
    int32_t type = 0;
    std::memcpy(&type, r, 4);  // little-endian hosts only (as the SIF format)
    if (r[4] != 0 && type == kSifSignature) std::memset(r, 0, kSifDescriptorSize);
  }

  const uint64_t table_at = static_cast<uint64_t>(h.descriptors_offset);
  const uint64_t end = static_cast<uint64_t>(cut);
  if (table_at + table_bytes > end) return std::nullopt;
  Sha256 sha;
  sha.update(header, sizeof header);
  hash_range(image, sha, kSifHeaderSize, table_at);
  sha.update(table.data(), table.size());
  hash_range(image, sha, table_at + table_bytes, end);
  out.sha256 = sha.hex();
  return out;
}

std::optional<std::string> signed_after_build(const std::string& sif_path,
                                              const PackageLock& lock) {
  auto built = lock.facts.find("sif-modified-at");
  auto digest = lock.facts.find("image-sha256");
  if (built == lock.facts.end() || digest == lock.facts.end()) return std::nullopt;
  int64_t modified = 0;
  try {
    modified = std::stoll(built->second);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  // An image that no longer reads as a SIF was not merely signed: the
  // caller reports it as changed.
  auto u = [&]() -> decltype(unsigned_sha256(SifImage::open(sif_path), modified)) {
    try {
      return unsigned_sha256(SifImage::open(sif_path), modified);
    } catch (const Error&) {
      return std::nullopt;
    }
  }();
  if (!u || u->sha256 != digest->second) return std::nullopt;
  std::string note = sif_path + " was signed after its build:";
  for (size_t i = 0; i < u->signatures.size(); ++i) {
    const SifDescriptor& d = u->signatures[i];
    note += std::string(i ? "," : "") + " signature object ID " + std::to_string(d.id) + " (" +
            sif_hash_type_name(d.hash_type) + (d.entity.empty() ? "" : ", entity " + d.entity) +
            ")";
  }
  return note;
}

}  // namespace sifstore
