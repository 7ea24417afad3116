# Points a layer's latest pointer at its newest build: the command of the
# sif-<layer>-point-latest and sif-point-latest targets (see SifStore.cmake).
#
#   cmake -DSIFSTORE=<sifstore> -DROOT=<store> -DLAYER=<layer> -P SifStorePointLatest.cmake
#
# The newest build is the first one `sifstore list --json` prints. A layer
# without builds is reported and left alone.
cmake_minimum_required(VERSION 3.20)

foreach(var SIFSTORE ROOT LAYER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "SifStorePointLatest.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(
  COMMAND "${SIFSTORE}" --root "${ROOT}" list "${LAYER}" --json
  OUTPUT_VARIABLE builds
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "sifstore list ${LAYER} failed (${status})")
endif()
string(JSON count LENGTH "${builds}")
if(count EQUAL 0)
  message(STATUS "${LAYER}: no builds in ${ROOT}; nothing to point at")
  return()
endif()
string(JSON newest GET "${builds}" 0 ts)
string(JSON active GET "${builds}" 0 active)
if(active)
  message(STATUS "${LAYER}: latest already names the newest build, ${newest}")
  return()
endif()
execute_process(
  COMMAND "${SIFSTORE}" --root "${ROOT}" point-latest "${LAYER}" "${newest}"
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "sifstore point-latest ${LAYER} ${newest} failed (${status})")
endif()
