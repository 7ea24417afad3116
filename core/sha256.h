// SHA-256 digests, as lower-case hex (what `sha256sum` prints).
//
// The digest itself is OpenSSL's (EVP, which uses the CPU's SHA extensions
// where there are any), reached through the sifstore-crypto module
// (core/module.h: libcrypto's start-up is ~1 ms that a repeated `check`,
// which hashes nothing, should not pay). Files are streamed in large reads,
// so hashing a multi-gigabyte image takes constant memory and runs at the
// speed of the disk or of the hash, whichever is slower.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sifstore {

// The digest of a byte string.
std::string sha256_hex(std::string_view data);

// The digest of a file's content. The file must be a regular file (it is
// opened O_NONBLOCK, so a FIFO never blocks); throws Error naming the path
// otherwise or on a read failure.
std::string sha256_file(const std::string& path);

// An incremental digest: update() with each piece, then hex() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex();

 private:
  void* ctx_;
};

}  // namespace sifstore
