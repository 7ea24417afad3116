#include "core/sif_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "core/error.h"

namespace sifstore {
namespace {

void put_le32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_le64(unsigned char* p, int64_t value) {
  uint64_t v = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// SIF_GROUP_MASK: a group ID is stored as ID | mask; the mask alone is "no group".
constexpr uint32_t kGroupMask = 0xf0000000u;

void read_exact(int fd, uint64_t offset, void* buf, size_t n, const std::string& path) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw system_error("cannot read " + path);
    if (got == 0) throw Error(path + ": unexpected end of file (changed while it was read?)");
    p += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
}

void write_at(int fd, uint64_t offset, std::string_view bytes, const std::string& path) {
  if (::lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0)
    throw system_error("cannot write " + path);
  write_all(fd, bytes, path);
}

// Copies the first n bytes of in to out (both at offset 0): in the kernel
// when it can, else through a buffer.
void copy_prefix(int in, int out, uint64_t n, const std::string& out_path) {
  loff_t in_off = 0, out_off = 0;
  while (static_cast<uint64_t>(out_off) < n) {
    ssize_t got = ::copy_file_range(in, &in_off, out, &out_off,
                                    static_cast<size_t>(n - static_cast<uint64_t>(out_off)), 0);
    if (got > 0) continue;
    if (got == 0) throw Error(out_path + ": the image ended while it was copied");
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
      throw system_error("cannot write " + out_path);
    break;  // not supported here: copy the rest through a buffer
  }
  std::string buf(1u << 20, '\0');
  while (static_cast<uint64_t>(out_off) < n) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(buf.size(), n - out_off));
    read_exact(in, static_cast<uint64_t>(in_off), buf.data(), chunk, out_path);
    write_at(out, static_cast<uint64_t>(out_off), std::string_view(buf.data(), chunk), out_path);
    in_off += static_cast<loff_t>(chunk);
    out_off += static_cast<loff_t>(chunk);
  }
}

// A temporary for `name` that the debris rules recognise: a hidden name
// keeps its one leading dot (".base-<ts>.partial.sif.tmp.<pid>.<n>").
std::string temp_for(const std::string& name) {
  return temp_name_for(name[0] == '.' ? name.substr(1) : name);
}

}  // namespace

std::vector<uint32_t> add_sif_objects(const Dir& dir, const std::string& name,
                                      const std::vector<SifNewObject>& objects, int64_t now,
                                      SifWrite how) {
  const std::string path = dir.path_of(name);
  for (const auto& o : objects) {
    if (o.name.size() > 128)
      throw Error(path + ": SIF object name '" + o.name + "' is longer than 128 bytes");
    if (o.group_id & kGroupMask)
      throw Error(path + ": SIF group ID " + std::to_string(o.group_id) +
                  " is out of range (at most 268435455)");
  }

  Fd in(::openat(dir.fd(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!in) throw system_error("cannot open SIF image " + path);
  struct stat st;
  if (::fstat(in.get(), &st) != 0) throw system_error(path);
  if (!S_ISREG(st.st_mode)) throw Error(path + " is not a regular file");
  // Every check of the reader (bounds, magic, version) before any write.
  SifImage image = SifImage::open(path);
  const SifHeader& h = image.header();
  if (image.file_size() != static_cast<uint64_t>(st.st_size))
    throw Error(path + " changed while it was read");

  std::set<uint32_t> ids;
  uint32_t max_id = 0;
  for (const auto& d : image.descriptors()) {
    ids.insert(d.id);
    max_id = std::max(max_id, d.id);
  }
  if (static_cast<size_t>(h.descriptors_free) < objects.size())
    throw Error(path + ": no room for " + std::to_string(objects.size()) +
                " more SIF objects: " + std::to_string(h.descriptors_free) + " of its " +
                std::to_string(h.descriptors_total) +
                " descriptor slots are free (SifStore does not rewrite an image's descriptor"
                " table; rebuild it with more slots)");

  const size_t table_bytes = static_cast<size_t>(h.descriptors_total) * kSifDescriptorSize;
  std::string table(table_bytes, '\0');
  read_exact(in.get(), static_cast<uint64_t>(h.descriptors_offset), table.data(), table_bytes,
             path);
  unsigned char header[kSifHeaderSize];
  read_exact(in.get(), 0, header, sizeof header, path);

  // Lay out the new objects: a slot, an ID and an offset each.
  const int64_t data_end = h.data_offset + h.data_size;
  int64_t end = data_end;
  std::vector<uint32_t> given;
  std::string appended;
  size_t slot = 0;
  for (const auto& o : objects) {
    auto* rows = reinterpret_cast<unsigned char*>(table.data());
    while (rows[slot * kSifDescriptorSize + 4] != 0) ++slot;  // a free slot exists (checked)
    unsigned char* r = rows + slot * kSifDescriptorSize;
    uint32_t id = static_cast<uint32_t>(slot + 1);
    if (ids.count(id)) id = max_id + 1;
    ids.insert(id);
    max_id = std::max(max_id, id);
    std::memset(r, 0, kSifDescriptorSize);
    put_le32(r, static_cast<uint32_t>(o.data_type));
    r[4] = 1;
    put_le32(r + 5, id);
    put_le32(r + 9, kGroupMask | o.group_id);
    put_le32(r + 13, 0);
    put_le64(r + 17, end);
    put_le64(r + 25, static_cast<int64_t>(o.data.size()));
    put_le64(r + 33, static_cast<int64_t>(o.data.size()));
    put_le64(r + 41, now);
    put_le64(r + 49, now);
    std::memcpy(r + 73, o.name.data(), o.name.size());
    if (o.data_type == kSifSbom) put_le32(r + 201, static_cast<uint32_t>(o.sbom_format));
    appended += o.data;
    end += static_cast<int64_t>(o.data.size());
    given.push_back(id);
  }
  put_le64(header + 72, now);
  put_le64(header + 80, h.descriptors_free - static_cast<int64_t>(objects.size()));
  put_le64(header + 120, end - h.data_offset);

  const std::string_view header_bytes(reinterpret_cast<const char*>(header), sizeof header);
  if (how == SifWrite::kInPlace) {
    Fd out(::openat(dir.fd(), name.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!out) throw system_error("cannot open SIF image " + path + " for writing");
    // The new data first, synced, then the table and header that name it.
    write_at(out.get(), static_cast<uint64_t>(data_end), appended, path);
    if (::ftruncate(out.get(), static_cast<off_t>(end)) != 0)
      throw system_error("cannot write " + path);
    if (::fsync(out.get()) != 0) throw system_error("cannot sync " + path);
    write_at(out.get(), static_cast<uint64_t>(h.descriptors_offset), table, path);
    write_at(out.get(), 0, header_bytes, path);
    if (::fsync(out.get()) != 0) throw system_error("cannot sync " + path);
    return given;
  }

  std::string tmp = temp_for(name);
  Fd out = dir.create_file(tmp, O_RDWR | O_EXCL, st.st_mode & 07777, "cannot write " + path);
  const std::string tmp_path = dir.path_of(tmp);
  try {
    copy_prefix(in.get(), out.get(), static_cast<uint64_t>(data_end), tmp_path);
    write_at(out.get(), static_cast<uint64_t>(data_end), appended, tmp_path);
    write_at(out.get(), static_cast<uint64_t>(h.descriptors_offset), table, tmp_path);
    write_at(out.get(), 0, std::string_view(reinterpret_cast<const char*>(header), sizeof header),
             tmp_path);
    if (::fsync(out.get()) != 0) throw system_error("cannot sync " + tmp_path);
    out = Fd();
    dir.rename(tmp, name);
  } catch (...) {
    ::unlinkat(dir.fd(), tmp.c_str(), 0);
    throw;
  }
  dir.fsync();
  return given;
}

}  // namespace sifstore
