// Reading files inside a SIF image's squashfs partition, in place.
//
// An Apptainer image keeps its root file system as a squashfs inside the
// SIF (the primary system partition). SquashfsImage reads that file system
// with libsquashfs straight out of the SIF file: no mount, no extraction to
// disk, nothing in the image is run. libsquashfs sees the partition through
// a small sqfs_file_t that adds the partition's offset and refuses any read
// beyond the partition's end, so a corrupt file system can never make it
// read other parts of the SIF (or beyond the file).
//
// Paths are interpreted as inside the running container: "/var/lib/x" and
// "var/lib/x" name the same file; symbolic links are followed inside the
// image, an absolute target restarting at the image's root and ".." never
// climbing above it (as in a chroot). A chain of more than 40 links does not
// resolve (like ELOOP): the path counts as missing. Nothing outside the image
// is ever read.
//
// Directory lookups are cached: every directory reached (and every
// subdirectory seen while listing) keeps its inode, so reading the METADATA
// file of each of hundreds of dist-info directories costs one directory
// scan, not one per file.
//
// A partition that is not squashfs, or a corrupt or truncated file system,
// is an Error naming the SIF and what libsquashfs reported.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/sif.h"

namespace sifstore {

class SquashfsImage {
 public:
  enum class FileType { kRegular, kDirectory, kSymlink, kOther };
  struct Entry {
    std::string name;
    FileType type;  // the entry itself (a symlink is kSymlink)
  };

  // Opens the primary system partition of the image.
  static SquashfsImage open_primary(const SifImage& sif);
  // Opens a given partition descriptor of the image.
  static SquashfsImage open(const SifImage& sif, const SifDescriptor& partition);

  SquashfsImage(SquashfsImage&&) noexcept;
  SquashfsImage& operator=(SquashfsImage&&) noexcept;
  ~SquashfsImage();

  // The content of a file, following symlinks. nullopt when the path (or a
  // directory on it) does not exist; Error when it is not a regular file or
  // is larger than max_bytes.
  std::optional<std::string> read_file(std::string_view path, size_t max_bytes = 256u << 20) const;

  // Like read_file(), but nullopt (not an Error) when path is something
  // other than a regular file: for files a tool would simply skip.
  std::optional<std::string> read_file_if_regular(std::string_view path,
                                                  size_t max_bytes = 256u << 20) const;

  // The first n bytes of a file (all of it when shorter), following
  // symlinks: for a #! line without reading a whole binary. nullopt when it
  // does not exist; Error when it is not a regular file.
  std::optional<std::string> read_head(std::string_view path, size_t n) const;

  // The entries of a directory (following symlinks), in the file system's
  // order (squashfs keeps them sorted by name, as readdir returns them in a
  // mounted image). nullopt when it does not exist or is not a directory.
  std::optional<std::vector<Entry>> list_dir(std::string_view path) const;

  // The type of what path names: with follow, of what its symlinks lead to
  // (nullopt for a dangling link or a loop); without, of the last component
  // itself.
  std::optional<FileType> type_of(std::string_view path, bool follow = true) const;

  // The target text of the symlink at path (directories on the way are
  // followed), or nullopt when path is missing or not a symlink.
  std::optional<std::string> read_link(std::string_view path) const;

  // The canonical absolute path ("/usr/lib/python3.11") that path leads to
  // after following every symlink, or nullopt when it does not exist.
  std::optional<std::string> real_path(std::string_view path) const;

  // The SIF this file system was opened from (for messages).
  const std::string& sif_path() const;

 private:
  struct Impl;
  explicit SquashfsImage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sifstore
