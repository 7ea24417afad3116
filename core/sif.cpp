#include "core/sif.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/fs.h"

namespace sifstore {
namespace {

// ---- byte sources ---------------------------------------------------------

class FileSource : public SifSource {
 public:
  FileSource(Fd fd, uint64_t size, std::string path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  uint64_t size() const override { return size_; }
  void read_at(uint64_t offset, void* buf, size_t n) const override {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
      ssize_t got = ::pread(fd_.get(), p, n, static_cast<off_t>(offset));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw system_error(path_ + ": reading at byte " + std::to_string(offset));
      }
      if (got == 0)
        throw Error(path_ + ": unexpected end of file at byte " + std::to_string(offset) +
                    " (was the image changed while it was read?)");
      p += got;
      n -= static_cast<size_t>(got);
      offset += static_cast<uint64_t>(got);
    }
  }

 private:
  Fd fd_;
  uint64_t size_;
  std::string path_;
};

class MemorySource : public SifSource {
 public:
  explicit MemorySource(std::string bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  void read_at(uint64_t offset, void* buf, size_t n) const override {
    if (n) std::memcpy(buf, bytes_.data() + offset, n);
  }

 private:
  std::string bytes_;
};

// ---- little-endian fields -------------------------------------------------

int32_t le32s(const unsigned char* p) {
  uint32_t v = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  return static_cast<int32_t>(v);
}
uint32_t le32(const unsigned char* p) { return static_cast<uint32_t>(le32s(p)); }
int64_t le64s(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return static_cast<int64_t>(v);
}

// A NUL-padded fixed field, trailing NULs removed (as the reference does).
std::string fixed_text(const unsigned char* p, size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

std::string arch_name(const unsigned char* p) {
  static const char* const kNames[] = {"386",     "amd64",   "arm",    "arm64",  "ppc64",
                                       "ppc64le", "mips",    "mipsle", "mips64", "mips64le",
                                       "s390x",   "riscv64", "loong64"};
  if (p[2] != '\0' || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return "unknown";
  int code = (p[0] - '0') * 10 + (p[1] - '0');
  if (code < 1 || code > 13) return "unknown";
  return kNames[code - 1];
}

std::string uuid_text(const unsigned char* p) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

std::string hex_upper(const unsigned char* p, size_t n) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 15];
  }
  return s;
}

std::string quoted_bytes(const unsigned char* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f) {
      s += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      s += "\\x";
      s += kHex[c >> 4];
      s += kHex[c & 15];
    }
  }
  return s;
}

// [offset, offset + size) lies within [0, file_size)?
bool within(int64_t offset, int64_t size, uint64_t file_size) {
  if (offset < 0 || size < 0) return false;
  uint64_t o = static_cast<uint64_t>(offset), s = static_cast<uint64_t>(size);
  return o <= file_size && s <= file_size - o;
}

// "a-b" for the bytes [offset, offset + size), computed without overflow
// (the values come from the file and may be anything).
std::string byte_range(int64_t offset, int64_t size) {
  return std::to_string(offset) + "-" +
         std::to_string(static_cast<uint64_t>(offset) + static_cast<uint64_t>(size));
}

std::string describe(const SifDescriptor& d) {
  return "descriptor ID " + std::to_string(d.id) + " (" + sif_data_type_name(d.data_type) + ")";
}

}  // namespace

// ---- names ------------------------------------------------------------------

std::string sif_data_type_name(int32_t t) {
  switch (t) {
    case kSifDeffile:
      return "Def.FILE";
    case kSifEnvVar:
      return "Env.Vars";
    case kSifLabels:
      return "JSON.Labels";
    case kSifPartition:
      return "FS";
    case kSifSignature:
      return "Signature";
    case kSifGenericJson:
      return "JSON.Generic";
    case kSifGeneric:
      return "Generic/Raw";
    case kSifCryptoMessage:
      return "Cryptographic Message";
    case kSifSbom:
      return "SBOM";
    case kSifOciRootIndex:
      return "OCI.RootIndex";
    case kSifOciBlob:
      return "OCI.Blob";
  }
  return "Unknown";
}

std::string sif_fs_type_name(int32_t t) {
  switch (t) {
    case kSifFsSquash:
      return "Squashfs";
    case kSifFsExt3:
      return "Ext3";
    case kSifFsImmuObj:
      return "Archive";
    case kSifFsRaw:
      return "Raw";
    case kSifFsEncryptedSquash:
      return "Encrypted squashfs";
  }
  return "Unknown";
}

std::string sif_part_type_name(int32_t t) {
  switch (t) {
    case kSifPartSystem:
      return "System";
    case kSifPartPrimSys:
      return "*System";
    case kSifPartData:
      return "Data";
    case kSifPartOverlay:
      return "Overlay";
  }
  return "Unknown";
}

std::string sif_hash_type_name(int32_t t) {
  switch (t) {
    case 1:
      return "SHA-256";
    case 2:
      return "SHA-384";
    case 3:
      return "SHA-512";
    case 4:
      return "BLAKE2s-256";
    case 5:
      return "BLAKE2b-256";
  }
  return "Unknown";
}

std::string sif_sbom_format_name(int32_t f) {
  static const char* const kNames[] = {"cyclonedx-json", "cyclonedx-xml", "github-json",
                                       "spdx-json",      "spdx-rdf",      "spdx-tag-value",
                                       "spdx-yaml",      "syft-json"};
  if (f < 1 || f > 8) return "unknown";
  return kNames[f - 1];
}

namespace {
std::string crypto_format_name(int32_t f) {
  if (f == 1) return "OpenPGP";
  if (f == 2) return "PEM";
  return "Unknown";
}
std::string crypto_message_name(int32_t m) {
  if (m == 0x100) return "Clear Signature";
  if (m == 0x200) return "RSA-OAEP";
  return "Unknown";
}
}  // namespace

std::string SifDescriptor::type_text() const {
  std::string t = sif_data_type_name(data_type);
  switch (data_type) {
    case kSifPartition:
      return t + " (" + sif_fs_type_name(fs_type) + "/" + sif_part_type_name(part_type) + "/" +
             arch + ")";
    case kSifSignature:
      return t + " (" + sif_hash_type_name(hash_type) + ")";
    case kSifCryptoMessage:
      return t + " (" + crypto_format_name(format_type) + "/" + crypto_message_name(message_type) +
             ")";
    case kSifSbom:
      return t + " (" + sif_sbom_format_name(sbom_format) + ")";
  }
  return t;
}

// ---- the image --------------------------------------------------------------

SifImage::SifImage(std::shared_ptr<const SifSource> source, std::string path)
    : source_(std::move(source)), path_(std::move(path)) {}

SifImage SifImage::open(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw system_error("cannot open SIF image " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw system_error(path);
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file, cannot be a SIF image");
  SifImage image(
      std::make_shared<FileSource>(std::move(fd), static_cast<uint64_t>(st.st_size), path), path);
  image.load();
  return image;
}

SifImage SifImage::parse(std::string bytes, const std::string& name) {
  SifImage image(std::make_shared<MemorySource>(std::move(bytes)), name);
  image.load();
  return image;
}

void SifImage::read_at(uint64_t offset, void* buf, size_t n) const {
  uint64_t size = source_->size();
  if (offset > size || n > size - offset)
    throw Error(path_ + ": read of " + std::to_string(n) + " bytes at byte " +
                std::to_string(offset) + " is past the end of the file (" + std::to_string(size) +
                " bytes; truncated image?)");
  source_->read_at(offset, buf, n);
}

void SifImage::load() {
  const uint64_t size = source_->size();
  unsigned char h[kSifHeaderSize];
  if (size < kSifHeaderSize) {
    // Say "truncated" when what is there looks like the start of a SIF.
    size_t have = static_cast<size_t>(size);
    std::memset(h, 0, sizeof h);
    source_->read_at(0, h, have);
    if (have >= 42 && std::memcmp(h + 32, "SIF_MAGIC", 10) == 0)
      throw Error(path_ + ": truncated SIF image: " + std::to_string(size) +
                  " bytes, shorter than the 128-byte SIF header");
    throw Error(path_ + ": not a SIF image: " + std::to_string(size) +
                " bytes, shorter than a SIF header (128 bytes)");
  }
  source_->read_at(0, h, kSifHeaderSize);
  if (std::memcmp(h + 32, "SIF_MAGIC", 10) != 0)
    throw Error(path_ + ": not a SIF image (bad magic \"" + quoted_bytes(h + 32, 10) +
                "\" at byte 32, expected \"SIF_MAGIC\")");
  if (std::memcmp(h + 42, "01", 3) != 0)
    throw Error(path_ + ": unsupported SIF version \"" + quoted_bytes(h + 42, 3) +
                "\" (SifStore reads SIF version 01)");

  SifHeader& hd = header_;
  hd.launch_script = fixed_text(h, 32);
  hd.version = fixed_text(h + 42, 3);
  hd.arch = arch_name(h + 45);
  hd.id = uuid_text(h + 48);
  hd.created_at = le64s(h + 64);
  hd.modified_at = le64s(h + 72);
  hd.descriptors_free = le64s(h + 80);
  hd.descriptors_total = le64s(h + 88);
  hd.descriptors_offset = le64s(h + 96);
  hd.descriptors_size = le64s(h + 104);
  hd.data_offset = le64s(h + 112);
  hd.data_size = le64s(h + 120);

  const std::string corrupt = path_ + ": corrupt SIF header: ";
  // Bound the table by the file before any allocation: each descriptor
  // takes 585 bytes of the file.
  if (hd.descriptors_total < 0 ||
      static_cast<uint64_t>(hd.descriptors_total) > size / kSifDescriptorSize)
    throw Error(corrupt + "descriptors total " + std::to_string(hd.descriptors_total) +
                " does not fit in a file of " + std::to_string(size) + " bytes");
  if (hd.descriptors_free < 0 || hd.descriptors_free > hd.descriptors_total)
    throw Error(corrupt + "descriptors free " + std::to_string(hd.descriptors_free) +
                " is not between 0 and descriptors total " + std::to_string(hd.descriptors_total));
  const int64_t table_bytes = hd.descriptors_total * static_cast<int64_t>(kSifDescriptorSize);
  if (hd.descriptors_offset < static_cast<int64_t>(kSifHeaderSize))
    throw Error(corrupt + "descriptors offset " + std::to_string(hd.descriptors_offset) +
                " overlaps the header");
  if (hd.descriptors_size < table_bytes)
    throw Error(corrupt + "descriptors size " + std::to_string(hd.descriptors_size) +
                " is too small for " + std::to_string(hd.descriptors_total) + " descriptors");
  if (!within(hd.descriptors_offset, table_bytes, size))
    throw Error(path_ + ": truncated SIF image: the descriptor table (bytes " +
                byte_range(hd.descriptors_offset, table_bytes) +
                ") runs past the end of the file (" + std::to_string(size) + " bytes)");
  if (!within(hd.data_offset, hd.data_size, size))
    throw Error(path_ + ": truncated SIF image: the data section (offset " +
                std::to_string(hd.data_offset) + ", size " + std::to_string(hd.data_size) +
                ") runs past the end of the file (" + std::to_string(size) + " bytes)");

  std::vector<unsigned char> table(static_cast<size_t>(table_bytes));
  if (!table.empty())
    source_->read_at(static_cast<uint64_t>(hd.descriptors_offset), table.data(), table.size());

  for (int64_t i = 0; i < hd.descriptors_total; ++i) {
    const unsigned char* r = table.data() + i * static_cast<int64_t>(kSifDescriptorSize);
    if (r[4] == 0) continue;  // free slot
    SifDescriptor d;
    d.data_type = le32s(r);
    d.id = le32(r + 5);
    d.group_id = le32(r + 9) & ~0xf0000000u;
    uint32_t link = le32(r + 13);
    d.linked_id = link & ~0xf0000000u;
    d.linked_to_group = (link & 0xf0000000u) == 0xf0000000u;
    d.offset = le64s(r + 17);
    d.size = le64s(r + 25);
    d.size_with_padding = le64s(r + 33);
    d.created_at = le64s(r + 41);
    d.modified_at = le64s(r + 49);
    d.name = fixed_text(r + 73, 128);
    const unsigned char* extra = r + 201;
    switch (d.data_type) {
      case kSifPartition:
        d.fs_type = le32s(extra);
        d.part_type = le32s(extra + 4);
        d.arch = arch_name(extra + 8);
        break;
      case kSifSignature: {
        d.hash_type = le32s(extra);
        static const unsigned char kZero[20] = {};
        if (std::memcmp(extra + 4, kZero, 20) != 0) d.entity = hex_upper(extra + 4, 20);
        break;
      }
      case kSifCryptoMessage:
        d.format_type = le32s(extra);
        d.message_type = le32s(extra + 4);
        break;
      case kSifSbom:
        d.sbom_format = le32s(extra);
        break;
      case kSifOciRootIndex:
      case kSifOciBlob: {
        const char* text = reinterpret_cast<const char*>(extra);
        d.digest.assign(text, strnlen(text, 384));
        break;
      }
    }
    if (d.offset < 0 || d.size < 0)
      throw Error(path_ + ": corrupt SIF: " + describe(d) + " has a negative offset or size (" +
                  std::to_string(d.offset) + ", " + std::to_string(d.size) + ")");
    if (!within(d.offset, d.size, size))
      throw Error(path_ + ": truncated or corrupt SIF: " + describe(d) +
                  " points past the end of the file (object at bytes " +
                  byte_range(d.offset, d.size) + ", file is " + std::to_string(size) + " bytes)");
    descriptors_.push_back(std::move(d));
  }
}

const SifDescriptor& SifImage::primary_partition() const {
  const SifDescriptor* found = nullptr;
  for (const auto& d : descriptors_) {
    if (d.data_type != kSifPartition || d.part_type != kSifPartPrimSys) continue;
    if (found)
      throw Error(path_ + ": SIF image has more than one primary system partition (IDs " +
                  std::to_string(found->id) + " and " + std::to_string(d.id) + ")");
    found = &d;
  }
  if (!found) throw Error(path_ + ": SIF image has no primary system partition");
  return *found;
}

const SifDescriptor* SifImage::find(int32_t data_type) const {
  for (const auto& d : descriptors_)
    if (d.data_type == data_type) return &d;
  return nullptr;
}

std::string SifImage::read_object(const SifDescriptor& d, size_t max_bytes) const {
  if (static_cast<uint64_t>(d.size) > max_bytes)
    throw Error(path_ + ": " + describe(d) + " is " + std::to_string(d.size) +
                " bytes, more than the " + std::to_string(max_bytes) + " bytes expected");
  std::string out(static_cast<size_t>(d.size), '\0');
  read_at(static_cast<uint64_t>(d.offset), out.data(), out.size());
  return out;
}

std::optional<std::string> SifImage::definition() const {
  const SifDescriptor* d = find(kSifDeffile);
  if (!d) return std::nullopt;
  return read_object(*d);
}

}  // namespace sifstore
