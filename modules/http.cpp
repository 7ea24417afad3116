// The sifstore-http module: libcurl performing one HTTP exchange
// (core/registry/http_module.h). Nothing here decides or reports; core does.

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "core/registry/http_module.h"
#include "modules/module_export.h"

using sifstore::registry::HttpAnswer;
using sifstore::registry::HttpRequest;

namespace {

struct Transfer {
  HttpAnswer* answer;
  size_t max_body;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->answer->body.size() + size * n > t->max_body) {
    t->answer->body_too_large = true;
    return 0;  // aborts the transfer
  }
  t->answer->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  // A status line starts a new answer (after a redirect or 100 Continue).
  if (line.rfind("HTTP/", 0) == 0)
    t->answer->header_lines.clear();
  else
    t->answer->header_lines.push_back(std::move(line));
  return size * n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

SIFSTORE_MODULE_EXPORT void sifstore_http_perform(const HttpRequest& q, HttpAnswer* answer) {
  global_init();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) {
    answer->error = "cannot initialise libcurl";
    return;
  }
  CURL* c = curl.get();
  Transfer transfer{answer, q.max_body};
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
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, q.connect_timeout);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, q.timeout);
  curl_easy_setopt(c, CURLOPT_USERAGENT, q.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  if (q.head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (!q.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, q.ca_file.c_str());
  if (!q.ca_dir.empty()) curl_easy_setopt(c, CURLOPT_CAPATH, q.ca_dir.c_str());
  if (q.basic_auth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, q.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, q.password.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    answer->error = *errbuf ? errbuf : curl_easy_strerror(rc);
    answer->tls_failed = rc == CURLE_SSL_CONNECT_ERROR;
    return;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer->status);
  answer->ok = true;
}

SIFSTORE_MODULE_EXPORT void sifstore_http_escape(const std::string& text, std::string* escaped) {
  global_init();
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  char* e = curl_easy_escape(curl.get(), text.c_str(), static_cast<int>(text.size()));
  *escaped = e ? e : "";
  curl_free(e);
}
