#include "core/purl.h"

#include "core/capture/pip.h"
#include "core/text.h"

namespace sifstore {

std::string purl_encode(std::string_view text, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_' || c == '~' || c == ':' ||
                 (keep_slash && c == '/');
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string debian_arch(std::string_view go_arch) {
  if (go_arch == "386") return "i386";
  if (go_arch == "ppc64le") return "ppc64el";
  if (go_arch == "arm") return "armhf";
  if (go_arch == "mipsle") return "mipsel";
  if (go_arch == "mips64le") return "mips64el";
  return std::string(go_arch);
}

std::string deb_purl(std::string_view distro_id, std::string_view name, std::string_view version,
                     std::string_view arch, std::string_view distro_version) {
  std::string p = "pkg:deb/" + purl_encode(to_lower(distro_id)) + "/" + purl_encode(name) + "@" +
                  purl_encode(version);
  std::string q;
  if (!arch.empty()) q += "arch=" + purl_encode(arch, true);
  if (!distro_version.empty())
    q += std::string(q.empty() ? "" : "&") +
         "distro=" + purl_encode(to_lower(distro_id) + "-" + std::string(distro_version), true);
  return q.empty() ? p : p + "?" + q;
}

std::string pypi_purl(std::string_view name, std::string_view version) {
  std::string p = "pkg:pypi/" + purl_encode(canonical_python_name(name));
  return version.empty() ? p : p + "@" + purl_encode(version);
}

std::string npm_purl(std::string_view name, std::string_view version) {
  std::string p = "pkg:npm/";
  size_t slash = name.find('/');
  if (!name.empty() && name[0] == '@' && slash != std::string_view::npos)
    p += purl_encode(name.substr(0, slash)) + "/" + purl_encode(name.substr(slash + 1));
  else
    p += purl_encode(name);
  return version.empty() ? p : p + "@" + purl_encode(version);
}

std::string rpm_purl(std::string_view distro_id, std::string_view line,
                     std::string_view distro_version) {
  size_t eq = line.find('=');
  std::string_view name = line.substr(0, eq);
  std::string_view evr = eq == std::string_view::npos ? "" : line.substr(eq + 1);
  std::string_view arch;
  if (size_t dot = evr.rfind('.'); dot != std::string_view::npos) {
    arch = evr.substr(dot + 1);
    evr = evr.substr(0, dot);
  }
  std::string_view epoch;
  if (size_t colon = evr.find(':'); colon != std::string_view::npos) {
    epoch = evr.substr(0, colon);
    evr = evr.substr(colon + 1);
  }
  std::string id = distro_id.empty() ? "rpm" : to_lower(distro_id);
  std::string p = "pkg:rpm/" + purl_encode(id) + "/" + purl_encode(name) + "@" + purl_encode(evr);
  std::string q;
  auto add = [&](const std::string& key, std::string_view value) {
    if (value.empty()) return;
    q += (q.empty() ? "?" : "&") + key + "=" + purl_encode(value, true);
  };
  add("arch", arch);
  add("epoch", epoch);
  if (!distro_version.empty()) add("distro", id + "-" + std::string(distro_version));
  return p + q;
}

std::string conda_purl(std::string_view name, std::string_view version, std::string_view build,
                       std::string_view channel) {
  std::string p = "pkg:conda/" + purl_encode(to_lower(name)) + "@" + purl_encode(version);
  std::string q;
  if (!build.empty()) q += "build=" + purl_encode(build, true);
  if (!channel.empty())
    q += std::string(q.empty() ? "" : "&") + "channel=" + purl_encode(channel, true);
  return q.empty() ? p : p + "?" + q;
}

std::optional<std::string> oci_purl(std::string_view reference, std::string_view tag) {
  std::string_view ref = reference;
  for (std::string_view scheme : {"docker://", "oci://", "library://"})
    if (starts_with(ref, scheme)) ref.remove_prefix(scheme.size());
  size_t at = ref.find("@sha256:");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view digest = ref.substr(at + 1);
  std::string_view repo = ref.substr(0, at);
  // A tag inside the reference ("debian:12@sha256:...") is dropped from the
  // repository URL (a ':' after the last '/').
  size_t last_slash = repo.rfind('/');
  size_t colon = repo.rfind(':');
  std::string_view tag_in_ref;
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    tag_in_ref = repo.substr(colon + 1);
    repo = repo.substr(0, colon);
  }
  std::string_view name = last_slash == std::string_view::npos ? repo : repo.substr(last_slash + 1);
  std::string p = "pkg:oci/" + purl_encode(to_lower(name)) + "@" + purl_encode(digest);
  // purl_encode keeps ':', but the oci version must encode it.
  size_t c = p.find("sha256:");
  if (c != std::string::npos) p.replace(c + 6, 1, "%3A");
  p += "?repository_url=" + purl_encode(to_lower(repo), true);
  // The lock's base-tag is the reference as written ("debian:12",
  // "docker.io/library/debian:12"): its tag is after the last ':' of the
  // last path component.
  if (size_t slash = tag.rfind('/'), colon = tag.rfind(':');
      colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash))
    tag = tag.substr(colon + 1);
  else if (tag.find('/') != std::string_view::npos || tag.find(':') != std::string_view::npos)
    tag = "";
  std::string_view t = tag.empty() ? tag_in_ref : tag;
  if (!t.empty()) p += "&tag=" + purl_encode(t, true);
  return p;
}

}  // namespace sifstore
