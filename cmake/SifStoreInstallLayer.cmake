# Installs a layer's active build: the install step of install_sif_layer()
# (see SifStore.cmake), run by `cmake --install` (and CPack) with
#
#   SIFSTORE_INSTALL_ROOT         the store
#   SIFSTORE_INSTALL_LAYER        the layer
#   SIFSTORE_INSTALL_DESTINATION  the directory, relative to the install prefix or absolute
#
# The build is the one the latest pointer <root>/<layer>.sif names when the
# install runs. Its image, lock and locked def are installed as regular
# files named <layer>.sif, <layer>.lock and <layer>.def (file(INSTALL) would
# copy a symlink as a symlink, dangling in the prefix). The lock and def are
# those of the build <layer>.sif names, read from the build itself rather
# than through <layer>.lock and <layer>.def, so the three always belong
# together, even while a build is publishing.
foreach(var SIFSTORE_INSTALL_ROOT SIFSTORE_INSTALL_LAYER SIFSTORE_INSTALL_DESTINATION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "SifStoreInstallLayer.cmake: ${var} is not set")
  endif()
endforeach()

set(_layer "${SIFSTORE_INSTALL_LAYER}")
set(_pointer "${SIFSTORE_INSTALL_ROOT}/${_layer}.sif")
if(NOT IS_SYMLINK "${_pointer}" OR NOT EXISTS "${_pointer}")
  message(FATAL_ERROR "install_sif_layer(${_layer}): ${_pointer} is not a latest pointer "
    "naming an image: build the layer before installing it (e.g. ninja sif-${_layer})")
endif()
file(READ_SYMLINK "${_pointer}" _target)
string(REGEX MATCH "^([^/]+)/([^/]+)-([0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9])\\.sif$"
  _match "${_target}")
if(NOT _match OR NOT CMAKE_MATCH_1 STREQUAL _layer OR NOT CMAKE_MATCH_2 STREQUAL _layer)
  message(FATAL_ERROR "install_sif_layer(${_layer}): ${_pointer} names ${_target}, not a build "
    "of the layer (sifstore fsck --repair, or sifstore point-latest)")
endif()
set(_build "${SIFSTORE_INSTALL_ROOT}/${_layer}/${_layer}-${CMAKE_MATCH_3}")

set(_destination "${SIFSTORE_INSTALL_DESTINATION}")
if(NOT IS_ABSOLUTE "${_destination}")
  set(_destination "${CMAKE_INSTALL_PREFIX}/${_destination}")
endif()
foreach(_suffix sif lock def)
  if(NOT EXISTS "${_build}.${_suffix}" OR IS_DIRECTORY "${_build}.${_suffix}")
    message(FATAL_ERROR "install_sif_layer(${_layer}): the active build has no "
      "${_build}.${_suffix} (sifstore fsck tells what is wrong with the store)")
  endif()
  # file(INSTALL) skips a destination whose time matches the source's to the
  # second, which two builds made within one second (or a rollback to one)
  # can share: an installed file that is not this build's is removed first.
  set(_installed "$ENV{DESTDIR}${_destination}/${_layer}.${_suffix}")
  if(EXISTS "${_installed}")
    execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${_build}.${_suffix}"
      "${_installed}" RESULT_VARIABLE _differ OUTPUT_QUIET ERROR_QUIET)
    if(_differ)
      file(REMOVE "${_installed}")
    endif()
  endif()
  # file(INSTALL) applies DESTDIR and records the file in the install manifest.
  file(INSTALL DESTINATION "${_destination}" TYPE FILE RENAME "${_layer}.${_suffix}"
    FILES "${_build}.${_suffix}")
endforeach()
