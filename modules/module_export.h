// What a module exports: its entry points, with C linkage and default
// visibility (everything else in a module is hidden).
#pragma once

#define SIFSTORE_MODULE_EXPORT extern "C" __attribute__((visibility("default")))
