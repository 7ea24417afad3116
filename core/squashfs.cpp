#include "core/squashfs.h"

#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/predef.h>
#include <sqfs/super.h>

#include <cstring>
#include <deque>
#include <unordered_map>

#include "core/error.h"

namespace sifstore {
namespace {

constexpr int kMaxSymlinks = 40;

std::string sqfs_error_text(int code) {
  switch (code) {
    case SQFS_ERROR_ALLOC:
      return "out of memory";
    case SQFS_ERROR_IO:
      return "read error";
    case SQFS_ERROR_COMPRESSOR:
      return "data does not decompress (corrupt)";
    case SQFS_ERROR_INTERNAL:
      return "internal libsquashfs error";
    case SQFS_ERROR_CORRUPTED:
      return "file system is corrupt";
    case SQFS_ERROR_UNSUPPORTED:
      return "unsupported feature (compressor?)";
    case SQFS_ERROR_OVERFLOW:
      return "a size overflows (corrupt)";
    case SQFS_ERROR_OUT_OF_BOUNDS:
      return "a location points past the end of the partition";
    case SFQS_ERROR_SUPER_MAGIC:
      return "no squashfs magic in the super block";
    case SFQS_ERROR_SUPER_VERSION:
      return "unsupported squashfs version";
    case SQFS_ERROR_SUPER_BLOCK_SIZE:
      return "invalid block size in the super block";
    case SQFS_ERROR_NOT_DIR:
      return "not a directory";
    case SQFS_ERROR_NO_ENTRY:
      return "no such entry";
    case SQFS_ERROR_LINK_LOOP:
      return "link loop";
    case SQFS_ERROR_NOT_FILE:
      return "not a regular file";
    case SQFS_ERROR_ARG_INVALID:
      return "invalid argument";
    case SQFS_ERROR_SEQUENCE:
      return "call sequence error";
  }
  return "libsquashfs error " + std::to_string(code);
}

// The partition as libsquashfs sees it: offsets are relative to the
// partition, and nothing past its end can be read. `base` must come first:
// libsquashfs hands back the sqfs_file_t pointer.
struct PartitionFile {
  sqfs_file_t base;
  const SifImage* sif;
  uint64_t offset;
  uint64_t size;
  std::string io_error;  // the Error text of the last failed read
};

int partition_read_at(sqfs_file_t* file, sqfs_u64 offset, void* buffer, size_t size) {
  auto* p = reinterpret_cast<PartitionFile*>(file);
  if (offset > p->size || size > p->size - offset) return SQFS_ERROR_OUT_OF_BOUNDS;
  try {
    p->sif->read_at(p->offset + offset, buffer, size);
  } catch (const std::exception& e) {
    p->io_error = e.what();
    return SQFS_ERROR_IO;
  }
  return 0;
}
int partition_write_at(sqfs_file_t*, sqfs_u64, const void*, size_t) {
  return SQFS_ERROR_UNSUPPORTED;
}
sqfs_u64 partition_get_size(const sqfs_file_t* file) {
  return reinterpret_cast<const PartitionFile*>(file)->size;
}
int partition_truncate(sqfs_file_t*, sqfs_u64) { return SQFS_ERROR_UNSUPPORTED; }
void partition_destroy(sqfs_object_t*) {}  // owned by SquashfsImage::Impl

struct SqfsFree {
  void operator()(void* p) const { sqfs_free(p); }
};
struct SqfsDestroy {
  void operator()(void* p) const { sqfs_destroy(p); }
};
using InodePtr = std::shared_ptr<sqfs_inode_generic_t>;

InodePtr own(sqfs_inode_generic_t* inode) { return InodePtr(inode, SqfsFree()); }

bool is_dir(const sqfs_inode_generic_t& i) {
  return i.base.type == SQFS_INODE_DIR || i.base.type == SQFS_INODE_EXT_DIR;
}
bool is_file(const sqfs_inode_generic_t& i) {
  return i.base.type == SQFS_INODE_FILE || i.base.type == SQFS_INODE_EXT_FILE;
}
bool is_symlink(const sqfs_inode_generic_t& i) {
  return i.base.type == SQFS_INODE_SLINK || i.base.type == SQFS_INODE_EXT_SLINK;
}

SquashfsImage::FileType type_of_code(int type) {
  switch (type) {
    case SQFS_INODE_DIR:
    case SQFS_INODE_EXT_DIR:
      return SquashfsImage::FileType::kDirectory;
    case SQFS_INODE_FILE:
    case SQFS_INODE_EXT_FILE:
      return SquashfsImage::FileType::kRegular;
    case SQFS_INODE_SLINK:
    case SQFS_INODE_EXT_SLINK:
      return SquashfsImage::FileType::kSymlink;
  }
  return SquashfsImage::FileType::kOther;
}

std::string symlink_target(const sqfs_inode_generic_t& i) {
  size_t n =
      i.base.type == SQFS_INODE_SLINK ? i.data.slink.target_size : i.data.slink_ext.target_size;
  // libsquashfs allocates the target in the payload; never read past it.
  n = std::min<size_t>(n, i.payload_bytes_available);
  const char* text = reinterpret_cast<const char*>(i.extra);
  return std::string(text, strnlen(text, n));
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

}  // namespace

struct SquashfsImage::Impl {
  SifImage sif;
  std::string where;  // "<sif>: squashfs partition (descriptor ID n)"
  PartitionFile file{};
  sqfs_super_t super{};
  std::unique_ptr<sqfs_compressor_t, SqfsDestroy> cmp;
  std::unique_ptr<sqfs_dir_reader_t, SqfsDestroy> dirs;
  std::unique_ptr<sqfs_data_reader_t, SqfsDestroy> data;
  InodePtr root;
  // Canonical directory path ("" for the root, "/usr/lib") -> its inode.
  mutable std::unordered_map<std::string, InodePtr> dir_cache;

  explicit Impl(const SifImage& s) : sif(s) {}

  [[noreturn]] void fail(const std::string& what, int code) const {
    std::string text = sqfs_error_text(code);
    if (code == SQFS_ERROR_IO && !file.io_error.empty()) text = file.io_error;
    throw Error(where + ": " + what + ": " + text);
  }

  void check(int code, const std::string& what) const {
    if (code != 0) fail(what, code);
  }

  // The first n bytes (at most its size) of a regular file; max is the size
  // above which the whole file is refused.
  std::string read_data(const std::string& shown, const sqfs_inode_generic_t& inode, size_t n,
                        size_t max) const {
    if (!is_file(inode)) throw Error(where + ": " + shown + " is not a regular file");
    sqfs_u64 size = 0;
    check(sqfs_inode_get_file_size(&inode, &size), "reading the size of " + shown);
    if (size > max)
      throw Error(where + ": " + shown + " is " + std::to_string(size) + " bytes, more than the " +
                  std::to_string(max) + " bytes expected");
    std::string out(static_cast<size_t>(std::min<sqfs_u64>(size, n)), '\0');
    size_t done = 0;
    while (done < out.size()) {
      size_t want = std::min<size_t>(out.size() - done, 1u << 30);
      sqfs_s32 got = sqfs_data_reader_read(data.get(), &inode, done, out.data() + done,
                                           static_cast<sqfs_u32>(want));
      if (got < 0) fail("reading " + shown, got);
      if (got == 0) throw Error(where + ": " + shown + " ends early (corrupt file system)");
      done += static_cast<size_t>(got);
    }
    return out;
  }

  // The inode of a directory already walked through ("" is the root).
  InodePtr directory(const std::string& canonical) const {
    if (canonical.empty()) return root;
    if (auto it = dir_cache.find(canonical); it != dir_cache.end()) return it->second;
    auto found = walk(canonical, true);
    if (!found || !is_dir(*found->inode))
      throw Error(where + ": directory " + canonical + " vanished (corrupt file system)");
    return found->inode;
  }

  // The result of walking a path.
  struct Found {
    std::string path;  // canonical, "" for the root
    InodePtr inode;
  };

  // Walks `path` from the root, following symlinks (the last one only when
  // follow_last). nullopt when a component is missing, a non-directory is
  // walked through, or the links do not end (more than 40).
  std::optional<Found> walk(std::string_view path, bool follow_last) const {
    std::deque<std::string> todo;
    for (auto& c : split_path(path)) todo.push_back(std::move(c));
    std::string cur_path;
    InodePtr cur = root;
    int links = 0;
    while (!todo.empty()) {
      std::string c = std::move(todo.front());
      todo.pop_front();
      if (c == ".") continue;
      if (c == "..") {
        auto slash = cur_path.rfind('/');
        cur_path = slash == std::string::npos ? "" : cur_path.substr(0, slash);
        cur = directory(cur_path);
        continue;
      }
      if (!is_dir(*cur)) return std::nullopt;
      std::string child_path = cur_path + "/" + c;
      InodePtr child;
      if (auto it = dir_cache.find(child_path); it != dir_cache.end()) {
        child = it->second;
      } else {
        check(sqfs_dir_reader_open_dir(dirs.get(), cur.get(), 0),
              "reading directory " + (cur_path.empty() ? "/" : cur_path));
        int r = sqfs_dir_reader_find(dirs.get(), c.c_str());
        if (r == SQFS_ERROR_NO_ENTRY) return std::nullopt;
        check(r, "looking up " + child_path);
        sqfs_inode_generic_t* raw = nullptr;
        check(sqfs_dir_reader_get_inode(dirs.get(), &raw), "reading the inode of " + child_path);
        child = own(raw);
      }
      if (is_symlink(*child) && (!todo.empty() || follow_last)) {
        if (++links > kMaxSymlinks) return std::nullopt;  // ELOOP: does not resolve
        std::string target = symlink_target(*child);
        if (!target.empty() && target[0] == '/') {
          cur_path.clear();
          cur = root;
        }
        auto parts = split_path(target);
        todo.insert(todo.begin(), parts.begin(), parts.end());
        continue;
      }
      cur_path = std::move(child_path);
      cur = std::move(child);
      if (is_dir(*cur)) dir_cache.emplace(cur_path, cur);
    }
    return Found{cur_path, cur};
  }
};

SquashfsImage::SquashfsImage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SquashfsImage::SquashfsImage(SquashfsImage&&) noexcept = default;
SquashfsImage& SquashfsImage::operator=(SquashfsImage&&) noexcept = default;
SquashfsImage::~SquashfsImage() = default;

SquashfsImage SquashfsImage::open_primary(const SifImage& sif) {
  return open(sif, sif.primary_partition());
}

SquashfsImage SquashfsImage::open(const SifImage& sif, const SifDescriptor& partition) {
  auto impl = std::make_unique<Impl>(sif);
  impl->where =
      sif.path() + ": squashfs partition (descriptor ID " + std::to_string(partition.id) + ")";
  if (partition.data_type != kSifPartition)
    throw Error(sif.path() + ": descriptor ID " + std::to_string(partition.id) +
                " is not a partition");
  if (partition.fs_type != kSifFsSquash)
    throw Error(sif.path() + ": the partition (descriptor ID " + std::to_string(partition.id) +
                ") is " + sif_fs_type_name(partition.fs_type) +
                ", not squashfs: SifStore reads unencrypted squashfs images only");

  PartitionFile& f = impl->file;
  f.base.base.destroy = partition_destroy;
  f.base.base.copy = nullptr;
  f.base.read_at = partition_read_at;
  f.base.write_at = partition_write_at;
  f.base.get_size = partition_get_size;
  f.base.truncate = partition_truncate;
  f.sif = &impl->sif;
  f.offset = static_cast<uint64_t>(partition.offset);
  f.size = static_cast<uint64_t>(partition.size);
  sqfs_file_t* file = &f.base;

  impl->check(sqfs_super_read(&impl->super, file), "reading the super block");
  if (impl->super.bytes_used > f.size)
    throw Error(impl->where + ": the file system is " + std::to_string(impl->super.bytes_used) +
                " bytes but the partition holds only " + std::to_string(f.size) +
                " (truncated image?)");

  // libsquashfs allocates the whole fragment table up front from this count;
  // every fragment is a block of at least one byte inside the file system,
  // so a larger count is corruption (and must not become a huge allocation).
  if (impl->super.fragment_entry_count > impl->super.bytes_used)
    throw Error(impl->where + ": the super block claims " +
                std::to_string(impl->super.fragment_entry_count) +
                " fragments in a file system of " + std::to_string(impl->super.bytes_used) +
                " bytes (corrupt file system)");

  sqfs_compressor_config_t cfg;
  impl->check(
      sqfs_compressor_config_init(&cfg, static_cast<SQFS_COMPRESSOR>(impl->super.compression_id),
                                  impl->super.block_size, SQFS_COMP_FLAG_UNCOMPRESS),
      "setting up the decompressor");
  sqfs_compressor_t* cmp = nullptr;
  impl->check(sqfs_compressor_create(&cfg, &cmp), "creating the decompressor");
  impl->cmp.reset(cmp);

  impl->dirs.reset(sqfs_dir_reader_create(&impl->super, cmp, file, 0));
  if (!impl->dirs) impl->fail("creating the directory reader", SQFS_ERROR_ALLOC);
  impl->data.reset(sqfs_data_reader_create(file, impl->super.block_size, cmp, 0));
  if (!impl->data) impl->fail("creating the data reader", SQFS_ERROR_ALLOC);
  impl->check(sqfs_data_reader_load_fragment_table(impl->data.get(), &impl->super),
              "loading the fragment table");

  sqfs_inode_generic_t* root = nullptr;
  impl->check(sqfs_dir_reader_get_root_inode(impl->dirs.get(), &root), "reading the root inode");
  impl->root = own(root);
  if (!is_dir(*impl->root))
    throw Error(impl->where + ": the root inode is not a directory (corrupt file system)");
  return SquashfsImage(std::move(impl));
}

const std::string& SquashfsImage::sif_path() const { return impl_->sif.path(); }

namespace {

std::string shown_path(const std::string& canonical) { return canonical.empty() ? "/" : canonical; }

}  // namespace

std::optional<std::string> SquashfsImage::read_file(std::string_view path, size_t max_bytes) const {
  auto found = impl_->walk(path, true);
  if (!found) return std::nullopt;
  return impl_->read_data(shown_path(found->path), *found->inode, max_bytes, max_bytes);
}

std::optional<std::string> SquashfsImage::read_file_if_regular(std::string_view path,
                                                               size_t max_bytes) const {
  auto found = impl_->walk(path, true);
  if (!found || !is_file(*found->inode)) return std::nullopt;
  return impl_->read_data(shown_path(found->path), *found->inode, max_bytes, max_bytes);
}

std::optional<std::string> SquashfsImage::read_head(std::string_view path, size_t n) const {
  auto found = impl_->walk(path, true);
  if (!found) return std::nullopt;
  return impl_->read_data(shown_path(found->path), *found->inode, n, SIZE_MAX);
}

std::optional<std::vector<SquashfsImage::Entry>> SquashfsImage::list_dir(
    std::string_view path) const {
  auto found = impl_->walk(path, true);
  if (!found || !is_dir(*found->inode)) return std::nullopt;
  std::string shown = found->path.empty() ? "/" : found->path;
  sqfs_dir_reader_t* rd = impl_->dirs.get();
  impl_->check(sqfs_dir_reader_open_dir(rd, found->inode.get(), 0), "reading directory " + shown);
  std::vector<Entry> entries;
  for (;;) {
    sqfs_dir_entry_t* raw = nullptr;
    int r = sqfs_dir_reader_read(rd, &raw);
    if (r > 0) break;
    impl_->check(r, "reading directory " + shown);
    std::unique_ptr<sqfs_dir_entry_t, SqfsFree> ent(raw);
    std::string name(reinterpret_cast<const char*>(ent->name));
    FileType type = type_of_code(ent->type);
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
      throw Error(impl_->where + ": directory " + shown + " has an invalid entry name \"" + name +
                  "\" (corrupt file system)");
    // Keep subdirectory inodes: the caller usually descends next.
    if (type == FileType::kDirectory) {
      std::string child_path = found->path + "/" + name;
      if (!impl_->dir_cache.count(child_path)) {
        sqfs_inode_generic_t* inode = nullptr;
        impl_->check(sqfs_dir_reader_get_inode(rd, &inode), "reading the inode of " + child_path);
        InodePtr owned = own(inode);
        if (is_dir(*owned)) impl_->dir_cache.emplace(child_path, std::move(owned));
      }
    }
    entries.push_back({std::move(name), type});
  }
  return entries;
}

std::optional<SquashfsImage::FileType> SquashfsImage::type_of(std::string_view path,
                                                              bool follow) const {
  auto found = impl_->walk(path, follow);
  if (!found) return std::nullopt;
  return type_of_code(found->inode->base.type);
}

std::optional<std::string> SquashfsImage::read_link(std::string_view path) const {
  auto found = impl_->walk(path, false);
  if (!found || !is_symlink(*found->inode)) return std::nullopt;
  return symlink_target(*found->inode);
}

std::optional<std::string> SquashfsImage::real_path(std::string_view path) const {
  auto found = impl_->walk(path, true);
  if (!found) return std::nullopt;
  return found->path.empty() ? "/" : found->path;
}

}  // namespace sifstore
