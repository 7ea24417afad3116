# Compiler settings shared by every SifStore target: warnings always on,
# sanitizers when SIFSTORE_SANITIZE is set.
add_library(sifstore_options INTERFACE)
target_compile_options(sifstore_options INTERFACE -Wall -Wextra)
if(SIFSTORE_SANITIZE)
  target_compile_options(sifstore_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(sifstore_options INTERFACE -fsanitize=address,undefined)
endif()
