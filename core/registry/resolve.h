// Resolving an image tag to the digest of its manifest, through the
// registry's HTTP API (OCI distribution spec, "pulling manifests"):
//
//   HEAD <scheme>://<api host>/v2/<path>/manifests/<tag>
//   Accept: application/vnd.oci.image.index.v1+json,
//           application/vnd.oci.image.manifest.v1+json,
//           application/vnd.docker.distribution.manifest.list.v2+json,
//           application/vnd.docker.distribution.manifest.v2+json
//
// The digest is the `Docker-Content-Digest` of the answer: for a
// multi-platform image, that of its image index (the builder picks its
// platform from it, so the pin holds on every platform). A registry that
// sends no such header is asked with GET and the digest is the sha256 of
// the manifest's bytes.
//
// Authentication, as Docker and Apptainer do it: a 401 answer's
// `WWW-Authenticate` (core/registry/www_authenticate.h) says
//   Bearer realm=..,service=..,scope=..  -> GET <realm>?service=..&scope=..
//        (with the credentials as basic auth when there are any; anonymous
//        otherwise) returns {"token": ...}, sent as `Authorization: Bearer`;
//   Basic realm=..                       -> the request again with the
//        credentials (core/registry/credentials.h) as basic auth.
//
// Transport: HTTPS, verified against the system's CA store, or the file
// $SSL_CERT_FILE (directory $SSL_CERT_DIR) when set; plain HTTP when
// ResolveOptions::plain_http (the builder was given --no-https). HTTP is
// libcurl's. Timeouts: 15 s to connect, 60 s per request
// ($SIFSTORE_REGISTRY_TIMEOUT seconds when set); redirects are followed
// (at most 5, HTTP(S) only, credentials never sent to another host).
//
// Every failure is an Error naming the reference, the registry and, when
// the registry answered, the HTTP status: an unreachable registry, a tag
// or repository that does not exist (404), credentials refused (401/403),
// credentials missing where the registry demands them. Credentials and
// tokens never appear in a message.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/registry/reference.h"

namespace sifstore::registry {

struct ResolveOptions {
  bool plain_http = false;
  std::optional<std::string> home;      // where credential files are looked up (default $HOME)
  std::optional<std::string> authfile;  // the builder's --authfile
};

struct Resolved {
  Reference ref;            // as asked, with digest set
  std::string media_type;   // the manifest's Content-Type, "" when not sent
  std::string auth_source;  // where the credentials came from, "" when anonymous
};

// Resolves ref's tag to a digest. A reference that already holds a digest
// is returned as it is, without asking the registry.
Resolved resolve_digest(const Reference& ref, const ResolveOptions& options);

// Apptainer's flag for plain HTTP among builder arguments, as spelled there
// ("--no-https", "--nohttps", or with "=true"/"=1"), or "" when absent or
// given as false.
std::string no_https_flag(const std::vector<std::string>& build_args);

}  // namespace sifstore::registry
