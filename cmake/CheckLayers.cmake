# The layering rules of lib/ (docs/architecture.md), checked on the sources:
#
#   cmake -DLIB_DIR=<lib folder> -P cmake/CheckLayers.cmake
#
# Every `#include "..."` of every source under LIB_DIR is attributed to the layer of the
# including file and the layer of the included path (the first folder; the first two for
# layer/* and backends/*; "surgeon" is the public C headers of include/surgeon). An edge
# the table below does not allow, a source folder the table does not know, or an include
# whose first folder is no layer fails the script with one line per offending include.

cmake_minimum_required(VERSION 3.25)

if(NOT DEFINED LIB_DIR)
  message(FATAL_ERROR "CheckLayers: pass -DLIB_DIR=<the lib folder>")
endif()
if(NOT IS_DIRECTORY "${LIB_DIR}")
  message(FATAL_ERROR "CheckLayers: LIB_DIR '${LIB_DIR}' is not a folder")
endif()

# What each layer may include besides itself. Keep in step with docs/architecture.md.
set(_layer_algorithms layer/hessian layer/prune layer/quant layer/solver)
set(allow_core            surgeon)
set(allow_backends/cpu    surgeon core)
set(allow_backends/cuda   surgeon core)
set(allow_layer/hessian   surgeon core)
set(allow_layer/prune     surgeon core)
set(allow_layer/quant     surgeon core layer/hessian)
set(allow_layer/solver    surgeon core layer/hessian layer/prune layer/quant)
set(allow_nn              surgeon core)
set(allow_io              surgeon core ${_layer_algorithms} nn)
set(allow_structured      surgeon core ${_layer_algorithms} nn)
set(allow_compress        surgeon core ${_layer_algorithms} nn io structured)
set(allow_capi            surgeon core ${_layer_algorithms} nn io structured compress)
# MPI's implementation of compress's Reducer (SURGEON_MPI), for the CLI only.
set(allow_dist            surgeon core compress)
# The CLI calls the algorithms through the C API (surgeon) or compress, never directly.
set(allow_cli             surgeon core nn io compress dist)
set(known_layers core backends/cpu backends/cuda ${_layer_algorithms} nn io structured compress capi dist cli)

# The layer of a path relative to lib/ (or of an include path).
function(layer_of path out)
  string(REPLACE "/" ";" parts "${path}")
  list(LENGTH parts n)
  list(GET parts 0 first)
  if((first STREQUAL "layer" OR first STREQUAL "backends") AND n GREATER 2)
    list(GET parts 1 second)
    set(${out} "${first}/${second}" PARENT_SCOPE)
  else()
    set(${out} "${first}" PARENT_SCOPE)
  endif()
endfunction()

file(GLOB_RECURSE sources RELATIVE "${LIB_DIR}"
     "${LIB_DIR}/*.hpp" "${LIB_DIR}/*.cpp" "${LIB_DIR}/*.h" "${LIB_DIR}/*.cu" "${LIB_DIR}/*.cuh")
list(SORT sources)
set(violations "")
set(edges 0)
foreach(source IN LISTS sources)
  if(NOT source MATCHES "/")
    string(APPEND violations "\n  lib/${source}: a source outside every layer folder")
    continue()
  endif()
  layer_of("${source}" from)
  if(NOT from IN_LIST known_layers)
    string(APPEND violations "\n  lib/${source}: folder '${from}' is not in the layer table (cmake/CheckLayers.cmake, docs/architecture.md)")
    continue()
  endif()
  file(STRINGS "${LIB_DIR}/${source}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*$" "\\1" included "${line}")
    if(NOT included MATCHES "/")
      continue()  # a file of the same folder
    endif()
    math(EXPR edges "${edges} + 1")
    layer_of("${included}" to)
    if(to STREQUAL from)
      continue()
    endif()
    if(NOT to STREQUAL "surgeon" AND NOT to IN_LIST known_layers)
      string(APPEND violations "\n  lib/${source}: includes \"${included}\" from '${to}', which is no layer")
    elseif(NOT to IN_LIST allow_${from})
      string(REPLACE ";" ", " allowed "${allow_${from}}")
      string(APPEND violations "\n  lib/${source}: ${from} may not include ${to} (\"${included}\"); ${from} may include: ${allowed}")
    endif()
  endforeach()
endforeach()

list(LENGTH sources count)
if(violations)
  message(FATAL_ERROR "Layering violations (rules: docs/architecture.md):${violations}\n")
endif()
message(STATUS "Layering: ${count} sources, ${edges} includes across folders, no violation")
