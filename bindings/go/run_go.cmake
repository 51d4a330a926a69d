# ctest driver for one `go` command (see go.cmake): cmake -DGO=go -DDIR=<module dir>
#   -DSOURCE_DIR=<repo> [-DEXEC=<wrapper>] -DARGS=<arguments joined by @@> -P run_go.cmake
#
# go caches the SWIG wrapper of package raw by the package's own files, not by the C
# headers and .i files it includes from elsewhere, so a changed surgeon.h would reuse a
# stale wrapper. Their hash goes into CGO_CPPFLAGS, which is part of go's cache key.
file(GLOB _inputs ${SOURCE_DIR}/include/surgeon/*.h ${SOURCE_DIR}/bindings/swig/*.i)
list(SORT _inputs)
set(_all "")
foreach(_f IN LISTS _inputs)
  file(SHA256 ${_f} _h)
  string(APPEND _all "${_f}=${_h};")
endforeach()
string(SHA256 _key "${_all}")
string(SUBSTRING ${_key} 0 16 _key)
set(ENV{CGO_CPPFLAGS} "$ENV{CGO_CPPFLAGS} -DSURGEON_API_KEY=${_key}")

string(REPLACE "@@" ";" ARGS "${ARGS}")
set(_command ${GO} ${ARGS})
if(EXEC)
  # go test -exec: only the test binaries run through the wrapper.
  list(GET ARGS 0 _verb)
  if(_verb STREQUAL "test" OR _verb STREQUAL "run")
    list(INSERT _command 2 -exec ${EXEC})
  endif()
endif()
execute_process(COMMAND ${_command} WORKING_DIRECTORY ${DIR} RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  list(JOIN _command " " _shown)
  message(FATAL_ERROR "${_shown} failed: ${_rc}")
endif()
