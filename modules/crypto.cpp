// The sifstore-crypto module: OpenSSL's SHA-256 (core/sha256_module.h).

#include <openssl/evp.h>

#include "core/sha256_module.h"
#include "modules/module_export.h"

SIFSTORE_MODULE_EXPORT void* sifstore_sha256_new() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

SIFSTORE_MODULE_EXPORT int sifstore_sha256_update(void* ctx, const void* data, size_t size) {
  return EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx), data, size);
}

SIFSTORE_MODULE_EXPORT int sifstore_sha256_final(void* ctx, unsigned char* digest) {
  unsigned int len = 0;
  return EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx), digest, &len) == 1 && len == 32;
}

SIFSTORE_MODULE_EXPORT void sifstore_sha256_free(void* ctx) {
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx));
}
