#include "core/registry/pin.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/registry/credentials.h"
#include "core/registry/reference.h"
#include "core/registry/resolve.h"
#include "core/sif.h"
#include "core/squashfs.h"

namespace sifstore::registry {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_registry_agent(const std::string& agent) { return agent == "docker" || agent == "oras"; }
bool needs_no_pin(const std::string& agent) {
  return agent == "localimage" || agent == "scratch" || agent == "debootstrap";
}

// The reference a registry stage pulls: From with Namespace:/Registry: folded in.
std::string stage_reference(const DefFile& def, const DefStage& st) {
  std::string from = st.from();
  if (from.empty())
    throw Error(def.path + ":" + std::to_string(st.line) + ": `Bootstrap: " + st.bootstrap() +
                "` needs a `From:` image");
  std::string ns = st.header_value("namespace");
  std::string reg = st.header_value("registry");
  for (const char* scheme : {"docker://", "oras://", "//"})
    if (from.rfind(scheme, 0) == 0) from = from.substr(std::string(scheme).size());
  if (!ns.empty() && from.find('/') == std::string::npos) from = ns + "/" + from;
  if (!reg.empty()) from = reg + "/" + from;
  return from;
}

std::string fact_prefix(size_t stage, size_t stage_count) {
  return stage + 1 == stage_count ? "base-" : "stage-" + std::to_string(stage + 1) + "-";
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t i = 0;
  for (;;) {
    size_t nl = text.find('\n', i);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(i));
      return lines;
    }
    lines.push_back(text.substr(i, nl - i));
    i = nl + 1;
  }
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

std::vector<std::string> DefPins::warnings(const std::string& def_path) const {
  std::vector<std::string> out;
  for (const auto& p : stages)
    if (p.pinned.empty())
      out.push_back(def_path + ": stage " + std::to_string(p.stage + 1) + " base " + p.tagged +
                    " is not pinned (" + p.why_unpinned +
                    "): a rebuild from the locked def may start from another image");
  return out;
}

DefPins pin_registry_bases(const DefFile& def, const PinOptions& o) {
  DefPins pins;
  pins.no_https = no_https_flag(o.build_args);
  ResolveOptions ro;
  ro.plain_http = !pins.no_https.empty();
  ro.home = o.home;
  ro.authfile = authfile_arg(o.build_args);
  for (size_t i = 0; i < def.stages.size(); ++i) {
    const DefStage& st = def.stages[i];
    std::string agent = lower(st.bootstrap());
    if (needs_no_pin(agent)) continue;
    StagePin p;
    p.stage = i;
    p.agent = agent;
    if (!is_registry_agent(agent)) {
      // library://alpine:3.18; an agent without From (yum, busybox): its Bootstrap line
      p.tagged = st.from().empty() ? "Bootstrap: " + st.bootstrap() : agent + "://" + st.from();
      p.why_unpinned = "sifstore cannot pin `Bootstrap: " + st.bootstrap() + "` bases";
      pins.stages.push_back(std::move(p));
      continue;
    }
    std::string written = stage_reference(def, st);
    if (written.find("{{") != std::string::npos) {
      p.tagged = agent + "://" + written;
      p.why_unpinned = "its From: uses a build argument";
      pins.stages.push_back(std::move(p));
      continue;
    }
    Reference ref;
    try {
      ref = parse_reference(written);
    } catch (const Error& e) {
      throw Error(def.path + ":" + std::to_string(st.line) + ": " + e.what());
    }
    // name:tag, or name@digest when the def named no tag (then no base-tag)
    p.tagged = agent + "://" + (ref.tag.empty() ? ref.str() : ref.tagged());
    if (o.offline && ref.digest.empty()) {
      p.why_unpinned = "offline: not resolved";
      pins.stages.push_back(std::move(p));
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    Resolved r = resolve_digest(ref, ro);
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    p.pinned = agent + "://" + r.ref.pinned();
    pins.stages.push_back(std::move(p));
  }
  return pins;
}

std::string pinned_def_text(const DefFile& def, const DefPins& pins) {
  std::vector<std::string> lines = split_lines(def.text);
  // Edits from the bottom up, so the line numbers above stay valid.
  for (auto it = pins.stages.rbegin(); it != pins.stages.rend(); ++it) {
    if (it->pinned.empty()) continue;
    const DefStage& st = def.stages.at(it->stage);
    const DefHeaderEntry* from = st.find_header("from");
    if (!from) continue;  // a lock of another def: nothing to replace
    std::string name = it->pinned.substr(it->pinned.find("://") + 3);
    std::vector<std::pair<size_t, size_t>> folded;  // Registry:/Namespace: entries
    for (const auto& h : st.header)
      if (h.key == "registry" || h.key == "namespace") folded.emplace_back(h.line, h.end_line);
    std::vector<std::pair<size_t, std::vector<std::string>>> edits;  // line -> replacement
    for (auto [first, last] : folded)
      for (size_t n = last; n >= first; --n)
        edits.push_back({n, {"# sifstore: folded into From: " + lines[n - 1]}});
    edits.push_back({from->line,
                     {"# sifstore: From pinned to the digest " + it->tagged +
                          " named (rough def: " + one_line(from->value) + ")",
                      "From: " + name}});
    for (size_t n = from->end_line; n > from->line; --n) edits.push_back({n, {}});
    std::sort(edits.begin(), edits.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (auto& [n, repl] : edits) {
      lines.erase(lines.begin() + static_cast<long>(n - 1));
      lines.insert(lines.begin() + static_cast<long>(n - 1), repl.begin(), repl.end());
    }
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" : "") + lines[i];
  return out;
}

void record_pins(const DefPins& pins, size_t stage_count,
                 std::map<std::string, std::string>& facts) {
  bool registry = false;
  for (const auto& p : pins.stages) {
    std::string prefix = fact_prefix(p.stage, stage_count);
    if (!p.pinned.empty()) {
      facts[prefix + "image"] = p.pinned;
      if (p.tagged.find('@') == std::string::npos) facts[prefix + "tag"] = p.tagged;
      if (p.from_labels) facts[prefix + "pinned-by"] = "image labels";
    } else {
      facts[prefix + "unpinned"] = one_line(p.tagged + " (" + p.why_unpinned + ")");
    }
    registry = registry || is_registry_agent(p.agent);
  }
  if (registry && !pins.no_https.empty()) facts["registry-no-https"] = pins.no_https;
}

DefPins pins_from_facts(const DefFile& def, const std::map<std::string, std::string>& facts) {
  DefPins pins;
  for (size_t i = 0; i < def.stages.size(); ++i) {
    std::string agent = lower(def.stages[i].bootstrap());
    if (!is_registry_agent(agent)) continue;
    std::string prefix = fact_prefix(i, def.stages.size());
    auto image = facts.find(prefix + "image");
    if (image == facts.end() || image->second.rfind(agent + "://", 0) != 0) continue;
    StagePin p;
    p.stage = i;
    p.agent = agent;
    p.pinned = image->second;
    auto tag = facts.find(prefix + "tag");
    p.tagged = tag == facts.end() ? p.pinned : tag->second;
    pins.stages.push_back(std::move(p));
  }
  if (auto f = facts.find("registry-no-https"); f != facts.end()) pins.no_https = f->second;
  return pins;
}

std::map<std::string, std::pair<std::string, std::string>> base_changes(
    const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  auto is_base_fact = [](const std::string& k) {
    bool suffix = (k.size() > 6 && k.compare(k.size() - 6, 6, "-image") == 0) ||
                  (k.size() > 9 && k.compare(k.size() - 9, 9, "-unpinned") == 0);
    return suffix && (k.rfind("base-", 0) == 0 || k.rfind("stage-", 0) == 0);
  };
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : a)
    if (is_base_fact(k)) out[k].first = v;
  for (const auto& [k, v] : b)
    if (is_base_fact(k)) out[k].second = v;
  // Registry bases only: a local base (a SIF path) changes with every build
  // of the layer below, which the version sets already show.
  auto registry = [](const std::string& v) { return v.find("://") != std::string::npos; };
  for (auto it = out.begin(); it != out.end();)
    it = it->second.first == it->second.second ||
                 !(registry(it->second.first) || registry(it->second.second))
             ? out.erase(it)
             : std::next(it);
  return out;
}

bool pin_from_labels(DefPins& pins, const DefFile& def, const std::string& sif_path) {
  for (auto& p : pins.stages) {
    if (p.stage + 1 != def.stages.size() || !p.pinned.empty() || p.agent != "docker") continue;
    auto label = base_from_labels(sif_path);
    if (!label) return false;
    // Same repository as the stage asked for: docker://<name>@... vs docker://<name>:<tag>.
    std::string name = label->substr(0, label->find('@'));
    if (p.tagged.rfind(name + ":", 0) != 0 && p.tagged != name) return false;
    p.pinned = *label;
    p.why_unpinned.clear();
    p.from_labels = true;
    return true;
  }
  return false;
}

std::optional<std::string> base_from_labels(const std::string& sif_path) {
  SifImage sif = SifImage::open(sif_path);
  SquashfsImage fs = SquashfsImage::open_primary(sif);
  auto text = fs.read_file_if_regular("/.singularity.d/labels.json", 4u << 20);
  if (!text) return std::nullopt;
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  auto get = [&](const char* key) -> std::string {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
  };
  std::string name = get("org.opencontainers.image.base.name");
  std::string digest = get("org.opencontainers.image.base.digest");
  if (name.empty() || !is_sha256_digest(digest)) return std::nullopt;
  try {
    Reference ref = parse_reference(name);
    ref.digest = digest;
    return "docker://" + ref.pinned();
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace sifstore::registry
