/* C entry points for the context callbacks: forward to the Go functions exported in
 * callbacks.go. `user` is a runtime/cgo.Handle. */
#include <stdint.h>

#include "surgeon/surgeon.h"
#include "_cgo_export.h"

void surgeon_go_progress_trampoline(void* user, const char* stage, double fraction) {
    surgeonGoProgress((uintptr_t)user, (char*)stage, fraction);
}

void surgeon_go_log_trampoline(void* user, surgeon_log_level level, const char* message) {
    surgeonGoLog((uintptr_t)user, (int)level, (char*)message);
}
