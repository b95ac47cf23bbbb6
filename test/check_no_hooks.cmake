# cmake -DSHIPPED=lib -DTESTING=lib -DNM=nm -P check_no_hooks.cmake
# Fails if the shipped library defines a test hook, or if the testing library lacks one of
# them (then this check could not see it). The hooks: the named crash points
# (sys/crash_point.hpp) and the fault-injecting I/O engine with the calls the library makes
# into it (io/fault.hpp).
set(hooks
  "shmregion::detail::crash_point"
  "shmregion::(v[0-9]+::)?io::fault::thread_engine_hook"
  "shmregion::(v[0-9]+::)?io::fault::owned_engine_hook"
  "shmregion::(v[0-9]+::)?io::fault::direct_request_hook"
  "shmregion::(v[0-9]+::)?io::fault::FaultEngine::submit"
  "shmregion::(v[0-9]+::)?io::fault::ScopedFaultPlan::ScopedFaultPlan"
  "shmregion::(v[0-9]+::)?io::fault::")
foreach(lib SHIPPED TESTING)
  execute_process(COMMAND ${NM} -C --defined-only ${${lib}} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${${lib}} failed (${rc})")
  endif()
  set(${lib}_HITS "")
  set(${lib}_MISSING "")
  foreach(hook IN LISTS hooks)
    string(REPLACE "." "\\." pattern "${hook}")
    string(REGEX MATCHALL "[^\n]*${pattern}[^\n]*" hits "${syms}")
    if(hits)
      list(APPEND ${lib}_HITS "${hits}")
    else()
      list(APPEND ${lib}_MISSING "${hook}")
    endif()
  endforeach()
endforeach()
if(SHIPPED_HITS)
  list(REMOVE_DUPLICATES SHIPPED_HITS)
  list(JOIN SHIPPED_HITS "\n" shown)
  message(FATAL_ERROR "the shipped library ${SHIPPED} defines test hooks:\n${shown}")
endif()
if(TESTING_MISSING)
  message(FATAL_ERROR "the testing library ${TESTING} does not define ${TESTING_MISSING}: this check cannot see those hooks")
endif()
list(LENGTH hooks n)
message(STATUS "no test hooks in ${SHIPPED}; ${TESTING} has all ${n}")
