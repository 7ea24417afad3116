#include "core/layer_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.h"

namespace sifstore {

LayerLock::LayerLock(const Dir& layer_dir) {
  int fd = ::openat(layer_dir.fd(), kLayerLockFile,
                    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
  // Named as the layer's lock (not a lock file of packages): what cannot be
  // done is changing the layer.
  if (fd < 0)
    throw system_error("cannot lock layer " + layer_dir.path() + " (opening its layer lock file " +
                       kLayerLockFile + ")");
  fd_ = Fd(fd);
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
