#include "core/module.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace sifstore {
namespace {

std::string executable_dir() {
  std::vector<char> buf(PATH_MAX + 1);
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return "";
  std::string path(buf.data(), static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::vector<std::string> candidates(const std::string& name) {
  std::vector<std::string> out;
  std::string exe_dir = executable_dir();
  if (!exe_dir.empty()) out.push_back(exe_dir + "/" SIFSTORE_MODULE_RELDIR "/" + name + ".so");
  std::string built = SIFSTORE_MODULE_BUILD_DIR "/" + name + ".so";
  if (out.empty() || out.front() != built) out.push_back(built);
  return out;
}

void* open_module(const std::string& name, const std::string& feature) {
  std::string tried;
  for (const auto& path : candidates(name)) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += "\n  " + path + ": not there";
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      throw Error("cannot load " + path + " (needed for " + feature + "): " + ::dlerror());
    using VersionFn = const char*();
    auto* version = reinterpret_cast<VersionFn*>(::dlsym(handle, "sifstore_module_version"));
    std::string v = version ? version() : "an unknown version";
    if (v != SIFSTORE_VERSION)
      throw Error(path + " is from SifStore " + v +
                  ", this sifstore is " SIFSTORE_VERSION
                  ": reinstall SifStore so that its executable and modules match");
    return handle;
  }
  throw Error(feature + " needs SifStore's module " + name +
              ".so, which is not installed with this sifstore; looked in:" + tried);
}

}  // namespace

void* module_symbol(const std::string& name, const char* symbol, const std::string& feature) {
  static std::mutex mutex;
  static std::map<std::string, void*> loaded;
  std::lock_guard<std::mutex> hold(mutex);
  void*& handle = loaded[name];
  if (!handle) handle = open_module(name, feature);
  void* address = ::dlsym(handle, symbol);
  if (!address)
    throw Error("SifStore's module " + name + ".so lacks " + symbol + " (needed for " + feature +
                "): reinstall SifStore");
  return address;
}

}  // namespace sifstore
