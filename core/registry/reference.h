// Docker image references: what `From:` of a `Bootstrap: docker` stage
// names, parsed and normalised the way Docker's reference library
// (github.com/distribution/reference, which Apptainer reaches through
// containers/image) does, so that SifStore pins the image the builder pulls.
//
//   reference  := [domain '/'] path [':' tag] ['@' digest]
//   domain     := host [':' port]      the first component, when it holds a
//                                      '.' or a ':' or is "localhost"
//   path       := component ('/' component)*
//   component  := [a-z0-9]+ (('.' | '_' | '__' | '-'+) [a-z0-9]+)*
//   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest     := 'sha256:' 64 lower-case hex digits (the only algorithm
//                 registries use for manifests)
//
// Normalisation (what `docker pull` and Apptainer do):
//   python:3.11                  -> docker.io/library/python:3.11
//   python                       -> docker.io/library/python:latest (default tag)
//   myorg/tool                   -> docker.io/myorg/tool:latest
//   index.docker.io/python       -> docker.io/library/python:latest (alias)
//   localhost:5000/x/y:tag       -> localhost:5000/x/y:tag (a host with a port)
//   ghcr.io/a/b/c:1              -> ghcr.io/a/b/c:1 (nested namespaces)
//   name@sha256:<hex>            -> kept: already pinned, nothing to resolve
//   name:tag@sha256:<hex>        -> kept: the digest wins, the tag is recorded
// Docker Hub's name domain is docker.io; its API lives at
// registry-1.docker.io (api_host()). A leading "docker://" (or "//", the
// form Apptainer hands on) is accepted and dropped.
//
// Bad references are an Error saying what is wrong: empty, upper-case
// letters in the repository path ("repository name must be lowercase"), an
// empty or malformed component, a bad tag, a digest that is not
// sha256:<64 hex>, a name longer than 255 characters.
#pragma once

#include <string>
#include <string_view>

namespace sifstore::registry {

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000", "ghcr.io"
  std::string path;    // "library/python", "x/y"
  std::string tag;     // "latest" when neither tag nor digest was given; "" with a digest only
  std::string digest;  // "sha256:<hex>" or ""

  // domain/path: "docker.io/library/python".
  std::string name() const;
  // name[:tag][@digest], as normalised: "docker.io/library/python:3.11".
  std::string str() const;
  // name:tag (the tag a digest was resolved from); name alone without a tag.
  std::string tagged() const;
  // name@digest; requires a digest.
  std::string pinned() const;
  // The host (and port) whose /v2/ API serves the image:
  // "registry-1.docker.io" for docker.io, else the domain.
  std::string api_host() const;
};

// Parses and normalises a reference (see above). Throws Error naming the
// reference and the rule it breaks.
Reference parse_reference(std::string_view text);

// Whether text is a sha256 digest "sha256:<64 lower-case hex>".
bool is_sha256_digest(std::string_view text);

}  // namespace sifstore::registry
