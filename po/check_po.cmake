# check_po.cmake - the test i18n_po_complete: fails when a text for people
# is not translated in every language of po/LINGUAS.
#   1. every production file that marks texts (_(", N_(", C_(", NC_(") is
#      listed in po/POTFILES.in, so no mark escapes the template;
#   2. the template made now (make_pot.cmake: xgettext + the command table)
#      is compared with each <lang>.po by msgcmp, which fails on a text
#      missing from it, untranslated or fuzzy;
#   3. msgattrib finds no untranslated and no fuzzy entry in the .po itself.
# Fix: `cmake --build build --target xgettext`, then translate in po/<lang>.po.
foreach(v SOURCE_DIR GEN_POT XGETTEXT MSGCAT MSGCMP MSGATTRIB WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_po.cmake: ${v} is not set")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK})
set(failed "")

file(STRINGS ${SOURCE_DIR}/po/POTFILES.in listed REGEX "^[^#]")
file(GLOB_RECURSE sources RELATIVE ${SOURCE_DIR}
  ${SOURCE_DIR}/core/*.c ${SOURCE_DIR}/rpc/*.c ${SOURCE_DIR}/router/*.c
  ${SOURCE_DIR}/services/*.c ${SOURCE_DIR}/web/*.c ${SOURCE_DIR}/pbjson/*.c
  ${SOURCE_DIR}/storage/*.c ${SOURCE_DIR}/documents/*.c)
foreach(f IN LISTS sources)
  file(STRINGS ${SOURCE_DIR}/${f} marks REGEX "(^|[^A-Za-z0-9_])N?C?_\\(\"")
  list(FIND listed "${f}" at)
  if(NOT "${marks}" STREQUAL "" AND at EQUAL -1)
    string(APPEND failed "  ${f} marks texts for translation but is not in po/POTFILES.in\n")
  endif()
endforeach()

execute_process(COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${SOURCE_DIR} -DGEN_POT=${GEN_POT}
  -DOUT=${WORK}/mediation.pot -DXGETTEXT=${XGETTEXT} -DMSGCAT=${MSGCAT} -DVERSION=test
  -P ${SOURCE_DIR}/po/make_pot.cmake RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not make the template")
endif()
file(STRINGS ${SOURCE_DIR}/po/LINGUAS langs REGEX "^[^#]")
foreach(lang IN LISTS langs)
  set(po ${SOURCE_DIR}/po/${lang}.po)
  execute_process(COMMAND ${MSGCMP} ${po} ${WORK}/mediation.pot
    RESULT_VARIABLE rc ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(APPEND failed "  po/${lang}.po lacks texts of the sources (msgcmp):\n${out}\n")
  endif()
  foreach(kind untranslated only-fuzzy)
    execute_process(COMMAND ${MSGATTRIB} --${kind} --no-obsolete ${po}
      OUTPUT_VARIABLE out RESULT_VARIABLE rc)
    string(REGEX MATCHALL "\nmsgid " entries "${out}")
    list(LENGTH entries n)
    if(NOT rc EQUAL 0 OR n GREATER 0)
      string(APPEND failed "  po/${lang}.po has ${n} ${kind} entries:\n${out}\n")
    endif()
  endforeach()
endforeach()
if(failed)
  message(FATAL_ERROR "Messages not translated:\n${failed}"
    "Refresh with `cmake --build build --target xgettext`, then translate in po/<lang>.po.")
endif()
message(STATUS "every message is translated")
