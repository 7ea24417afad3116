// libFuzzer target for the registry parsers (core/registry/): image
// references, WWW-Authenticate headers, and a def's registry stages pinned
// offline (no network: only references that hold a digest are pinned).
//
// The input is split at its first NUL: a reference, then a header. A
// reference either is an Error or parses, and its normalised form parses
// again to the same reference (normalisation is idempotent). A header is an
// Error or parses. The whole input as a def: an Error, or pinned, its pinned
// text parses into as many stages, each pinned stage naming its digest.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/deffile.h"
#include "core/error.h"
#include "core/registry/pin.h"
#include "core/registry/reference.h"
#include "core/registry/www_authenticate.h"

namespace reg = sifstore::registry;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.find('\0');
  std::string_view ref_text = input.substr(0, nul);
  std::string_view header = nul == std::string_view::npos ? "" : input.substr(nul + 1);

  try {
    reg::Reference r = reg::parse_reference(ref_text);
    reg::Reference again = reg::parse_reference(r.str());
    if (again.str() != r.str() || again.name() != r.name() || again.digest != r.digest)
      std::abort();
  } catch (const sifstore::Error&) {
  }
  try {
    for (const auto& c : reg::parse_www_authenticate(header))
      if (c.scheme.empty()) std::abort();
  } catch (const sifstore::Error&) {
  }

  sifstore::DefFile def;
  try {
    def = sifstore::parse_def(input, "/fuzz/r.def");
  } catch (const sifstore::Error&) {
    return 0;
  }
  reg::DefPins pins;
  try {
    pins = reg::pin_registry_bases(def, {{"--no-https"}, true, std::string("/nonexistent")});
  } catch (const sifstore::Error&) {
    return 0;
  }
  sifstore::DefFile pinned;
  try {
    pinned = sifstore::parse_def(reg::pinned_def_text(def, pins), "/fuzz/r.def");
  } catch (const sifstore::Error&) {
    std::abort();  // pinning never makes a def unreadable
  }
  if (pinned.stages.size() != def.stages.size()) std::abort();
  for (const auto& p : pins.stages) {
    if (p.pinned.empty()) continue;
    std::string name = p.pinned.substr(p.pinned.find("://") + 3);
    if (pinned.stages[p.stage].from() != name) std::abort();
  }
  std::map<std::string, std::string> facts;
  reg::record_pins(pins, def.stages.size(), facts);
  return 0;
}
