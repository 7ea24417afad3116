// Running the reference tool's lock module (../shared/reference/
// scitex_lockgen.py) with python3, for tests that compare SifStore with it.
//
// The reference imports two things from its package that these tests do not
// need (a decorator and a container-command lookup); a shim package with
// no-op stand-ins is written into a temporary directory and put on
// PYTHONPATH. A small driver script answers:
//   write SPEC.json OUT.lock     write_lock(Lock(**spec), OUT.lock)
//   read LOCK                    {"pip", "dpkg", "node", "version_set"} as JSON
//   compare A.lock B.lock        {"identical", "summary", "changed", "only_in_a", "only_in_b"}
//   locked-def ROUGH LOCK OUT    generate_locked_def(ROUGH, read_lock(LOCK), OUT)
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace sifstore::test {

class ReferencePython {
 public:
  ReferencePython();
  // Why the reference cannot run here ("" when it can): ../shared is absent
  // (a user's clone) or there is no python3. Tests GTEST_SKIP() with it.
  const std::string& unavailable() const { return unavailable_; }
  // Runs the driver; its JSON output (null when it printed nothing). A
  // failure is reported through `error` (empty on success).
  nlohmann::json run(const std::vector<std::string>& args, std::string* error);
  // A scratch directory for input files.
  const TempDir& dir() const { return tmp_; }

 private:
  TempDir tmp_;
  std::string unavailable_;
};

}  // namespace sifstore::test
