# Included by CTest (TEST_INCLUDE_FILES) for each binary made by shmregion_add_test(), through
# <name>_groups.cmake in its build directory, which sets SHMREGION_T_NAME, _EXE, _ARGS,
# _LABELS, _TIMEOUT and _FIXTURE. Asks the binary for its capability groups (--list_groups,
# test/support/test_main.cpp) and registers the entry <name> for the cases in no group
# (--group=other) and <name>.<group> for each group (--group=<group>), in that order.
cmake_policy(VERSION 3.25)  # this file's own policy scope (include() pushes one)
function(shmregion_register_entry entry group)
  add_test("${entry}" "${SHMREGION_T_EXE}" "--group=${group}" ${SHMREGION_T_ARGS})
  set_tests_properties("${entry}" PROPERTIES LABELS "${SHMREGION_T_LABELS}" TIMEOUT "${SHMREGION_T_TIMEOUT}"
                       SKIP_RETURN_CODE 77 RESOURCE_LOCK "${SHMREGION_T_NAME}")
  if(SHMREGION_T_FIXTURE)
    set_tests_properties("${entry}" PROPERTIES FIXTURES_REQUIRED "${SHMREGION_T_FIXTURE}")
  endif()
endfunction()

if(NOT EXISTS "${SHMREGION_T_EXE}")
  shmregion_register_entry("${SHMREGION_T_NAME}" other)  # fails: the binary is not built
  return()
endif()
execute_process(COMMAND "${SHMREGION_T_EXE}" --list_groups
                OUTPUT_VARIABLE shmregion_groups ERROR_VARIABLE shmregion_error
                RESULT_VARIABLE shmregion_rc TIMEOUT 120)
if(NOT shmregion_rc EQUAL 0)
  # An entry that fails with the binary's own complaint (e.g. a case in two groups).
  add_test("${SHMREGION_T_NAME}.list_groups" "${SHMREGION_T_EXE}" --list_groups)
  set_tests_properties("${SHMREGION_T_NAME}.list_groups" PROPERTIES LABELS "${SHMREGION_T_LABELS}" TIMEOUT 120)
  return()
endif()
string(STRIP "${shmregion_groups}" shmregion_groups)
string(REPLACE "\n" ";" shmregion_groups "${shmregion_groups}")
if("other" IN_LIST shmregion_groups)
  shmregion_register_entry("${SHMREGION_T_NAME}" other)
endif()
foreach(shmregion_group IN LISTS shmregion_groups)
  if(NOT shmregion_group STREQUAL "" AND NOT shmregion_group STREQUAL "other")
    shmregion_register_entry("${SHMREGION_T_NAME}.${shmregion_group}" "${shmregion_group}")
  endif()
endforeach()
