# Every dependency comes from Debian packages; nothing is downloaded at build time.
find_package(PkgConfig)
find_package(Threads REQUIRED)

function(surgeon_require_pkg var module package)
  if(NOT PkgConfig_FOUND)
    message(FATAL_ERROR "pkg-config is required to find ${module}: apt-get install pkg-config")
  endif()
  pkg_check_modules(${var} IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${package}")
  endif()
endfunction()

# BLAS and LAPACK: a private copy of Debian's OpenBLAS archive (libopenblas-pthread-dev,
# which libopenblas-dev pulls in), linked into the library with its symbols hidden and set
# to one thread once (lib/backends/cpu), so it neither reads nor changes the host's BLAS
# settings: the CPU backend parallelises over its own workers. (The serial flavour,
# libopenblas-serial-dev, is not safe to call from several threads at once: its buffer
# allocator races and products come out wrong.)
set(_surgeon_blas_dirs /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-pthread /usr/lib/openblas-pthread)
find_library(SURGEON_OPENBLAS_ARCHIVE NAMES libopenblas.a PATHS ${_surgeon_blas_dirs} NO_DEFAULT_PATH)
find_path(SURGEON_OPENBLAS_INCLUDE cblas.h
          PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-pthread NO_DEFAULT_PATH)
if(NOT SURGEON_OPENBLAS_ARCHIVE OR NOT SURGEON_OPENBLAS_INCLUDE)
  message(FATAL_ERROR "OpenBLAS archive not found: apt-get install libopenblas-dev")
endif()
# OpenBLAS's LAPACK is Fortran: the archive needs the gfortran runtime.
find_library(SURGEON_GFORTRAN NAMES gfortran libgfortran.so.5)
if(NOT SURGEON_GFORTRAN)
  message(FATAL_ERROR "libgfortran not found: apt-get install libgfortran5")
endif()
add_library(surgeon_blas INTERFACE)
target_include_directories(surgeon_blas SYSTEM INTERFACE ${SURGEON_OPENBLAS_INCLUDE})
target_link_libraries(surgeon_blas INTERFACE ${SURGEON_OPENBLAS_ARCHIVE} ${SURGEON_GFORTRAN} m Threads::Threads)
if(SURGEON_BENCH)
  # surgeon-bench's machine-rate reference: the host's multi-threaded OpenBLAS.
  surgeon_require_pkg(OPENBLAS openblas libopenblas-dev)
endif()

find_package(nlohmann_json 3 QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "nlohmann-json not found: apt-get install nlohmann-json3-dev")
endif()

if(SURGEON_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "GoogleTest not found: apt-get install libgtest-dev (or -DSURGEON_TESTS=OFF)")
  endif()
endif()
if(SURGEON_BENCH)
  find_package(benchmark QUIET)
  if(NOT benchmark_FOUND)
    message(FATAL_ERROR "Google Benchmark not found: apt-get install libbenchmark-dev (or -DSURGEON_BENCH=OFF)")
  endif()
endif()
if(SURGEON_CUDA)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
endif()
if(SURGEON_MPI)
  find_package(MPI COMPONENTS C)
  if(NOT MPI_C_FOUND)
    message(FATAL_ERROR "MPI not found: apt-get install libopenmpi-dev openmpi-bin (or -DSURGEON_MPI=OFF)")
  endif()
  find_program(SURGEON_MPIEXEC NAMES mpirun mpiexec HINTS ${MPI_C_COMPILER_DIRS})
endif()

# tokenizer.json (lib/io/hf_tokenizer): PCRE2 for the pre-tokenizer regexes, ICU for Unicode
# normalization and character classes.
surgeon_require_pkg(PCRE2 libpcre2-8 libpcre2-dev)
surgeon_require_pkg(ICU icu-uc libicu-dev)
