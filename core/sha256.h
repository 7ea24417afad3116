// SHA-256 digests, as lower-case hex (what `sha256sum` prints).
//
// The digest itself is OpenSSL's (EVP, which uses the CPU's SHA extensions
// where there are any). Files are streamed in large reads, so hashing a
// multi-gigabyte image takes constant memory and runs at the speed of the
// disk or of the hash, whichever is slower.
#pragma once

#include <string>
#include <string_view>

namespace sifstore {

// The digest of a byte string.
std::string sha256_hex(std::string_view data);

// The digest of a file's content. The file must be a regular file (it is
// opened O_NONBLOCK, so a FIFO never blocks); throws Error naming the path
// otherwise or on a read failure.
std::string sha256_file(const std::string& path);

}  // namespace sifstore
