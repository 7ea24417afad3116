// The interface between core/capture/rpm.cpp and the sifstore-rpmdb module
// (modules/rpmdb.cpp), which alone links librpm (see core/module.h for why).
//
// The module only talks to librpm: it opens the database in a directory
// with the backend it is given, formats every header with the query format
// and reports what librpm said. Everything else -- finding the database in
// the image, choosing the backend, the errors a user reads -- stays in
// core.
#pragma once

#include <string>
#include <vector>

namespace sifstore {

struct RpmdbAnswer {
  bool opened = false;              // librpm gave an iterator over the packages
  std::vector<std::string> lines;   // one formatted header each, unsorted
  std::vector<std::string> errors;  // what librpm logged at error level or worse
  std::string config_error;         // librpm could not read its own configuration
  std::string format_error;         // headerFormat failed (the first failure)
};

// modules/rpmdb.cpp exports, with C linkage:
//   void sifstore_rpmdb_query(const std::string& dir, const std::string& backend,
//                             const char* query_format, RpmdbAnswer* answer);
// librpm is not thread-safe: the module serialises its calls.
using RpmdbQueryFn = void(const std::string& dir, const std::string& backend,
                          const char* query_format, RpmdbAnswer* answer);
constexpr const char* kRpmdbModule = "sifstore-rpmdb";
constexpr const char* kRpmdbQuerySymbol = "sifstore_rpmdb_query";

}  // namespace sifstore
