// libFuzzer target for the lock file reader (core/lockfile.h).
//
// Any input either is rejected with a sifstore::Error or reads into a lock
// that writes out and reads back into the very same lock; anything else (a
// crash, another exception, a sanitizer report, a round trip that changes
// the lock) is a finding.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "core/lockfile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sifstore::PackageLock lock;
  try {
    lock = sifstore::parse_lock(text, "fuzz.lock");
  } catch (const sifstore::Error&) {
    return 0;
  }
  std::string written = sifstore::format_lock(lock);  // a lock that reads must write
  sifstore::PackageLock back = sifstore::parse_lock(written, "written.lock");
  if (back != lock) std::abort();
  if (!sifstore::compare_locks(lock, back).identical()) std::abort();
  if (sifstore::format_lock(back) != written) std::abort();
  return 0;
}
