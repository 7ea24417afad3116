// Parts of sifstore that live in their own shared objects.
//
// Two features need large libraries that most commands never use: reading
// a container registry (libcurl, which brings TLS, Kerberos, LDAP, ...) and
// reading an RPM database (librpm, which brings SQLite, Lua, ...). Linked
// into the executable, their ~35 shared objects cost every `sifstore` call
// ~5 ms of start-up, more than all the work of a repeated `check`
// (bench/check_bench). SHA-256 (OpenSSL's libcrypto, ~1 ms more) is needed
// by most commands but not by a repeated `check`, which hashes nothing
// (core/image_identity.h). So the three are modules (modules/), loaded with
// dlopen the first time a command needs them, and a repeated `check`,
// `list`, `point`, ... never map them.
//
// A module is looked for
//   1. in <dir of the running executable>/SIFSTORE_MODULE_RELDIR: the
//      installed layout (bin/sifstore, lib/sifstore/<module>.so), and the
//      build tree (tool/sifstore, lib/sifstore/<module>.so);
//   2. in the build tree's module directory (SIFSTORE_MODULE_BUILD_DIR),
//      for test and benchmark programs that link libsifstore themselves.
// A module must come from the same SifStore version: each exports
// `sifstore_module_version` and a different version is an Error, as is a
// module that cannot be found or loaded (naming the paths tried).
#pragma once

#include <string>

namespace sifstore {

// The address of `symbol` in the module `name` ("sifstore-http",
// "sifstore-rpmdb"), loading it on first use (thread-safe). Error when the
// module is missing, cannot be loaded, is from another version or lacks
// the symbol; `feature` says what needed it ("reading RPM databases").
void* module_symbol(const std::string& name, const char* symbol, const std::string& feature);

// The module's function `symbol`, typed.
template <typename Fn>
Fn* module_function(const std::string& name, const char* symbol, const std::string& feature) {
  return reinterpret_cast<Fn*>(module_symbol(name, symbol, feature));
}

}  // namespace sifstore
