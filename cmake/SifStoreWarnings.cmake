# Compiler settings shared by every SifStore target: warnings always on,
# sanitizers when SIFSTORE_SANITIZE (ASan+UBSan) or SIFSTORE_TSAN
# (ThreadSanitizer) is set. The two cannot be combined.
add_library(sifstore_options INTERFACE)
target_compile_options(sifstore_options INTERFACE -Wall -Wextra)
if(SIFSTORE_SANITIZE AND SIFSTORE_TSAN)
  message(FATAL_ERROR "SIFSTORE_SANITIZE and SIFSTORE_TSAN cannot be combined "
                      "(ThreadSanitizer excludes AddressSanitizer); use two build directories")
endif()
if(SIFSTORE_SANITIZE)
  target_compile_options(sifstore_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(sifstore_options INTERFACE -fsanitize=address,undefined)
endif()
if(SIFSTORE_TSAN)
  target_compile_options(sifstore_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(sifstore_options INTERFACE -fsanitize=thread)
endif()
