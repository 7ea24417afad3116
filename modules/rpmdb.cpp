// The sifstore-rpmdb module: librpm reading one RPM database directory
// (core/capture/rpmdb_module.h). Nothing here decides or reports; core does.

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmts.h>
#include <stdlib.h>

#include <mutex>

#include "core/capture/rpmdb_module.h"
#include "modules/module_export.h"

namespace {

std::string trimmed(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// What librpm logs during a query: errors are collected; nothing reaches
// stderr.
int log_callback(rpmlogRec rec, rpmlogCallbackData data) {
  auto* errors = static_cast<std::vector<std::string>*>(data);
  if (rpmlogRecPriority(rec) <= RPMLOG_ERR) errors->push_back(trimmed(rpmlogRecMessage(rec)));
  return 0;  // handled: do not print
}

}  // namespace

SIFSTORE_MODULE_EXPORT void sifstore_rpmdb_query(const std::string& dir, const std::string& backend,
                                                 const char* query_format,
                                                 sifstore::RpmdbAnswer* answer) {
  static std::mutex mutex;  // librpm's macro context and log callback are global
  static bool configured = false;
  std::lock_guard<std::mutex> hold(mutex);
  // The host librpm's own configuration (rpmrc, macros): backends and
  // defaults. The image's macros are never loaded into librpm.
  if (!configured) {
    if (rpmReadConfigFiles(nullptr, nullptr) != 0) {
      answer->config_error = "librpm could not read its configuration (rpmrc, macros)";
      return;
    }
    configured = true;
  }
  rpmlogCallback old_cb = rpmlogSetCallback(log_callback, &answer->errors);
  rpmPushMacro(nullptr, "_dbpath", nullptr, dir.c_str(), RMIL_CMDLINE);
  rpmPushMacro(nullptr, "_db_backend", nullptr, backend.c_str(), RMIL_CMDLINE);
  rpmts ts = rpmtsCreate();
  rpmtsSetRootDir(ts, "/");
  rpmdbMatchIterator mi = rpmtsInitIterator(ts, RPMDBI_PACKAGES, nullptr, 0);
  answer->opened = mi != nullptr;
  if (mi) {
    while (Header h = rpmdbNextIterator(mi)) {
      errmsg_t err = nullptr;
      char* s = headerFormat(h, query_format, &err);
      if (!s) {
        answer->format_error = err ? err : "headerFormat failed";
        break;
      }
      answer->lines.emplace_back(s);
      free(s);
    }
    rpmdbFreeIterator(mi);
  }
  rpmtsFree(ts);
  rpmPopMacro(nullptr, "_db_backend");
  rpmPopMacro(nullptr, "_dbpath");
  rpmlogSetCallback(old_cb, nullptr);
}
