#include "core/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/fs.h"

namespace sifstore {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

MdCtx new_sha256(const std::string& what) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw Error(what + ": cannot initialise OpenSSL SHA-256");
  return ctx;
}

std::string finish(EVP_MD_CTX* ctx, const std::string& what) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, md, &len) != 1) throw Error(what + ": OpenSSL SHA-256 failed");
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  MdCtx ctx = new_sha256("sha256");
  if (EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1)
    throw Error("sha256: OpenSSL SHA-256 failed");
  return finish(ctx.get(), "sha256");
}

std::string sha256_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw system_error("cannot open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw system_error(path);
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file, cannot hash it");
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  MdCtx ctx = new_sha256(path);
  // 1 MiB reads: few system calls, and the buffer stays in the L2 cache
  // while the hash runs over it.
  std::vector<unsigned char> buf(1u << 20);
  for (;;) {
    ssize_t got = ::read(fd.get(), buf.data(), buf.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      throw system_error("reading " + path);
    }
    if (got == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(got)) != 1)
      throw Error(path + ": OpenSSL SHA-256 failed");
  }
  return finish(ctx.get(), path);
}

}  // namespace sifstore
