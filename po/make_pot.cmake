# make_pot.cmake - writes the message template: what xgettext finds in the
# files of po/POTFILES.in, plus the texts of mediactl's command table
# (mediation-gen-pot prints them). Used by the xgettext target (into
# po/mediation.pot) and by the test i18n_po_complete (into a scratch file),
# so both see exactly the same template.
#   cmake -DSOURCE_DIR=<root> -DGEN_POT=<mediation-gen-pot> -DOUT=<pot>
#         -DXGETTEXT=<xgettext> -DMSGCAT=<msgcat> -DVERSION=<v> -P make_pot.cmake
foreach(v SOURCE_DIR GEN_POT OUT XGETTEXT MSGCAT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "make_pot.cmake: ${v} is not set")
  endif()
endforeach()
execute_process(
  COMMAND ${XGETTEXT} --from-code=UTF-8 --language=C
          --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2
          --add-comments=TRANSLATORS: --sort-by-file --package-name=mediation
          --package-version=${VERSION} --directory=${SOURCE_DIR}
          --files-from=${SOURCE_DIR}/po/POTFILES.in --output=${OUT}.sources
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "xgettext failed (${rc})")
endif()
execute_process(COMMAND ${GEN_POT} OUTPUT_FILE ${OUT}.commands RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mediation-gen-pot failed (${rc})")
endif()
execute_process(COMMAND ${MSGCAT} --use-first --output-file=${OUT} ${OUT}.sources ${OUT}.commands
  RESULT_VARIABLE rc)
file(REMOVE ${OUT}.sources ${OUT}.commands)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "msgcat failed (${rc})")
endif()
