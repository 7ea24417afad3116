// The interface between core/registry/resolve.cpp and the sifstore-http
// module (modules/http.cpp), which alone links libcurl (see core/module.h
// for why).
//
// The module performs one HTTP exchange as asked and reports what came back
// or why nothing did; resolve.cpp builds the requests, reads the answers and
// writes every message a user sees.
#pragma once

#include <string>
#include <vector>

namespace sifstore::registry {

struct HttpRequest {
  std::string url;
  bool head = false;                 // HEAD instead of GET
  std::vector<std::string> headers;  // "Name: value"
  bool basic_auth = false;           // send username/password with Basic
  std::string username, password;
  std::string user_agent;
  std::string ca_file, ca_dir;  // "" for libcurl's defaults
  long connect_timeout = 0;     // seconds
  long timeout = 0;             // seconds, the whole exchange
  size_t max_body = 0;          // a longer body fails the exchange
};

struct HttpAnswer {
  bool ok = false;  // an answer came (any status)
  long status = 0;
  std::vector<std::string> header_lines;  // of the final answer, as received
  std::string body;
  // When !ok: libcurl's words, and whether the body was too large or a TLS
  // handshake failed.
  std::string error;
  bool body_too_large = false;
  bool tls_failed = false;
};

// modules/http.cpp exports, with C linkage:
//   void sifstore_http_perform(const HttpRequest& request, HttpAnswer* answer);
//   void sifstore_http_escape(const std::string& text, std::string* escaped);
// (percent-encoding for a URL's query, as curl_easy_escape does it).
using HttpPerformFn = void(const HttpRequest& request, HttpAnswer* answer);
using HttpEscapeFn = void(const std::string& text, std::string* escaped);
constexpr const char* kHttpModule = "sifstore-http";
constexpr const char* kHttpPerformSymbol = "sifstore_http_perform";
constexpr const char* kHttpEscapeSymbol = "sifstore_http_escape";

}  // namespace sifstore::registry
