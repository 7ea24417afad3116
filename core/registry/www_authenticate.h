// The `WWW-Authenticate` header of a registry's 401 answer (RFC 7235 §4.1),
// which says how to authenticate:
//
//   WWW-Authenticate: Bearer realm="https://auth.docker.io/token",
//                     service="registry.docker.io",scope="repository:library/python:pull"
//   WWW-Authenticate: Basic realm="basic-realm"
//
// challenge := scheme [ 1*SP ( token68 | auth-param *( OWS ',' OWS auth-param ) ) ]
// auth-param := token OWS '=' OWS ( token | quoted-string )
//
// Quoted strings may hold commas, '=' and backslash escapes (\" and \\; a
// backslash quotes any character). Schemes and parameter names are
// case-insensitive: they are returned lower-cased; values as sent. Several
// challenges in one header ("Basic realm=x, Bearer realm=y") are returned in
// order. Empty list elements (",,") are skipped, as RFC 7230 §7 asks. A
// malformed header (an unclosed quote, a parameter without a name) is an
// Error quoting it.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sifstore::registry {

struct Challenge {
  std::string scheme;                         // "bearer", "basic", ...
  std::map<std::string, std::string> params;  // "realm", "service", "scope", ...
  std::string token68;                        // a bare token68 instead of params

  // params[name], "" when absent.
  std::string param(const std::string& name) const;
};

std::vector<Challenge> parse_www_authenticate(std::string_view header);

}  // namespace sifstore::registry
