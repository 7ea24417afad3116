// libFuzzer target for the definition file parser (core/deffile.h) and the
// locked def built from it (core/locked_def.h).
//
// Any input either is rejected with a sifstore::Error or parses; then its
// sources, apt packages and depfile are computed (without touching the
// disk), and its locked def, with and without a pinned base, parses again
// into as many stages, with the base in the localimage stage's From.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/deffile.h"
#include "core/error.h"
#include "core/locked_def.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sifstore::DefFile def;
  try {
    def = sifstore::parse_def(text, "/fuzz/x.def");
  } catch (const sifstore::Error&) {
    return 0;
  }
  if (def.stages.empty()) std::abort();
  std::vector<std::string> deps, skipped;
  for (const auto& s : sifstore::def_sources(def, {{"arg", "value"}}))
    if (s.resolved) deps.push_back(s.path);
  sifstore::depfile_text("out.stamp", deps, &skipped);
  sifstore::apt_installed_packages(def);

  sifstore::PackageLock lock;
  lock.pip = {{"numpy", "2.1.0"}, {"-e git+https://x/y#egg=y", ""}};
  lock.dpkg = {{"curl", "7.88.1-10"}, {"g++", "4:12.2.0-3"}};
  const std::string base = "/store/base/base-2026-0101-120000.sif";
  for (bool with_base : {false, true}) {
    sifstore::LockedDefOptions options;
    options.pin_apt = true;
    if (with_base) options.base = base;
    std::string locked;
    try {
      locked = sifstore::locked_def_text(def, lock, options);
    } catch (const sifstore::Error&) {
      if (!with_base) std::abort();  // only the base can be refused
      continue;
    }
    sifstore::DefFile again = sifstore::parse_def(locked, "/fuzz/locked.def");
    if (again.stages.size() != def.stages.size()) std::abort();
    if (with_base) {
      bool pinned = false;
      for (const auto& st : again.stages)
        if (st.bootstrap() == "localimage" && st.from() == base) pinned = true;
      if (!pinned) std::abort();
    }
  }
  return 0;
}
