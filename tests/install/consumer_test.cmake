# ctest driver (cmake -P): STEP=install copies the build into PREFIX; STEP=cmake or
# STEP=pkg-config builds consumer/ against PREFIX that way (libsurgeon.a when STATIC) and
# runs it. Variables come from tests/install/CMakeLists.txt.
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " cmd)
    message(FATAL_ERROR "`${cmd}` failed (${rc}):\n${out}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

string(REPLACE "|" ";" EXPECTED_FILES "${EXPECTED_FILES}")
set(libdir ${PREFIX}/${LIBDIR})
set(work ${WORK_DIR}/${STEP})
if(STATIC)
  string(APPEND work -static)
endif()
# The sanitized library needs its runtime in the consumer too.
set(sanitize_flags "")
if(SANITIZE)
  set(sanitize_flags -fsanitize=address,undefined)
endif()

if(STEP STREQUAL "install")
  file(REMOVE_RECURSE ${PREFIX})
  run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX})
  foreach(path include/surgeon/surgeon.h ${LIBDIR}/libsurgeon.so
               ${LIBDIR}/libsurgeon.so.${VERSION_MAJOR} ${LIBDIR}/libsurgeon.so.${VERSION}
               ${LIBDIR}/cmake/surgeon/surgeonConfig.cmake
               ${LIBDIR}/cmake/surgeon/surgeonConfigVersion.cmake
               ${LIBDIR}/pkgconfig/surgeon.pc ${EXPECTED_FILES})
    if(NOT EXISTS ${PREFIX}/${path})
      message(FATAL_ERROR "not installed: ${PREFIX}/${path}")
    endif()
  endforeach()
  if(NOT IS_SYMLINK ${libdir}/libsurgeon.so OR NOT IS_SYMLINK ${libdir}/libsurgeon.so.${VERSION_MAJOR})
    message(FATAL_ERROR "libsurgeon.so and libsurgeon.so.${VERSION_MAJOR} must be symlinks")
  endif()
  message(STATUS "installed into ${PREFIX}")
  return()
endif()

file(REMOVE_RECURSE ${work})
file(MAKE_DIRECTORY ${work})

if(STEP STREQUAL "cmake")
  # Only PREFIX may provide the package: no registries, no build tree.
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${work} -G ${GENERATOR}
      -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM} -DCMAKE_BUILD_TYPE=Release
      -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
      "-DCMAKE_C_FLAGS=${sanitize_flags}" "-DCMAKE_EXE_LINKER_FLAGS=${sanitize_flags}"
      -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
      -DCONSUMER_STATIC=${STATIC})
  file(STRINGS ${work}/CMakeCache.txt found REGEX "^surgeon_DIR:")
  string(REGEX REPLACE "^[^=]*=" "" found "${found}")
  file(REAL_PATH "${found}" found)
  file(REAL_PATH "${libdir}/cmake/surgeon" expected)
  if(NOT found STREQUAL expected)
    message(FATAL_ERROR "find_package(surgeon) used ${found}, not ${expected}")
  endif()
  run(${CMAKE_COMMAND} --build ${work})
  set(program ${work}/consumer)
elseif(STEP STREQUAL "pkg-config")
  set(ENV{PKG_CONFIG_PATH} ${libdir}/pkgconfig)
  run(${PKG_CONFIG} --modversion surgeon)
  string(STRIP "${run_output}" version)
  if(NOT version STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config reports version ${version}, expected ${VERSION}")
  endif()
  set(query --cflags --libs)
  if(STATIC)
    list(APPEND query --static)
  endif()
  run(${PKG_CONFIG} ${query} surgeon)
  separate_arguments(flags UNIX_COMMAND "${run_output}")
  if(STATIC)
    # -lsurgeon would pick the .so: name the archive (what a static consumer does).
    list(TRANSFORM flags REPLACE "^-lsurgeon$" "-l:libsurgeon.a")
  endif()
  run(${C_COMPILER} ${sanitize_flags} ${SOURCE_DIR}/consumer.c ${flags} -lm -o ${work}/consumer)
  set(program ${work}/consumer)
else()
  message(FATAL_ERROR "unknown STEP '${STEP}'")
endif()

# A shared consumer finds libsurgeon.so through the prefix; a static one must not need it.
set(env "")
if(NOT STATIC)
  set(env LD_LIBRARY_PATH=${libdir})
endif()
run(${CMAKE_COMMAND} -E env ${env} ${program})
message(STATUS "${run_output}")
