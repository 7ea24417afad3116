// The interface between core/sha256.cpp and the sifstore-crypto module
// (modules/crypto.cpp), which alone links OpenSSL's libcrypto (see
// core/module.h for why). Plain C: an opaque SHA-256 context.
#pragma once

#include <cstddef>

namespace sifstore {

// modules/crypto.cpp exports, with C linkage:
//   void* sifstore_sha256_new();   // nullptr when OpenSSL fails
//   int sifstore_sha256_update(void* ctx, const void* data, size_t size);  // 1: ok
//   int sifstore_sha256_final(void* ctx, unsigned char digest[32]);        // 1: ok
//   void sifstore_sha256_free(void* ctx);
using Sha256NewFn = void*();
using Sha256UpdateFn = int(void* ctx, const void* data, size_t size);
using Sha256FinalFn = int(void* ctx, unsigned char* digest);
using Sha256FreeFn = void(void* ctx);
constexpr const char* kCryptoModule = "sifstore-crypto";

}  // namespace sifstore
