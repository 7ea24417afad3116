// libFuzzer target for the store configuration reader (core/config.h): the
// input is the text of a config.yaml.
//
// Any input either is rejected with a sifstore::Error naming the file or
// reads into a Config whose retain is in range (a bad value falls back to the
// default with a warning); written back as YAML, that Config reads again into
// the same values with no warning. Anything else (a crash, another exception
// such as a yaml-cpp one escaping, a sanitizer report) is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/config.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  sifstore::Config cfg;
  try {
    cfg = sifstore::parse_config(text, "fuzz/config.yaml");
  } catch (const sifstore::Error& e) {
    if (std::string(e.what()).rfind("fuzz/config.yaml", 0) != 0) std::abort();
    return 0;
  }
  if (cfg.retain < 1 || cfg.retain > 1000000) std::abort();
  for (const auto& w : cfg.warnings)
    if (w.rfind("fuzz/config.yaml", 0) != 0) std::abort();
  std::string written = "images:\n  retain: " + std::to_string(cfg.retain) +
                        "\n  require_verified: " + (cfg.require_verified ? "true" : "false") + "\n";
  sifstore::Config back = sifstore::parse_config(written, "written.yaml");
  if (back.retain != cfg.retain || back.require_verified != cfg.require_verified ||
      !back.warnings.empty())
    std::abort();
  return 0;
}
