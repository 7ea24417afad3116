// Capturing a lock: which versions are installed in an image
// (docs/DESIGN.md#capture).
//
// The reference captures a lock by running three commands inside the image
// (`apptainer exec --cleanenv --no-home IMAGE ...`):
//
//   pip freeze                      (then pip3 when pip printed nothing)
//   dpkg-query -W -f='${Package}=${Version}\n'
//   npm list -g --depth=0 --json
//
// and SifStore adds (lockfile.h: sections the reference skips)
//
//   rpm -qa --qf '%{NAME}=%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n'
//
// keeping each command's output only when it succeeded. capture_exec() does
// exactly that through the builder. capture_static() computes the same
// three outputs without running anything, by reading the image's squashfs
// in place (core/squashfs.h), and feeds them to the same parsers, so both
// methods yield the same PackageLock for the same image.
//
// One file per idea, in core/capture/:
//
//   dispatch.h     static or exec, and the whole lock with its facts
//   environment.h  the image's environment: PATH after /.singularity.d/env,
//                  which program a name runs, a script's interpreter
//   image_path.h   os.path's rules for paths inside the image
//   dpkg.h         Debian packages (/var/lib/dpkg/status and updates/)
//   pip.h          Python distributions as `pip freeze` lists them
//   python_path.h  an interpreter's version and sys.path
//   pep440.h       PEP 440 version normalisation
//   npm.h          npm's global packages as `npm list -g --json` prints them
//   rpm.h          RPM packages, read from the image's rpm database by librpm
//   conda.h        conda environments' packages (conda-meta records); static
//                  capture only: exec capture leaves [conda] empty
//
// A new ecosystem is one more file there, with its static_<tool>() reading
// the image and the reference's parser of the tool's output, called from
// dispatch.cpp for both methods.
//
// What static capture cannot see (documented divergences): shell logic in
// the environment scripts beyond plain assignments, a pip configuration
// file or user site directory, editable installs under version control
// (pip asks git; static capture prints "-e <path>"), npm user config.
#pragma once

#include "core/capture/conda.h"
#include "core/capture/dispatch.h"
#include "core/capture/dpkg.h"
#include "core/capture/npm.h"
#include "core/capture/pep440.h"
#include "core/capture/pip.h"
#include "core/capture/rpm.h"
