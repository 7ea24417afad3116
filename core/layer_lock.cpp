#include "core/layer_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.h"

namespace sifstore {

LayerLock::LayerLock(const Dir& layer_dir) {
  // Named as the layer's lock (not a lock file of packages): what cannot be
  // done is changing the layer. Shared as the store asks, so that every
  // member of a team's group may take it.
  fd_ = layer_dir.create_file(kLayerLockFile, O_RDWR | O_NONBLOCK, 0666,
                              "cannot lock layer " + layer_dir.path() +
                                  " (opening its layer lock file " + kLayerLockFile + ")");
  int fd = fd_.get();
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;
  while (::fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
    if (errno == EINTR) continue;
    throw system_error("cannot lock layer " + layer_dir.path() + " (its layer lock file " +
                       kLayerLockFile + ")");
  }
}

}  // namespace sifstore
