# Finds the Go toolchain for the Go binding's tests (bindings/go) and sample (samples/go)
# and sets in the including directory's scope:
#   SURGEON_GO_OK    TRUE when go (>= 1.19) was found (else the callers skip)
#   SURGEON_GO       the go command
#   SURGEON_SWIG     swig (>= 4) when found: only the freshness check of the checked-in
#                    SWIG output (bindings/go/regenerate.sh --check) needs it
#   SURGEON_GO_ENV   environment for `go`: offline module mode, caches in the build tree,
#                    PKG_CONFIG_PATH with this tree's surgeon.pc (headers of the source
#                    tree, libsurgeon of the build tree with an rpath)
#   SURGEON_GO_LIBASAN  the compiler's ASan runtime (empty when not found)
#   SURGEON_GO_EXEC  the -exec wrapper for test binaries (LD_PRELOAD of the ASan runtime in
#                    the sanitized build; empty otherwise)
# and defines surgeon_add_go_test(NAME <name> DIR <module dir> [EXEC <wrapper>]
#                                 ARGS <go arguments...>).
set(SURGEON_GO_OK FALSE)
find_program(SURGEON_GO NAMES go go-1.19 HINTS /usr/lib/go/bin /usr/local/go/bin)
find_program(SURGEON_SWIG NAMES swig swig4.0)
if(SURGEON_SWIG)
  execute_process(COMMAND ${SURGEON_SWIG} -version OUTPUT_VARIABLE _surgeon_swig_version)
  string(REGEX MATCH "SWIG Version ([0-9.]+)" _ "${_surgeon_swig_version}")
  set(SURGEON_SWIG_VERSION ${CMAKE_MATCH_1})
  if(SURGEON_SWIG_VERSION VERSION_LESS 4.0)
    set(SURGEON_SWIG "")
  endif()
endif()
if(NOT SURGEON_GO)
  return()
endif()
execute_process(COMMAND ${SURGEON_GO} env GOVERSION OUTPUT_VARIABLE _surgeon_go_version
                RESULT_VARIABLE _surgeon_go_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
string(REGEX MATCH "go([0-9]+\\.[0-9]+)" _ "${_surgeon_go_version}")
set(SURGEON_GO_VERSION ${CMAKE_MATCH_1})
if(NOT _surgeon_go_rc EQUAL 0 OR SURGEON_GO_VERSION VERSION_LESS 1.19)
  return()
endif()
set(SURGEON_GO_OK TRUE)

# cgo reads `#cgo pkg-config: surgeon`: a surgeon.pc for this tree (the source headers, the
# built library with an rpath), written once per build tree.
set(_surgeon_go_pc_dir ${PROJECT_BINARY_DIR}/bindings/go/pkgconfig)
get_property(_surgeon_go_pc GLOBAL PROPERTY SURGEON_GO_PC_WRITTEN)
if(NOT _surgeon_go_pc)
  set_property(GLOBAL PROPERTY SURGEON_GO_PC_WRITTEN TRUE)
  file(GENERATE OUTPUT ${_surgeon_go_pc_dir}/surgeon.pc CONTENT
"libdir=$<TARGET_FILE_DIR:surgeon>
includedir=${PROJECT_SOURCE_DIR}/include

Name: surgeon
Description: ${PROJECT_DESCRIPTION} (build tree)
Version: ${PROJECT_VERSION}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lsurgeon
Cflags: -I\${includedir}
")
endif()
set(_surgeon_go_cache ${PROJECT_BINARY_DIR}/bindings/go/cache)
set(SURGEON_GO_ENV
  "PKG_CONFIG_PATH=${_surgeon_go_pc_dir}"
  "GOFLAGS=-mod=mod"
  "GOPROXY=off"
  "GOSUMDB=off"
  "GOENV=off"
  "GOTOOLCHAIN=local"
  "GO111MODULE=on"
  "CGO_ENABLED=1"
  "GOCACHE=${_surgeon_go_cache}/build"
  "GOPATH=${_surgeon_go_cache}/gopath"
  "SURGEON_FIXTURES_DIR=${PROJECT_SOURCE_DIR}/tests/fixtures")
# The ASan runtime, preloaded into the Go test programs (they are not instrumented; only
# the test binaries get it, through go -exec, not the go tool and the C compiler). In the
# sanitized build every Go test runs so; in the others go_binding_leaks does, which still
# catches leaks and double frees of the library's heap (malloc/free are intercepted).
set(SURGEON_GO_LIBASAN "")
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _surgeon_libasan OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(IS_ABSOLUTE "${_surgeon_libasan}" AND EXISTS "${_surgeon_libasan}")
    set(SURGEON_GO_LIBASAN ${_surgeon_libasan})
  endif()
endif()
set(SURGEON_GO_EXEC "")
if(SURGEON_SANITIZE AND SURGEON_GO_LIBASAN)
  set(SURGEON_GO_EXEC "env LD_PRELOAD=${SURGEON_GO_LIBASAN} SURGEON_REQUIRE_LSAN=1")
endif()

set(_surgeon_go_script ${CMAKE_CURRENT_LIST_DIR}/run_go.cmake)
# Runs `go ARGS...` in DIR through run_go.cmake (which keys go's build cache to the C
# headers, see there) with SURGEON_GO_ENV.
function(surgeon_add_go_test)
  cmake_parse_arguments(T "" "NAME;DIR;EXEC" "ARGS" ${ARGN})
  if(NOT DEFINED T_EXEC)
    set(T_EXEC "${SURGEON_GO_EXEC}")
  endif()
  list(JOIN T_ARGS "@@" _args)  # run_go.cmake splits it again
  add_test(NAME ${T_NAME}
           COMMAND ${CMAKE_COMMAND} -DGO=${SURGEON_GO} -DDIR=${T_DIR}
                   -DSOURCE_DIR=${PROJECT_SOURCE_DIR} "-DEXEC=${T_EXEC}"
                   "-DARGS=${_args}" -P ${_surgeon_go_script})
  # One go build cache per tree: tests that compile share it (go locks it, but parallel
  # cold builds of the SWIG wrapper would only duplicate work on few cores).
  set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "${SURGEON_GO_ENV}"
                       RESOURCE_LOCK surgeon_go_cache)
endfunction()
