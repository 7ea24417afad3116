// Capturing a lock, static or exec: the one entry point the CLI and the
// build chain call (core/capture.h explains the two methods).
#pragma once

#include <string>
#include <vector>

#include "core/lockfile.h"
#include "core/squashfs.h"

namespace sifstore {

enum class CaptureMethod { kStatic, kExec };

// Parses "static" or "exec"; throws Error otherwise.
CaptureMethod parse_capture_method(const std::string& word);

// A lock for the image at sif_path, with facts "image-sha256" (of the SIF
// file) and "captured-by" ("static" or "exec"; exec adds "builder").
// builder is the command line of the builder for exec ("apptainer" when
// empty), split into words like a shell does. What static capture read
// with a warning (as the package tool would have) is appended to
// `warnings` when it is given; the caller shows it.
PackageLock capture_lock(const std::string& sif_path, CaptureMethod method,
                         const std::string& builder = "apptainer",
                         std::vector<std::string>* warnings = nullptr);

// Static capture: the three sections read from the image's primary
// squashfs partition (core/capture/dpkg.h, pip.h, npm.h); no facts. This
// is the part the benchmark times.
PackageLock capture_static(const SquashfsImage& fs, std::vector<std::string>* warnings = nullptr);

// Exec capture: the three sections from running the commands inside the
// image with `<builder> exec --cleanenv --no-home SIF ...`; no facts. A
// builder that is not found is an Error saying what to install or pass.
PackageLock capture_exec(const std::string& sif_path, const std::string& builder = "apptainer");

}  // namespace sifstore
