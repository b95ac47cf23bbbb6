# cmake -DEXE=skip_selftest -DTWO_GROUPS=skip_selftest_two_groups -DGROUPS_FILE=<its groups
#       file> -DCTEST=ctest -DWORK=<scratch dir> -P check_skips.cmake
# Checks the skip mechanism end to end: the exit code of each group of skip_selftest (77
# exactly where every case skipped, 0 where one passed), the errors, and a CTest run of its
# entries registered as shmregion_add_test() registers them (the same generated file, with
# no fixture): the skips reported as Skipped,
# the passes as Passed, ctest exiting 0.
set(failures 0)

function(expect what rc_want pattern)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(ok TRUE)
  if(rc_want STREQUAL "failure")
    if(rc EQUAL 0 OR rc EQUAL 77)
      set(ok FALSE)
    endif()
  elseif(NOT rc STREQUAL rc_want)
    set(ok FALSE)
  endif()
  if(ok AND NOT pattern STREQUAL "" AND NOT "${out}${err}" MATCHES "${pattern}")
    set(ok FALSE)
  endif()
  if(ok)
    message(STATUS "ok: ${what} (exit ${rc})")
  else()
    message(STATUS "FAILED: ${what}: exit ${rc}, expected ${rc_want} and output matching '${pattern}'; output:\n${out}${err}")
    math(EXPR f "${failures} + 1")
    set(failures ${f} PARENT_SCOPE)
  endif()
endfunction()

set(args --color_output=false --report_level=short)
expect("--list_groups names every group and 'other'" 0
       "^needs_nothing_real\nneeds_sample_a\nneeds_sample_b\nother\n$" ${EXE} --list_groups)
expect("a group whose only case skips exits 77" 77 "SKIPPED always_skips \\[needs_nothing_real\\]: this case always skips \\(a self-test"
       ${EXE} --group=needs_nothing_real ${args})
expect("a sample's group that skips exits 77" 77 "sample a skips" ${EXE} --group=needs_sample_a ${args})
expect("a sample's group that passes exits 0" 0 "has passed" ${EXE} --group=needs_sample_b ${args})
expect("the cases in no group pass" 0 "Running 2 test cases" ${EXE} --group=other ${args})
expect("a run of everything passes and warns of the skips it hides" 0
       "2 of 5 test cases that ran were skipped.*warning: 3 other cases passed" ${EXE} ${args})
expect("a group with no case exits 0 saying so" 0 "no test case in capability group 'needs_nothing'" ${EXE} --group=needs_nothing)
expect("a skip outside any group is a failure" failure "is in no capability group"
       ${EXE} --run_test=skip_outside_any_group ${args})
expect("a skip after a failed check is a failure" failure "1 \\+ 1 == 3" ${EXE} --run_test=skip_after_a_failure ${args})
expect("a case in two groups is refused" failure "more than one capability group" ${TWO_GROUPS} --list_groups)

# CTest itself, on the entries shmregion_test_groups() registers (test/CMakeLists.txt).
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(WRITE "${WORK}/CTestTestfile.cmake" "include(\"${GROUPS_FILE}\")\n")
expect("ctest reports the skips as Skipped and the passes as Passed, and exits 0" 0
       "skip_selftest [.]+ +Passed.*skip_selftest[.]needs_nothing_real [.]+[*]+Skipped.*skip_selftest[.]needs_sample_a [.]+[*]+Skipped.*skip_selftest[.]needs_sample_b [.]+ +Passed.*100% tests passed.*The following tests did not run:.*skip_selftest[.]needs_nothing_real [(]Skipped[)].*skip_selftest[.]needs_sample_a [(]Skipped[)]"
       ${CTEST} --test-dir "${WORK}" -j1)
file(REMOVE_RECURSE "${WORK}")

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} check(s) of the skip mechanism failed")
endif()
