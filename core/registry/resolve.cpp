#include "core/registry/resolve.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/registry/credentials.h"
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

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  if (r->body.size() + size * n > kMaxBody) return 0;  // aborts the transfer
  r->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a new answer (after a redirect or 100 Continue)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos)
    r->headers.emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  return size * n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Request {
  std::string url;
  bool head = false;
  std::vector<std::string> headers;
  const Credentials* basic = nullptr;
};

// One HTTP exchange. Throws Error (naming `what`) when no answer came.
Response perform(const Request& q, const std::string& what) {
  global_init();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw Error("cannot initialise libcurl");
  CURL* c = curl.get();
  Response r;
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_slist* hdrs = nullptr;
  for (const auto& h : q.headers) hdrs = curl_slist_append(hdrs, h.c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> hdr_guard(hdrs, curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_URL, q.url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, kConnectTimeout);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_seconds());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "sifstore/" SIFSTORE_VERSION);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  if (q.head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (const char* ca = std::getenv("SSL_CERT_FILE"); ca && *ca)
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  if (const char* dir = std::getenv("SSL_CERT_DIR"); dir && *dir)
    curl_easy_setopt(c, CURLOPT_CAPATH, dir);
  if (q.basic) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, q.basic->username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, q.basic->password.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    std::string detail = *errbuf ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_WRITE_ERROR)
      detail = "the answer is larger than " + std::to_string(kMaxBody) + " bytes";
    std::string hint;
    if (rc == CURLE_SSL_CONNECT_ERROR && q.url.rfind("https:", 0) == 0)
      hint = " (a registry that speaks plain HTTP needs --no-https among the build args)";
    throw Error(what + ": " + detail + hint);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

std::string escape(const std::string& s) {
  global_init();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  char* e = curl_easy_escape(curl.get(), s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
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
