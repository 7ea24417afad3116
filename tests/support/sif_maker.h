// Genuine SIF images for tests, made with the real tools: mksquashfs packs a
// directory tree into a squashfs file system, and `siftool new` / `siftool
// add` (the Sylabs reference implementation) write the SIF around it, the
// way `apptainer build` lays out an image: a definition file object, then
// the squashfs as the primary system partition.
//
// Tests that need these tools call sif_tools_missing() first and
// GTEST_SKIP() with its message when it is not empty.
#pragma once

#include <string>

namespace sifstore::test {

// "" when mksquashfs and siftool are on PATH, else a message naming what is
// missing and the Debian packages that provide it.
std::string sif_tools_missing();

// Packs the directory tree `root_dir` into the squashfs file `out`
// (mksquashfs -noappend -all-root; gzip unless `compressor` names another).
// Throws std::runtime_error with the tool's output on failure.
void make_squashfs(const std::string& root_dir, const std::string& out,
                   const std::string& compressor = "gzip");

// Writes the SIF `out`: an optional definition file object (when def_text
// is not empty) and the squashfs file as the primary system partition
// (amd64). Throws std::runtime_error on failure.
void make_sif(const std::string& out, const std::string& squashfs_file,
              const std::string& def_text = "");

// Both steps: root_dir -> <out>.squashfs (beside out) -> out.
void make_sif_from_tree(const std::string& out, const std::string& root_dir,
                        const std::string& def_text = "");

}  // namespace sifstore::test
