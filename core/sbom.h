// Software bills of materials of an image, from its lock
// (docs/DESIGN.md#provenance).
//
// The lock already lists every package of the image exactly; an SBOM is
// that list in a standard format, each package named by its package URL
// (core/purl.h), the Debian ones with the distribution and architecture of
// the image (its /etc/os-release and the primary partition's arch), plus
// the operating system itself and the base the image was built from (a
// registry image as pkg:oci/...@sha256:..., or the store build it is).
//
//   CycloneDX 1.5 JSON   what SifStore embeds in every SIF it publishes
//                        (SIF SBOM object, format cyclonedx-json); checked
//                        against the official JSON schema by the tests
//   SPDX 2.3 JSON        on request (`sifstore sbom --format spdx`)
//
// The output is deterministic: the same subject gives the same bytes (the
// serial number and document namespace are derived from the content, the
// time is the subject's). Package hashes are not given: the lock does not
// record any (dpkg keeps none per package).
#pragma once

#include <optional>
#include <string>

#include "core/lockfile.h"
#include "core/squashfs.h"

namespace sifstore {

struct SbomSubject {
  std::string name;        // the layer, or the image file's name
  std::string version;     // the build's <ts>, or ""
  PackageLock lock;        // packages; facts base-image, base-tag
  std::string os_id;       // os-release ID ("debian", "ubuntu"), "" when unknown
  std::string os_version;  // os-release VERSION_ID ("12")
  std::string os_name;     // os-release PRETTY_NAME
  std::string arch;        // the primary partition's Go arch ("amd64")
  std::string timestamp;   // ISO 8601 UTC, "2026-12-06T23:35:34Z"
};

// Fills os_id, os_version and os_name from the image's /etc/os-release (or
// /usr/lib/os-release); leaves them empty when there is none.
void read_os_release(const SquashfsImage& fs, SbomSubject& subject);

// The ISO 8601 UTC text of Unix time t.
std::string iso8601_utc(int64_t t);

std::string cyclonedx_json(const SbomSubject& subject);
std::string spdx_json(const SbomSubject& subject);

}  // namespace sifstore
