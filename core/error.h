// Errors raised by libsifstore.
//
// Every failure in core/ is reported as a sifstore::Error whose message is
// meant for the user: it names the file, layer or argument at fault and says
// what to do. core/ never prints and never exits; tool/ turns an Error into
// `sifstore: error: <message>` and exit status 1.
#pragma once

#include <stdexcept>
#include <string>

namespace sifstore {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Builds an Error from the current errno: "<what>: <strerror(errno)>".
Error system_error(const std::string& what);
Error system_error(const std::string& what, int err);

}  // namespace sifstore
