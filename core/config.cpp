#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <optional>

#include "core/error.h"

namespace sifstore {
namespace {

// `build:` (reuse). A value SifStore cannot read is an error naming the
// line: reuse decides whether the builder runs at all.
void parse_build_section(const YAML::Node& build, const std::string& source, Config& cfg) {
  if (!build || build.IsNull()) return;
  if (!build.IsMap())
    throw Error(source + ":" + std::to_string(build.Mark().line + 1) +
                ": 'build' must be a mapping (reuse)");
  if (YAML::Node reuse = build["reuse"]; reuse && !reuse.IsNull()) {
    bool value = true;
    if (!reuse.IsScalar() || !YAML::convert<bool>::decode(reuse, value))
      throw Error(source + ":" + std::to_string(reuse.Mark().line + 1) +
                  ": build.reuse must be true or false, not '" +
                  (reuse.IsScalar() ? reuse.Scalar() : std::string("<not a scalar>")) + "'");
    cfg.reuse = value;
  }
}

// `store:` (shared).
void parse_store_section(const YAML::Node& store, const std::string& source, Config& cfg) {
  if (!store || store.IsNull()) return;
  if (!store.IsMap())
    throw Error(source + ":" + std::to_string(store.Mark().line + 1) +
                ": 'store' must be a mapping (shared)");
  if (YAML::Node shared = store["shared"]; shared && !shared.IsNull()) {
    std::optional<SharedMode> mode;
    if (shared.IsScalar()) mode = parse_shared_mode(shared.Scalar());
    if (!mode)
      throw Error(source + ":" + std::to_string(shared.Mark().line + 1) + ": invalid store.shared" +
                  (shared.IsScalar() ? " '" + shared.Scalar() + "'" : std::string()) +
                  ": use group (files group-writable, directories setgid), all (group, and "
                  "readable by everybody) or umask (the default)");
    cfg.shared = *mode;
  }
}

}  // namespace

Config parse_config(const std::string& text, const std::string& source) {
  Config cfg;
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(source + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  if (!doc || doc.IsNull()) return cfg;
  if (!doc.IsMap())
    throw Error(source + ": expected a mapping with an 'images', 'build' or 'store' key");
  parse_build_section(doc["build"], source, cfg);
  parse_store_section(doc["store"], source, cfg);
  YAML::Node images = doc["images"];
  if (!images || images.IsNull()) return cfg;
  if (!images.IsMap())
    throw Error(source + ":" + std::to_string(images.Mark().line + 1) +
                ": 'images' must be a mapping (retain, require_verified)");

  if (YAML::Node retain = images["retain"]; retain && !retain.IsNull()) {
    std::string raw = retain.IsScalar() ? retain.Scalar() : "<not a number>";
    long value = 0;
    bool ok = false;
    if (retain.IsScalar()) {
      try {
        size_t used = 0;
        value = std::stol(raw, &used);
        ok = used == raw.size();
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) {
      cfg.warnings.push_back(source + ": invalid images.retain '" + raw + "'; using default " +
                             std::to_string(kDefaultRetain));
    } else if (value < 1 || value > 1000000) {
      // As the reference tool reads its config (SPEC §6): a retain below 1
      // is taken for a mistake. Keeping only the active and protected builds
      // is asked for explicitly, per command.
      cfg.warnings.push_back(source + ": images.retain=" + raw + " is out of range (1 or more);" +
                             " using default " + std::to_string(kDefaultRetain) +
                             (value == 0 ? " (to keep only the active and protected builds, pass "
                                           "--retain 0 or RETAIN 0)"
                                         : ""));
    } else {
      cfg.retain = static_cast<int>(value);
    }
  }
  if (YAML::Node rv = images["require_verified"]; rv && !rv.IsNull()) {
    bool value = false;
    if (!rv.IsScalar() || !YAML::convert<bool>::decode(rv, value))
      throw Error(source + ":" + std::to_string(rv.Mark().line + 1) +
                  ": images.require_verified must be true or false");
    cfg.require_verified = value;
  }
  return cfg;
}

Config load_config(const Dir& root) {
  auto text = root.read_file(kConfigFile, 1u << 20);
  if (!text) return Config{};
  return parse_config(*text, root.path_of(kConfigFile));
}

}  // namespace sifstore
