// Shared by the libFuzzer targets of tests/fuzz: the readers take paths, so each input is
// written to a file of this process (under $TMPDIR; /dev/shm, else /tmp, when unset) and
// the reader is run on it. The library's own errors (surgeon::Error) are the expected answer to a malformed
// input and are swallowed; anything else escaping a reader — another exception type, a
// crash, a sanitizer report — is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "nn/model.hpp"

namespace surgeon::fuzz {

// A directory private to this process, created on first use and removed at exit.
const std::string& work_dir();

// Writes `size` bytes to work_dir()/name (replacing it) and returns the path.
std::string write_input(const std::string& name, const uint8_t* data, size_t size);

// Runs `read`; a surgeon::Error is an expected rejection, any other exception aborts (so
// libFuzzer records the input as a crash) after printing its type and message.
template <typename Read>
void expect_library_errors(Read&& read);

// The small Llama configuration of the generated seeds and of the model beside the fuzzed
// config.json (2 blocks, grouped-query attention, untied classifier).
model::ModelConfig tiny_config();

// Aborts with `what` unless `ok`: a property every accepted input must have.
void require_invariant(bool ok, const char* what);

// Prints the library's message when SURGEON_FUZZ_VERBOSE is set (to check that a seed is
// accepted, or why an input is refused); silent otherwise.
void report_rejection(const char* message);

[[noreturn]] void unexpected_exception(const char* type, const char* what);

}  // namespace surgeon::fuzz

#include <exception>
#include <typeinfo>

#include "core/error.hpp"

template <typename Read>
void surgeon::fuzz::expect_library_errors(Read&& read) {
    try {
        read();
    } catch (const surgeon::Error& e) {
        report_rejection(e.what());  // a clean rejection
    } catch (const std::exception& e) {
        unexpected_exception(typeid(e).name(), e.what());
    } catch (...) {
        unexpected_exception("(not a std::exception)", "");
    }
}
