# cmake -DSHIPPED=lib -DTESTING=lib -DNM=nm -P check_no_hooks.cmake
# Fails if the shipped library defines a test hook, or if the testing library does not (then
# this check could not see one).
foreach(lib SHIPPED TESTING)
  execute_process(COMMAND ${NM} -C --defined-only ${${lib}} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${${lib}} failed (${rc})")
  endif()
  string(REGEX MATCHALL "[^\n]*shmregion::detail::crash_point[^\n]*" hits "${syms}")
  set(${lib}_HITS "${hits}")
endforeach()
if(SHIPPED_HITS)
  message(FATAL_ERROR "the shipped library ${SHIPPED} defines test hooks:\n${SHIPPED_HITS}")
endif()
if(NOT TESTING_HITS)
  message(FATAL_ERROR "the testing library ${TESTING} defines no crash_point: this check cannot see hooks")
endif()
message(STATUS "no test hooks in ${SHIPPED}; ${TESTING} has them")
