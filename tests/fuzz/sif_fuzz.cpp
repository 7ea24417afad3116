// libFuzzer target for the SIF reader (core/sif.h) and, behind it, the
// squashfs reader (core/squashfs.h).
//
// The input is a whole SIF file. It either is rejected with a
// sifstore::Error, or it parses into descriptors that all lie inside the
// file; then every object is read, and when there is a squashfs primary
// partition its tree is walked and its files read (bounded), where again
// only sifstore::Error may come out. A crash, another exception, a
// sanitizer report, or a descriptor outside the file is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "core/sif.h"
#include "core/squashfs.h"

namespace {

using sifstore::SquashfsImage;

void walk(const SquashfsImage& fs, const std::string& dir, int depth, int& budget) {
  if (depth > 4) return;
  auto entries = fs.list_dir(dir);
  if (!entries) return;
  for (const auto& e : *entries) {
    if (--budget < 0) return;
    std::string path = dir + "/" + e.name;
    try {
      switch (e.type) {
        case SquashfsImage::FileType::kDirectory:
          walk(fs, path, depth + 1, budget);
          break;
        case SquashfsImage::FileType::kRegular:
          fs.read_file(path, 1u << 20);
          break;
        case SquashfsImage::FileType::kSymlink:
          fs.read_link(path);
          fs.real_path(path);
          break;
        case SquashfsImage::FileType::kOther:
          fs.type_of(path);
          break;
      }
    } catch (const sifstore::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    sifstore::SifImage sif = sifstore::SifImage::parse(bytes, "fuzz.sif");
    for (const auto& d : sif.descriptors()) {
      if (d.offset < 0 || d.size < 0 || static_cast<uint64_t>(d.offset) > size ||
          static_cast<uint64_t>(d.size) > size - static_cast<uint64_t>(d.offset))
        std::abort();  // the reader promised every object lies inside the file
      (void)d.type_text();
      std::string object = sif.read_object(d, size);
      if (object != bytes.substr(static_cast<size_t>(d.offset), static_cast<size_t>(d.size)))
        std::abort();
    }
    (void)sif.definition();
    SquashfsImage fs = SquashfsImage::open_primary(sif);
    int budget = 2000;
    walk(fs, "", 0, budget);
    fs.read_file("/var/lib/dpkg/status", 1u << 20);
  } catch (const sifstore::Error&) {
  }
  return 0;
}
