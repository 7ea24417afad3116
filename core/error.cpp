#include "core/error.h"

#include <cerrno>
#include <cstring>

namespace sifstore {

Error system_error(const std::string& what) { return system_error(what, errno); }

Error system_error(const std::string& what, int err) {
  return Error(what + ": " + std::strerror(err));
}

}  // namespace sifstore
