// Package leakcheck runs LeakSanitizer's leak check on demand when the process runs with
// the ASan runtime preloaded (the sanitized build's Go tests). LSan normally checks at
// exit, but a Go program exits with a raw system call, so its atexit check never runs.
package leakcheck

/*
#include <dlfcn.h>

// -1: no LSan in this process; otherwise 1 when leaks were found (and reported on
// stderr), 0 when not.
static int surgeon_go_leak_check(void) {
	int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "__lsan_do_recoverable_leak_check");
	return check ? check() != 0 : -1;
}
*/
import "C"

func run() int { return int(C.surgeon_go_leak_check()) }

// Check runs the leak check: (ran, leaked). It does nothing without LSan.
func Check() (ran, leaked bool) {
	r := run()
	return r >= 0, r == 1
}
