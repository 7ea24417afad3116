// The per-layer lock that serialises every mutation of one layer.
//
// An open-file-description fcntl lock (F_OFD_SETLKW) on the hidden file
// `<root>/<layer>/.sifstore-lock`. OFD locks belong to the open file, not the
// process, so two threads of one process exclude each other too, and they are
// forwarded to the server on NFS, so builders on several hosts sharing one
// store exclude each other. The lock is released when the LayerLock is
// destroyed (or the process dies).
//
// The file is hidden and never matches `<layer>-<ts>.*`, so the reference
// tool does not see it.
#pragma once

#include <string>

#include "core/fs.h"
#include "core/names.h"  // kLayerLockFile

namespace sifstore {

class LayerLock {
 public:
  // Blocks until the lock on layer_dir is held.
  explicit LayerLock(const Dir& layer_dir);
  LayerLock(LayerLock&&) = default;
  ~LayerLock() = default;

 private:
  Fd fd_;
};

}  // namespace sifstore
