# Regenerates docs/state-machine.md into the build tree and fails when it
# differs from the committed file, so the docs cannot drift from the
# transition table. Run by the test docs_state_machine_current with
#   -DGEN=<mediation-gen-docs> -DOUT=<generated file> -DCOMMITTED=<docs file>
execute_process(COMMAND "${GEN}" "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mediation-gen-docs failed (${rc})")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${OUT}" "${COMMITTED}"
                RESULT_VARIABLE differs)
if(NOT differs EQUAL 0)
  find_program(DIFF diff)
  if(DIFF)
    execute_process(COMMAND "${DIFF}" -u "${COMMITTED}" "${OUT}")
  endif()
  message(FATAL_ERROR
    "docs/state-machine.md is out of date with the transition table in core/machine.c.\n"
    "Regenerate it and commit the result:\n"
    "  cmake --build <build-dir> --target state-machine-docs")
endif()
