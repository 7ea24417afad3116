#include "core/names.h"

#include <cctype>

#include "core/error.h"
#include "core/text.h"

namespace sifstore {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int two_digits(std::string_view s, size_t pos) { return (s[pos] - '0') * 10 + (s[pos + 1] - '0'); }

// The artifact suffix the layer name ends in, or "".
std::string_view artifact_suffix_of(std::string_view layer) {
  for (Artifact a : kAllArtifacts) {
    std::string_view suffix = artifact_suffix(a);
    if (ends_with(layer, suffix)) return suffix;
  }
  return {};
}

}  // namespace

bool is_valid_layer_name(std::string_view layer) {
  if (layer.empty() || layer.size() > 128) return false;
  if (layer.front() == '.' || layer.front() == '-') return false;
  for (char c : layer) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return artifact_suffix_of(layer).empty();
}

void check_layer_name(std::string_view layer) {
  if (is_valid_layer_name(layer)) return;
  std::string why;
  if (layer.empty()) {
    why = "it is empty";
  } else if (layer.size() > 128) {
    why = "it is longer than 128 characters";
  } else if (layer.front() == '.' || layer.front() == '-') {
    why = "it starts with '" + std::string(1, layer.front()) + "'";
  } else if (std::string_view suffix = artifact_suffix_of(layer); !suffix.empty()) {
    why = "it ends in '" + std::string(suffix) +
          "', the suffix of a store file (the latest pointer of layer '" +
          std::string(layer.substr(0, layer.size() - suffix.size())) +
          "' or a build's artifact would collide with it)";
  } else {
    why = "it contains a character other than letters, digits, '.', '_' and '-'";
  }
  throw Error("invalid layer name '" + std::string(layer) + "': " + why +
              " (use letters, digits, '.', '_' and '-', e.g. 'python-base')");
}

bool has_ts_shape(std::string_view ts) {
  if (ts.size() != 16 || ts[4] != '-' || ts[9] != '-') return false;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i == 4 || i == 9) continue;
    if (!is_digit(ts[i])) return false;
  }
  return true;
}

bool is_valid_ts(std::string_view ts) {
  if (!has_ts_shape(ts)) return false;
  int month = two_digits(ts, 5), day = two_digits(ts, 7);
  int hour = two_digits(ts, 10), minute = two_digits(ts, 12), second = two_digits(ts, 14);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour < 24 && minute < 60 &&
         second < 61;
}

void check_ts(std::string_view ts) {
  if (is_valid_ts(ts)) return;
  throw Error("invalid timestamp '" + std::string(ts) +
              "': expected YYYY-MMDD-HHMMSS, e.g. 2026-1125-143000");
}

std::string_view artifact_suffix(Artifact a) {
  switch (a) {
    case Artifact::kSif:
      return ".sif";
    case Artifact::kLock:
      return ".lock";
    case Artifact::kDef:
      return ".def";
    case Artifact::kVerified:
      return ".verified";
    case Artifact::kUnverified:
      return ".unverified";
    case Artifact::kKeep:
      return ".keep";
    case Artifact::kBuildLog:
      return ".build.log";
    case Artifact::kRoughDef:
      return ".rough.def";
  }
  return "";
}

std::string artifact_name(std::string_view layer, std::string_view ts, Artifact a) {
  std::string name;
  name.reserve(layer.size() + ts.size() + 12);
  name.append(layer).append("-").append(ts).append(artifact_suffix(a));
  return name;
}

std::optional<ParsedArtifact> parse_artifact_name(std::string_view layer,
                                                  std::string_view file_name) {
  // <layer> '-' <ts:16> <suffix>
  if (file_name.size() < layer.size() + 1 + 16 + 4) return std::nullopt;
  if (file_name.compare(0, layer.size(), layer) != 0 || file_name[layer.size()] != '-')
    return std::nullopt;
  std::string_view ts = file_name.substr(layer.size() + 1, 16);
  if (!has_ts_shape(ts)) return std::nullopt;
  std::string_view suffix = file_name.substr(layer.size() + 17);
  for (Artifact a : kAllArtifacts) {
    if (suffix == artifact_suffix(a)) return ParsedArtifact{std::string(ts), a};
  }
  return std::nullopt;
}

std::string hidden_name(std::string_view layer, std::string_view ts, std::string_view suffix) {
  std::string name;
  name.reserve(1 + layer.size() + 1 + ts.size() + suffix.size());
  name.append(".").append(layer).append("-").append(ts).append(suffix);
  return name;
}

std::string identity_record_name(std::string_view layer, std::string_view ts) {
  return hidden_name(layer, ts, kIdentitySuffix);
}

std::optional<std::string> parse_hidden_name(std::string_view layer, std::string_view file_name,
                                             std::string_view suffix) {
  // '.' <layer> '-' <ts:16> <suffix>
  if (file_name.size() != 1 + layer.size() + 1 + 16 + suffix.size()) return std::nullopt;
  if (file_name[0] != '.' || file_name.compare(1, layer.size(), layer) != 0 ||
      file_name[1 + layer.size()] != '-')
    return std::nullopt;
  std::string_view ts = file_name.substr(layer.size() + 2, 16);
  if (!has_ts_shape(ts) || file_name.substr(layer.size() + 18) != suffix) return std::nullopt;
  return std::string(ts);
}

bool is_valid_hold_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' || c == '-'))
      return false;
  return true;
}

std::string hold_name(std::string_view layer, std::string_view ts, std::string_view id) {
  return hidden_name(layer, ts, std::string(kHoldInfix) + std::string(id));
}

std::optional<ParsedHold> parse_hold_name(std::string_view layer, std::string_view file_name) {
  // '.' <layer> '-' <ts:16> ".hold." <id>
  const size_t head = 1 + layer.size() + 1 + 16;
  if (file_name.size() <= head + kHoldInfix.size() || file_name[0] != '.' ||
      file_name.compare(1, layer.size(), layer) != 0 || file_name[1 + layer.size()] != '-' ||
      file_name.substr(head, kHoldInfix.size()) != kHoldInfix)
    return std::nullopt;
  std::string_view ts = file_name.substr(layer.size() + 2, 16);
  std::string_view id = file_name.substr(head + kHoldInfix.size());
  if (!has_ts_shape(ts) || !is_valid_hold_id(id)) return std::nullopt;
  return ParsedHold{std::string(ts), std::string(id)};
}

std::string pointer_name(std::string_view layer) { return pointer_name(layer, Artifact::kSif); }

std::string pointer_target(std::string_view layer, std::string_view ts) {
  return pointer_target(layer, ts, Artifact::kSif);
}

std::string pointer_name(std::string_view layer, Artifact a) {
  return std::string(layer).append(artifact_suffix(a));
}

std::string pointer_target(std::string_view layer, std::string_view ts, Artifact a) {
  return std::string(layer) + "/" + artifact_name(layer, ts, a);
}

std::optional<std::string> ts_from_pointer_target(std::string_view layer, std::string_view target) {
  // Exact relative form: <layer>/<layer>-<ts>.sif
  if (target.size() > layer.size() + 1 && target.compare(0, layer.size(), layer) == 0 &&
      target[layer.size()] == '/') {
    auto parsed = parse_artifact_name(layer, target.substr(layer.size() + 1));
    if (parsed && parsed->artifact == Artifact::kSif) return parsed->ts;
  }
  // Fallback: the last component, like Path(target).name.
  std::string_view last = target;
  while (!last.empty() && last.back() == '/') last.remove_suffix(1);
  if (auto slash = last.rfind('/'); slash != std::string_view::npos) last = last.substr(slash + 1);
  auto parsed = parse_artifact_name(layer, last);
  if (parsed && parsed->artifact == Artifact::kSif) return parsed->ts;
  return std::nullopt;
}

std::string reservation_name(std::string_view layer, std::string_view ts) {
  return hidden_name(layer, ts, kReservedSuffix);
}
std::string partial_sif_name(std::string_view layer, std::string_view ts) {
  return hidden_name(layer, ts, kPartialSifSuffix);
}
std::string partial_log_name(std::string_view layer, std::string_view ts) {
  return hidden_name(layer, ts, kPartialLogSuffix);
}
std::string build_def_name(std::string_view layer, std::string_view ts) {
  return hidden_name(layer, ts, kBuildDefSuffix);
}
std::string verify_sif_name(std::string_view layer, std::string_view ts) {
  return hidden_name(layer, ts, kVerifySifSuffix);
}

}  // namespace sifstore
