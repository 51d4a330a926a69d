# Finds cargo for the Rust binding's tests (bindings/rust) and sample (samples/rust) and
# sets in the including directory's scope:
#   SURGEON_RUST_OK      TRUE when cargo and rustc were found and run (else the callers skip)
#   SURGEON_CARGO        cargo
#   SURGEON_RUST_ENV     environment for cargo: library dir, fixtures, rustc
#   SURGEON_RUST_HOST    the host triple in CARGO_TARGET_<HOST>_RUNNER spelling
#   (SURGEON_RUST_ENV also names the ASan runtime for cargo's runner in the sanitized build)
# rustup installs into ~/.cargo/bin, which is not always on PATH (CI); Debian's cargo is.
set(SURGEON_RUST_OK FALSE)
find_program(SURGEON_CARGO cargo HINTS $ENV{HOME}/.cargo/bin)
if(NOT SURGEON_CARGO)
  return()
endif()
get_filename_component(_surgeon_cargo_dir ${SURGEON_CARGO} DIRECTORY)
find_program(SURGEON_RUSTC rustc HINTS ${_surgeon_cargo_dir})
# The doc-tests need the rustdoc of the same toolchain (another one rejects the crates).
find_program(SURGEON_RUSTDOC rustdoc HINTS ${_surgeon_cargo_dir})

execute_process(COMMAND ${SURGEON_RUSTC} -vV OUTPUT_VARIABLE _surgeon_rustc_info
                RESULT_VARIABLE _surgeon_rustc_rc)
if(NOT _surgeon_rustc_rc EQUAL 0 OR NOT _surgeon_rustc_info MATCHES "host: ([^\n]+)")
  return()
endif()
string(TOUPPER ${CMAKE_MATCH_1} SURGEON_RUST_HOST)
string(REPLACE "-" "_" SURGEON_RUST_HOST ${SURGEON_RUST_HOST})
string(REGEX MATCH "release: ([^\n]+)" _ ${_surgeon_rustc_info})
set(SURGEON_RUST_VERSION ${CMAKE_MATCH_1})
set(SURGEON_RUST_OK TRUE)

set(SURGEON_RUST_ENV
  "SURGEON_LIB_DIR=$<TARGET_FILE_DIR:surgeon>"
  "LD_LIBRARY_PATH=$<TARGET_FILE_DIR:surgeon>"
  "SURGEON_FIXTURES_DIR=${PROJECT_SOURCE_DIR}/tests/fixtures"
  "RUSTC=${SURGEON_RUSTC}"
  "RUSTDOC=${SURGEON_RUSTDOC}"
  "CARGO_TERM_COLOR=never")

# In the sanitized build libsurgeon needs the ASan runtime loaded first. The Rust programs
# are not instrumented, so cargo starts them through `env LD_PRELOAD=libasan.so` (cargo
# and rustc themselves run without it).
if(SURGEON_SANITIZE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _surgeon_libasan OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND SURGEON_RUST_ENV "CARGO_TARGET_${SURGEON_RUST_HOST}_RUNNER=env LD_PRELOAD=${_surgeon_libasan}")
endif()
