#include "core/registry/resolve.h"

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/module.h"
#include "core/registry/credentials.h"
#include "core/registry/http_module.h"
#include "core/registry/www_authenticate.h"
#include "core/sha256.h"

namespace sifstore::registry {
namespace {

using nlohmann::json;

constexpr const char* kAccept =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";
constexpr size_t kMaxBody = 4u << 20;  // manifests and tokens are small
constexpr long kConnectTimeout = 15;
constexpr long kDefaultTimeout = 60;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

long timeout_seconds() {
  const char* t = std::getenv("SIFSTORE_REGISTRY_TIMEOUT");
  if (!t || !*t) return kDefaultTimeout;
  char* end = nullptr;
  long v = std::strtol(t, &end, 10);
  if (*end || v <= 0) throw Error("$SIFSTORE_REGISTRY_TIMEOUT must be a number of seconds > 0");
  return v;
}

struct Response {
  long status = 0;
  std::multimap<std::string, std::string> headers;  // lower-cased names, of the final answer
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Request {
  std::string url;
  bool head = false;
  std::vector<std::string> headers;
  const Credentials* basic = nullptr;
};

constexpr const char* kHttpFeature = "talking to a container registry";

// One HTTP exchange (through the sifstore-http module). Throws Error
// (naming `what`) when no answer came.
Response perform(const Request& q, const std::string& what) {
  HttpRequest request;
  request.url = q.url;
  request.head = q.head;
  request.headers = q.headers;
  if (q.basic) {
    request.basic_auth = true;
    request.username = q.basic->username;
    request.password = q.basic->password;
  }
  request.user_agent = "sifstore/" SIFSTORE_VERSION;
  if (const char* ca = std::getenv("SSL_CERT_FILE"); ca && *ca) request.ca_file = ca;
  if (const char* dir = std::getenv("SSL_CERT_DIR"); dir && *dir) request.ca_dir = dir;
  request.connect_timeout = kConnectTimeout;
  request.timeout = timeout_seconds();
  request.max_body = kMaxBody;
  auto* perform_fn = module_function<HttpPerformFn>(kHttpModule, kHttpPerformSymbol, kHttpFeature);
  HttpAnswer answer;
  perform_fn(request, &answer);
  if (!answer.ok) {
    std::string detail = answer.body_too_large
                             ? "the answer is larger than " + std::to_string(kMaxBody) + " bytes"
                             : answer.error;
    std::string hint;
    if (answer.tls_failed && q.url.rfind("https:", 0) == 0)
      hint = " (a registry that speaks plain HTTP needs --no-https among the build args)";
    throw Error(what + ": " + detail + hint);
  }
  Response r;
  r.status = answer.status;
  r.body = std::move(answer.body);
  for (const auto& line : answer.header_lines) {
    size_t colon = line.find(':');
    if (colon != std::string::npos)
      r.headers.emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  return r;
}

std::string escape(const std::string& s) {
  auto* escape_fn = module_function<HttpEscapeFn>(kHttpModule, kHttpEscapeSymbol, kHttpFeature);
  std::string out;
  escape_fn(s, &out);
  return out;
}

// The registry's own words about a failure: the OCI error body
// {"errors": [{"code": .., "message": ..}]}, else "".
std::string registry_message(const Response& r) {
  json doc = json::parse(r.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("errors") ||
      !doc["errors"].is_array() || doc["errors"].empty())
    return "";
  const json& e = doc["errors"][0];
  std::string code =
      e.contains("code") && e["code"].is_string() ? e["code"].get<std::string>() : "";
  std::string msg =
      e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
  std::string out = code.empty() ? msg : msg.empty() ? code : code + ": " + msg;
  for (char& ch : out)
    if (static_cast<unsigned char>(ch) < ' ') ch = ' ';
  return out.size() > 200 ? out.substr(0, 200) + "..." : out;
}

std::string status_text(const Response& r) {
  std::string s = "HTTP " + std::to_string(r.status);
  std::string m = registry_message(r);
  return m.empty() ? s : s + " (" + m + ")";
}

class Resolver {
 public:
  Resolver(const Reference& ref, const ResolveOptions& o)
      : ref_(ref),
        scheme_(o.plain_http ? "http" : "https"),
        what_("cannot resolve docker://" + ref.str() + " at registry " + ref.api_host()),
        creds_(find_credentials(ref.api_host(), o.home, o.authfile)) {
    if (!creds_ && ref.api_host() != ref.domain)
      creds_ = find_credentials(ref.domain, o.home, o.authfile);
  }

  Resolved run() {
    std::string url =
        scheme_ + "://" + ref_.api_host() + "/v2/" + ref_.path + "/manifests/" + ref_.tag;
    Request q{url, true, {kAccept}, nullptr};
    Response r = perform(q, what_ + " (" + url + ")");
    if (r.status == 401) {
      authenticate(r, q);
      r = perform(q, what_ + " (" + url + ")");
      if (r.status == 401 || r.status == 403) throw refused(r);
    }
    if (r.status == 200 && !is_sha256_digest(r.header("docker-content-digest"))) {
      // No usable digest header: fetch the manifest and hash it.
      q.head = false;
      r = perform(q, what_ + " (" + url + ")");
      if (r.status == 200) r.headers.erase("docker-content-digest");
    }
    if (r.status != 200) {
      if (q.head) {
        q.head = false;  // a HEAD answer has no body: ask again for the registry's words
        Response g = perform(q, what_ + " (" + url + ")");
        if (g.status == r.status) r = g;
      }
      std::string why = r.status == 404 ? ": no such tag or repository" : "";
      if (r.status == 401 || r.status == 403) throw refused(r);
      throw Error(what_ + ": " + status_text(r) + why);
    }
    Resolved out;
    out.ref = ref_;
    std::string digest = r.header("docker-content-digest");
    if (digest.empty()) digest = "sha256:" + sha256_hex(r.body);
    if (!is_sha256_digest(digest))
      throw Error(what_ + ": the registry named the manifest digest '" + digest +
                  "', which is not sha256:<64 hex>");
    out.ref.digest = digest;
    out.media_type = r.header("content-type");
    if (creds_ && used_creds_) out.auth_source = creds_->source;
    return out;
  }

 private:
  Error refused(const Response& r) const {
    if (creds_ && used_creds_)
      return Error(what_ + ": " + status_text(r) + ": the registry refused the credentials from " +
                   creds_->source);
    return Error(what_ + ": " + status_text(r) +
                 ": the registry wants credentials (set $APPTAINER_DOCKER_USERNAME and "
                 "$APPTAINER_DOCKER_PASSWORD, or run `apptainer registry login`)");
  }

  // Adds the Authorization the 401 answer r asks for to q.
  void authenticate(const Response& r, Request& q) {
    std::vector<Challenge> challenges;
    for (auto [it, end] = r.headers.equal_range("www-authenticate"); it != end; ++it) {
      auto more = parse_www_authenticate(it->second);
      challenges.insert(challenges.end(), more.begin(), more.end());
    }
    const Challenge* bearer = nullptr;
    const Challenge* basic = nullptr;
    for (const auto& c : challenges) {
      if (c.scheme == "bearer" && !bearer) bearer = &c;
      if (c.scheme == "basic" && !basic) basic = &c;
    }
    if (bearer) {
      q.headers.push_back("Authorization: Bearer " + token(*bearer));
    } else if (basic) {
      if (!creds_) throw refused(r);
      used_creds_ = true;
      q.basic = &*creds_;
    } else {
      throw Error(what_ + ": HTTP 401 without a Bearer or Basic challenge SifStore can answer");
    }
  }

  std::string token(const Challenge& c) {
    std::string realm = c.param("realm");
    if (realm.rfind("https://", 0) != 0 && realm.rfind("http://", 0) != 0)
      throw Error(what_ + ": the registry's token realm '" + realm + "' is not an HTTP(S) URL");
    std::string scope = c.param("scope");
    if (scope.empty()) scope = "repository:" + ref_.path + ":pull";
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    if (!c.param("service").empty()) url += "service=" + escape(c.param("service")) + "&";
    url += "scope=" + escape(scope);
    Request q{url, false, {}, nullptr};
    if (creds_) {
      used_creds_ = true;
      q.basic = &*creds_;
    }
    Response r = perform(q, what_ + ": token service " + realm);
    if (r.status == 401 || r.status == 403) throw refused(r);
    if (r.status != 200)
      throw Error(what_ + ": token service " + realm + " answered " + status_text(r));
    json doc = json::parse(r.body, nullptr, false);
    for (const char* key : {"token", "access_token"})
      if (!doc.is_discarded() && doc.is_object() && doc.contains(key) && doc[key].is_string() &&
          !doc[key].get<std::string>().empty())
        return doc[key].get<std::string>();
    throw Error(what_ + ": token service " + realm + " sent no token");
  }

  Reference ref_;
  std::string scheme_;
  std::string what_;
  std::optional<Credentials> creds_;
  bool used_creds_ = false;
};

}  // namespace

Resolved resolve_digest(const Reference& ref, const ResolveOptions& options) {
  if (!ref.digest.empty()) return Resolved{ref, "", ""};
  return Resolver(ref, options).run();
}

std::string no_https_flag(const std::vector<std::string>& build_args) {
  std::string found;
  for (const auto& a : build_args) {
    for (const char* flag : {"--no-https", "--nohttps", "-no-https", "-nohttps"}) {
      std::string f = flag;
      if (a == f || a == f + "=true" || a == f + "=1") found = a;
      if (a == f + "=false" || a == f + "=0") found.clear();
    }
  }
  return found;
}

}  // namespace sifstore::registry
