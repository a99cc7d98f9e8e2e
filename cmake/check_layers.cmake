# check_layers.cmake - holds the code to the layering in one table
# (cmake/layers.txt) and refuses include circles. Runs as part of the build
# (the top-level CMakeLists.txt) and in tests/layers on fixtures.
#
#   cmake -DSOURCE_DIR=<tree> -DTABLE=<layers.txt> [-DTARGETS=<file>]
#         -P check_layers.cmake
#
# TARGETS (written by the top-level CMakeLists.txt): lines "<layer> <file>",
# the sources CMake builds into mediation_<layer>.
#
# Three kinds of findings, all printed, then one FATAL_ERROR:
#   - An include a file's layer may not make (see the table's header).
#   - A source built into another library than the layer the table gives it.
#   - An include circle, in either of two graphs:
#     . files: a header that, through the headers it includes, includes
#       itself;
#     . modules: x.c and x.h are one module; x depends on y when x.c or x.h
#       includes y.h. A header with no .c of its own (internal.h,
#       store_int.h) only gathers declarations for the files that include
#       it, so what it includes is not counted, only who includes it: one
#       library's private header including its own public one is no circle,
#       while desk.c including unit.h and unit.c including desk.h is.
# CMake's own language, so that the check needs nothing the build does not.

cmake_minimum_required(VERSION 3.25)
foreach(var SOURCE_DIR TABLE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_layers: -D${var}=... is required")
  endif()
endforeach()

# ---- The table ---------------------------------------------------------------

set(layers "")
set(check_dirs "")
set(search_dirs "")
file(STRINGS "${TABLE}" table_lines)
set(lineno 0)
foreach(line IN LISTS table_lines)
  math(EXPR lineno "${lineno} + 1")
  string(STRIP "${line}" line)
  if(line STREQUAL "" OR line MATCHES "^#")
    continue()
  endif()
  string(REGEX REPLACE "[ \t]+" ";" words "${line}")
  list(POP_FRONT words head)
  if(head STREQUAL "check")
    list(APPEND check_dirs ${words})
    continue()
  elseif(head STREQUAL "search")
    list(APPEND search_dirs ${words})
    continue()
  endif()
  list(POP_FRONT words field)
  if(NOT field MATCHES "^(owns|exports|uses)$")
    message(FATAL_ERROR "${TABLE}:${lineno}: '${field}' is none of owns, exports, uses")
  endif()
  list(APPEND layer_${head}_${field} ${words})
  if(NOT head IN_LIST layers)
    list(APPEND layers ${head})
  endif()
endforeach()
foreach(layer IN LISTS layers)
  foreach(used IN LISTS layer_${layer}_uses)
    if(NOT used IN_LIST layers)
      message(FATAL_ERROR "${TABLE}: ${layer} uses '${used}', which is no layer of the table")
    endif()
  endforeach()
endforeach()

# The layer owning a file path or an include name (the longest prefix
# wins), or "" when none does.
function(owner_of name out)
  set(best "")
  set(best_len -1)
  foreach(layer IN LISTS layers)
    foreach(prefix IN LISTS layer_${layer}_owns)
      string(FIND "${name}" "${prefix}" at)
      string(LENGTH "${prefix}" len)
      if(at EQUAL 0 AND len GREATER best_len)
        set(best ${layer})
        set(best_len ${len})
      endif()
    endforeach()
  endforeach()
  set(${out} "${best}" PARENT_SCOPE)
endfunction()

# True when a file of `layer` may include `name`: the layer owns it, or a
# layer it uses exports it.
function(may_include layer name out)
  owner_of("${name}" owner)
  if(owner STREQUAL layer)
    set(${out} TRUE PARENT_SCOPE)
    return()
  endif()
  foreach(used IN LISTS layer_${layer}_uses)
    foreach(prefix IN LISTS layer_${used}_exports)
      string(FIND "${name}" "${prefix}" at)
      if(at EQUAL 0)
        set(${out} TRUE PARENT_SCOPE)
        return()
      endif()
    endforeach()
  endforeach()
  set(${out} FALSE PARENT_SCOPE)
endfunction()

# ---- The files -----------------------------------------------------------------

set(files "")
foreach(dir IN LISTS check_dirs)
  file(GLOB_RECURSE found RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/${dir}/*.c"
       "${SOURCE_DIR}/${dir}/*.h")
  list(APPEND files ${found})
endforeach()
list(REMOVE_DUPLICATES files)
list(SORT files)
if(files STREQUAL "")
  message(FATAL_ERROR "check_layers: no .c or .h file under ${SOURCE_DIR} (${check_dirs})")
endif()

set(findings "")
foreach(file IN LISTS files)
  owner_of("${file}" layer)
  if(layer STREQUAL "")
    list(APPEND findings "${file}: belongs to no layer: give it one in ${TABLE}")
    continue()
  endif()
  string(REGEX REPLACE "\\.[ch]$" "" stem "${file}")
  get_filename_component(file_dir "${file}" DIRECTORY)
  file(STRINGS "${SOURCE_DIR}/${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  foreach(inc IN LISTS includes)
    if(inc MATCHES "#[ \t]*include[ \t]*<([^>]+)>")
      set(name "<${CMAKE_MATCH_1}")
      set(shown "<${CMAKE_MATCH_1}>")
      owner_of("${name}" owner)
      if(owner STREQUAL "")
        continue() # the C library and POSIX
      endif()
    elseif(inc MATCHES "#[ \t]*include[ \t]*\"([^\"]+)\"")
      set(name "${CMAKE_MATCH_1}")
      set(shown "\"${CMAKE_MATCH_1}\"")
      owner_of("${name}" owner)
      if(owner STREQUAL "")
        list(APPEND findings
             "${file} (${layer}): includes ${shown}, which belongs to no layer of ${TABLE}")
        continue()
      endif()
      # The file it names, for the circles.
      foreach(dir IN LISTS search_dirs file_dir)
        if(EXISTS "${SOURCE_DIR}/${dir}/${name}")
          file(RELATIVE_PATH target "${SOURCE_DIR}" "${SOURCE_DIR}/${dir}/${name}")
          if(target IN_LIST files)
            list(APPEND file_edges_${file} ${target})
            string(REGEX REPLACE "\\.[ch]$" "" target_stem "${target}")
            if(NOT target_stem STREQUAL stem)
              list(APPEND module_edges_from_${file} ${target_stem})
            endif()
          endif()
          break()
        endif()
      endforeach()
    else()
      continue()
    endif()
    may_include(${layer} "${name}" ok)
    if(NOT ok)
      if(owner STREQUAL layer)
        set(why "")
      else()
        list(FIND layer_${layer}_uses ${owner} uses_owner)
        if(uses_owner EQUAL -1)
          set(why ", and ${layer} does not use ${owner}")
        else()
          set(why ", and ${owner} does not export it")
        endif()
      endif()
      list(APPEND findings "${file} (${layer}): may not include ${shown} (${owner})${why}")
    endif()
  endforeach()
endforeach()

# ---- The libraries ---------------------------------------------------------------

if(DEFINED TARGETS)
  file(STRINGS "${TARGETS}" target_lines)
  foreach(line IN LISTS target_lines)
    string(REGEX REPLACE "[ \t]+" ";" words "${line}")
    list(GET words 0 layer)
    list(GET words 1 file)
    owner_of("${file}" owner)
    if(NOT owner STREQUAL layer)
      list(APPEND findings
           "${file}: built into mediation_${layer}, but the table gives it to '${owner}'")
    endif()
  endforeach()
endif()

# ---- Circles ---------------------------------------------------------------------

# Module graph: edges of x.c, and of x.h when x.c exists.
set(modules "")
foreach(file IN LISTS files)
  string(REGEX REPLACE "\\.[ch]$" "" stem "${file}")
  if(file MATCHES "\\.h$" AND NOT "${stem}.c" IN_LIST files)
    continue()
  endif()
  list(APPEND modules ${stem})
  list(APPEND module_edges_${stem} ${module_edges_from_${file}})
endforeach()
list(REMOVE_DUPLICATES modules)

# Appends to `findings` (in the caller) every circle met by a depth-first
# walk of the graph `nodes`, whose successors are in ${prefix}<node>.
function(find_circles what nodes prefix)
  set(found "")
  foreach(start IN LISTS nodes)
    if(DEFINED color_${start})
      continue()
    endif()
    set(stack ${start})
    set(color_${start} grey)
    set(next_${start} 0)
    while(stack)
      list(GET stack -1 node)
      set(succ ${${prefix}${node}})
      list(LENGTH succ n)
      if(next_${node} LESS n)
        list(GET succ ${next_${node}} to)
        math(EXPR next_${node} "${next_${node}} + 1")
        if(NOT DEFINED color_${to})
          set(color_${to} grey)
          set(next_${to} 0)
          list(APPEND stack ${to})
        elseif(color_${to} STREQUAL "grey")
          list(FIND stack ${to} at)
          list(SUBLIST stack ${at} -1 circle)
          list(APPEND circle ${to})
          list(JOIN circle " -> " path)
          list(APPEND found "include circle (${what}): ${path}")
        endif()
      else()
        set(color_${node} black)
        list(POP_BACK stack)
      endif()
    endwhile()
  endforeach()
  set(findings ${findings} ${found} PARENT_SCOPE)
endfunction()

find_circles(files "${files}" file_edges_)
find_circles(modules "${modules}" module_edges_)

if(findings)
  list(LENGTH findings n)
  list(JOIN findings "\n  " text)
  message(FATAL_ERROR "layers: ${n} finding(s) against ${TABLE}:\n  ${text}\n"
          "A layer's files include what it owns and what the layers it uses export; "
          "x.c/x.h modules and headers must not include each other in a circle.")
endif()
list(LENGTH files n)
message(STATUS "layers: ${n} files follow ${TABLE}")
