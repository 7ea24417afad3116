// Package URLs (https://github.com/package-url/purl-spec) for the packages
// of a lock: the identifiers an SBOM gives its components.
//
//   Debian      pkg:deb/debian/<name>@<version>?arch=<arch>&distro=debian-<VERSION_ID>
//               (pkg:deb/ubuntu/... for Ubuntu: the namespace is the
//               image's os-release ID)
//   Python      pkg:pypi/<PEP 503 name>@<version>
//   npm         pkg:npm/<name>@<version>, pkg:npm/%40<scope>/<name>@<version>
//   RPM         pkg:rpm/<os-release
//   ID>/<name>@<version>-<release>?arch=<arch>[&epoch=<e>]&distro=<ID>-<VERSION_ID> conda
//   pkg:conda/<name>@<version>?build=<build>[&channel=<channel>] OCI image
//   pkg:oci/<name>@sha256%3A<hex>?repository_url=<registry/path>[&tag=<tag>]
//
// Each part is percent-encoded as the spec says: everything but ASCII
// letters, digits and ".-_~" is encoded, except ':' (which the spec leaves
// alone) and, in qualifier values, '/'.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sifstore {

// The spec's percent-encoding of one part; keep_slash for qualifier values.
std::string purl_encode(std::string_view text, bool keep_slash = false);

// The Debian architecture name of a Go architecture name (SIF's), as dpkg
// prints it: "amd64" -> "amd64", "386" -> "i386", "ppc64le" -> "ppc64el",
// "arm" -> "armhf", "mipsle" -> "mipsel", "mips64le" -> "mips64el".
std::string debian_arch(std::string_view go_arch);

std::string deb_purl(std::string_view distro_id, std::string_view name, std::string_view version,
                     std::string_view arch, std::string_view distro_version);
std::string pypi_purl(std::string_view name, std::string_view version);
std::string npm_purl(std::string_view name, std::string_view version);
// From a lock's [rpm] line "name=[epoch:]version-release.arch".
std::string rpm_purl(std::string_view distro_id, std::string_view line,
                     std::string_view distro_version);
std::string conda_purl(std::string_view name, std::string_view version, std::string_view build,
                       std::string_view channel);

// The purl of a registry image reference such as
// "docker://docker.io/library/debian@sha256:<hex>" or
// "docker.io/library/debian:12@sha256:<hex>"; nullopt when it names no
// sha256 digest. `tag` (the lock's base-tag fact: a tag, or the reference
// as written, "docker://debian:12") gives the tag qualifier.
std::optional<std::string> oci_purl(std::string_view reference, std::string_view tag = "");

}  // namespace sifstore
