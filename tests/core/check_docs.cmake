# Regenerates a generated page (or part of one) into the build tree and
# fails when it differs from the committed file, so the docs cannot drift
# from the tables they are printed from. Run by the tests
# docs_state_machine_current and docs_configuration_current with
#   -DGEN=<mediation-gen-docs> -DOUT=<generated file> -DCOMMITTED=<docs file>
#   -DTABLE=<the table's source> -DTARGET=<the target that regenerates it>
# and, for a page whose key reference alone is generated, -DPART=configuration
# (the prose around it is copied from the committed file).
if(PART)
  execute_process(COMMAND "${GEN}" "--${PART}" "${COMMITTED}" "${OUT}" RESULT_VARIABLE rc)
else()
  execute_process(COMMAND "${GEN}" "${OUT}" RESULT_VARIABLE rc)
endif()
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
  cmake_path(GET COMMITTED FILENAME page)
  message(FATAL_ERROR
    "docs/${page} is out of date with the table in ${TABLE}.\n"
    "Regenerate it and commit the result:\n"
    "  cmake --build <build-dir> --target ${TARGET}")
endif()
