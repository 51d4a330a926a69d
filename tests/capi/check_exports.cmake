cmake_minimum_required(VERSION 3.25)
# Checks the dynamic symbol table of libsurgeon: every defined symbol is a function
# declared in the public header (so nothing of the C++ implementation leaks), and every
# declared function is exported. The only other entry allowed is the version node of the
# linker version script (an absolute symbol such as SURGEON_0).
# Usage: cmake -DLIB=<libsurgeon.so> -DNM=<nm> -DHEADER=<surgeon.h> -DMAP=<surgeon.map> -P
foreach(var LIB NM HEADER MAP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_exports.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${NM} -D --defined-only ${LIB}
                OUTPUT_VARIABLE nm_out RESULT_VARIABLE nm_rc ERROR_VARIABLE nm_err)
if(NOT nm_rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIB}: ${nm_err}")
endif()

file(STRINGS ${MAP} map_lines REGEX "^[A-Za-z_][A-Za-z0-9_.]*[ \t]*{")
set(version_nodes "")
foreach(line IN LISTS map_lines)
  string(REGEX MATCH "^[A-Za-z_][A-Za-z0-9_.]*" node "${line}")
  list(APPEND version_nodes ${node})
endforeach()

file(READ ${HEADER} header)
string(REGEX MATCHALL "SURGEON_API[^;]*[ *](surgeon_[a-z0-9_]+)[ \t\n]*\\(" decls "${header}")
set(declared "")
foreach(decl IN LISTS decls)
  string(REGEX MATCH "surgeon_[a-z0-9_]+[ \t\n]*\\($" name "${decl}")
  string(REGEX REPLACE "[ \t\n]*\\($" "" name "${name}")
  list(APPEND declared ${name})
endforeach()
list(LENGTH declared n_declared)
if(n_declared LESS 40)
  message(FATAL_ERROR "found only ${n_declared} declarations in ${HEADER}: parser broken?")
endif()

string(REPLACE "\n" ";" lines "${nm_out}")
set(exported "")
set(bad "")
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  # "<address> <type> <name>[@[@]version]"
  string(REGEX MATCH "([A-Za-z]) ([^ @]+)(@.*)?$" _ "${line}")
  set(type "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  if(type STREQUAL "A" AND name IN_LIST version_nodes)
    continue()
  endif()
  if(NOT name MATCHES "^surgeon_" OR NOT name IN_LIST declared)
    list(APPEND bad "${line}")
  else()
    list(APPEND exported ${name})
  endif()
endforeach()

set(missing "")
foreach(name IN LISTS declared)
  if(NOT name IN_LIST exported)
    list(APPEND missing ${name})
  endif()
endforeach()

list(LENGTH exported n_exported)
if(bad OR missing)
  list(JOIN bad "\n  " bad_text)
  list(JOIN missing "\n  " missing_text)
  message(FATAL_ERROR "libsurgeon exports:\n  unexpected symbols:\n  ${bad_text}\n"
                      "  declared but not exported:\n  ${missing_text}")
endif()
message(STATUS "libsurgeon exports exactly the ${n_exported} functions of surgeon.h")
