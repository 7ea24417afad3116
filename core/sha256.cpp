#include "core/sha256.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "core/module.h"
#include "core/sha256_module.h"

namespace sifstore {
namespace {

struct CryptoModule {
  Sha256NewFn* make;
  Sha256UpdateFn* update;
  Sha256FinalFn* final;
  Sha256FreeFn* free;
};

const CryptoModule& crypto() {
  static const CryptoModule m = [] {
    const char* feature = "computing SHA-256 digests";
    return CryptoModule{
        module_function<Sha256NewFn>(kCryptoModule, "sifstore_sha256_new", feature),
        module_function<Sha256UpdateFn>(kCryptoModule, "sifstore_sha256_update", feature),
        module_function<Sha256FinalFn>(kCryptoModule, "sifstore_sha256_final", feature),
        module_function<Sha256FreeFn>(kCryptoModule, "sifstore_sha256_free", feature)};
  }();
  return m;
}

}  // namespace

Sha256::Sha256() : ctx_(crypto().make()) {
  if (!ctx_) throw Error("sha256: cannot initialise OpenSSL SHA-256");
}

Sha256::~Sha256() { crypto().free(ctx_); }

void Sha256::update(const void* data, size_t size) {
  if (crypto().update(ctx_, data, size) != 1) throw Error("sha256: OpenSSL SHA-256 failed");
}

std::string Sha256::hex() {
  unsigned char md[32];
  if (crypto().final(ctx_, md) != 1) throw Error("sha256: OpenSSL SHA-256 failed");
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char b : md) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) throw system_error("cannot open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw system_error(path);
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file, cannot hash it");
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  Sha256 h;
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
    try {
      h.update(buf.data(), static_cast<size_t>(got));
    } catch (const Error&) {
      throw Error(path + ": OpenSSL SHA-256 failed");
    }
  }
  return h.hex();
}

}  // namespace sifstore
