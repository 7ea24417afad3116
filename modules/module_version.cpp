// Every module says which SifStore it belongs to (core/module.h checks it).
#include "modules/module_export.h"

SIFSTORE_MODULE_EXPORT const char* sifstore_module_version() { return SIFSTORE_VERSION; }
