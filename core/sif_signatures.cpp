#include "core/sif_signatures.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/sha256.h"
#include "core/text.h"

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

std::optional<PublishedDigest> published_sha256(const SifImage& image, const PublishedSif& as) {
  const SifHeader& h = image.header();
  PublishedDigest out;
  // The published data ended with its last object: an added signature
  // starts there (siftool) or at the next page (`apptainer sign`).
  int64_t published_end = h.data_offset;
  for (const auto& d : image.descriptors()) {
    if (d.data_type == kSifSignature && !as.signature_ids.count(d.id)) {
      out.added.push_back(d);
    } else {
      if (d.data_type == kSifSignature) out.at_build.push_back(d);
      published_end = std::max(published_end, d.offset + d.size);
    }
  }
  if (out.added.empty()) return std::nullopt;
  for (const auto& d : out.added)
    if (d.offset < published_end) return std::nullopt;

  unsigned char header[kSifHeaderSize];
  image.read_at(0, header, sizeof header);
  put_le64(header + 72, as.modified_at);
  put_le64(header + 80, h.descriptors_free + static_cast<int64_t>(out.added.size()));
  put_le64(header + 120, published_end - h.data_offset);

  const size_t table_bytes = static_cast<size_t>(h.descriptors_total) * kSifDescriptorSize;
  std::string table(table_bytes, '\0');
  image.read_at(static_cast<uint64_t>(h.descriptors_offset), table.data(), table_bytes);
  for (size_t i = 0; i < static_cast<size_t>(h.descriptors_total); ++i) {
    char* r = table.data() + i * kSifDescriptorSize;
    int32_t type = 0;
    uint32_t id = 0;
    std::memcpy(&type, r, 4);  // little-endian hosts only (as the SIF format)
    std::memcpy(&id, r + 5, 4);
    if (r[4] != 0 && type == kSifSignature && !as.signature_ids.count(id))
      std::memset(r, 0, kSifDescriptorSize);
  }

  const uint64_t table_at = static_cast<uint64_t>(h.descriptors_offset);
  const uint64_t end = static_cast<uint64_t>(published_end);
  if (table_at + table_bytes > end) return std::nullopt;
  Sha256 sha;
  sha.update(header, sizeof header);
  hash_range(image, sha, kSifHeaderSize, table_at);
  sha.update(table.data(), table.size());
  hash_range(image, sha, table_at + table_bytes, end);
  out.sha256 = sha.hex();
  return out;
}

std::optional<PublishedSif> published_sif(const PackageLock& lock) {
  auto built = lock.facts.find("sif-modified-at");
  if (built == lock.facts.end()) return std::nullopt;
  PublishedSif as;
  try {
    size_t used = 0;
    as.modified_at = std::stoll(built->second, &used);
    if (used != built->second.size()) return std::nullopt;
    if (auto ids = lock.facts.find("signed-at-build"); ids != lock.facts.end())
      for (const auto& word : split(ids->second, ' ')) {
        if (word.empty() || word.size() > 9 ||
            word.find_first_not_of("0123456789") != std::string::npos)
          return std::nullopt;
        as.signature_ids.insert(static_cast<uint32_t>(std::stoul(word)));
      }
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return as;
}

namespace {

std::string describe(const std::vector<SifDescriptor>& signatures) {
  std::string out;
  for (size_t i = 0; i < signatures.size(); ++i) {
    const SifDescriptor& d = signatures[i];
    out += std::string(i ? "," : "") + " signature object ID " + std::to_string(d.id) + " (" +
           sif_hash_type_name(d.hash_type) + (d.entity.empty() ? "" : ", entity " + d.entity) + ")";
  }
  return out;
}

}  // namespace

std::optional<std::string> signed_after_build(const std::string& sif_path,
                                              const PackageLock& lock) {
  auto digest = lock.facts.find("image-sha256");
  auto as = published_sif(lock);
  if (!as || digest == lock.facts.end()) return std::nullopt;
  // An image that no longer reads as a SIF was not merely signed: the
  // caller reports it as changed.
  std::optional<PublishedDigest> p;
  try {
    p = published_sha256(SifImage::open(sif_path), *as);
  } catch (const Error&) {
    return std::nullopt;
  }
  if (!p || p->sha256 != digest->second) return std::nullopt;
  std::string note = sif_path + " was signed after its build:" + describe(p->added);
  if (!p->at_build.empty()) note += "; signed at its build:" + describe(p->at_build);
  return note;
}

}  // namespace sifstore
