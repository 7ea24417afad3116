# Runs one libFuzzer target for a bounded time on a fresh copy of its seed
# corpus (see CMakeLists.txt):
#   cmake -DFUZZER=exe -DCORPUS=seeds -DWORK=dir -DARTIFACTS=dir -DSECONDS=n [-DDICT=-dict=f]
#         -P run_fuzzer.cmake
foreach(var FUZZER CORPUS WORK ARTIFACTS SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}" "${ARTIFACTS}")
file(COPY "${CORPUS}/" DESTINATION "${WORK}")
set(args -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
         -artifact_prefix=${ARTIFACTS}/)
if(DICT)
  list(APPEND args ${DICT})
endif()
execute_process(COMMAND "${FUZZER}" ${args} "${WORK}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}); the input that caused it is in ${ARTIFACTS}")
endif()
