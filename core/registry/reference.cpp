#include "core/registry/reference.h"

#include "core/error.h"

namespace sifstore::registry {
namespace {

constexpr std::string_view kDockerHub = "docker.io";
constexpr size_t kMaxNameLength = 255;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool word_char(char c) { return alnum(c) || c == '_'; }
bool has_upper(std::string_view s) {
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw Error("invalid image reference '" + std::string(text) + "': " + why);
}

// component := [a-z0-9]+ (('.' | '_' | '__' | '-'+) [a-z0-9]+)*
bool valid_component(std::string_view c) {
  size_t i = 0;
  auto run = [&] {
    size_t start = i;
    while (i < c.size() && lower_alnum(c[i])) ++i;
    return i > start;
  };
  if (!run()) return false;
  while (i < c.size()) {
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < c.size() && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (!run()) return false;
  }
  return true;
}

// host := label ('.' label)* | '[' ipv6 ']' ; label := alnum ([alnum-]* alnum)? ; then [':' port]
bool valid_domain(std::string_view d) {
  std::string_view host = d;
  if (size_t colon = d.rfind(':');
      colon != std::string_view::npos && d.find(']', colon) == std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port)
      if (c < '0' || c > '9') return false;
    host = d.substr(0, colon);
  }
  if (host.empty()) return false;
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return false;
    for (char c : host.substr(1, host.size() - 2))
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':'))
        return false;
    return true;
  }
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || !alnum(label.front()) || !alnum(label.back())) return false;
    for (char c : label)
      if (!alnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128 || !word_char(t.front())) return false;
  for (char c : t)
    if (!word_char(c) && c != '.' && c != '-') return false;
  return true;
}

}  // namespace

bool is_sha256_digest(std::string_view text) {
  constexpr std::string_view kAlg = "sha256:";
  if (text.size() != kAlg.size() + 64 || text.substr(0, kAlg.size()) != kAlg) return false;
  for (char c : text.substr(kAlg.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string Reference::name() const { return domain + "/" + path; }

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::tagged() const { return tag.empty() ? name() : name() + ":" + tag; }

std::string Reference::pinned() const {
  if (digest.empty()) throw Error("image reference " + str() + " holds no digest");
  return name() + "@" + digest;
}

std::string Reference::api_host() const {
  return domain == kDockerHub ? "registry-1.docker.io" : domain;
}

Reference parse_reference(std::string_view text) {
  std::string_view s = text;
  if (s.substr(0, 9) == "docker://")
    s.remove_prefix(9);
  else if (s.substr(0, 2) == "//")
    s.remove_prefix(2);
  if (s.empty()) bad(text, "it is empty");
  for (char c : s)
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
      bad(text, "it holds white space, a control or a non-ASCII character");

  Reference r;
  if (size_t at = s.find('@'); at != std::string_view::npos) {
    r.digest = std::string(s.substr(at + 1));
    s = s.substr(0, at);
    if (!is_sha256_digest(r.digest))
      bad(text, "the digest '" + r.digest + "' is not sha256:<64 lower-case hex digits>");
  }
  size_t last_slash = s.rfind('/');
  if (size_t colon = s.rfind(':'); colon != std::string_view::npos &&
                                   (last_slash == std::string_view::npos || colon > last_slash)) {
    r.tag = std::string(s.substr(colon + 1));
    s = s.substr(0, colon);
    if (!valid_tag(r.tag))
      bad(text, "the tag '" + r.tag +
                    "' is not a valid tag (letters, digits, '_', '.', '-'; at most 128, not "
                    "starting with '.' or '-')");
  }
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";

  // The domain: the first component when it looks like a host (as Docker's
  // splitDockerDomain decides), else Docker Hub.
  std::string_view rest = s;
  size_t slash = s.find('/');
  if (slash != std::string_view::npos) {
    std::string_view first = s.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
        has_upper(first)) {
      r.domain = std::string(first);
      rest = s.substr(slash + 1);
    }
  }
  if (r.domain.empty()) r.domain = kDockerHub;
  if (!valid_domain(r.domain)) bad(text, "'" + r.domain + "' is not a valid registry host[:port]");
  if (r.domain == "index.docker.io" || r.domain == "registry-1.docker.io") r.domain = kDockerHub;
  if (rest.size() == 64 && rest.find_first_not_of("0123456789abcdef") == std::string_view::npos)
    bad(text, "a 64-digit hexadecimal string is an image ID, not a repository name");
  r.path = std::string(rest);
  if (r.domain == kDockerHub && r.path.find('/') == std::string::npos) r.path = "library/" + r.path;
  if (has_upper(r.path)) bad(text, "repository name (" + r.path + ") must be lowercase");
  size_t start = 0;
  for (;;) {
    size_t end = r.path.find('/', start);
    std::string_view c =
        std::string_view(r.path).substr(start, end == std::string::npos ? end : end - start);
    if (!valid_component(c))
      bad(text, c.empty() ? std::string("a path component is empty")
                          : "'" + std::string(c) +
                                "' is not a valid path component (lower-case letters and digits, "
                                "separated by '.', '_', '__' or '-')");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (r.name().size() > kMaxNameLength)
    bad(text,
        "the repository name is longer than " + std::to_string(kMaxNameLength) + " characters");
  return r;
}

}  // namespace sifstore::registry
