module surgeon.dev/samples/go

go 1.19

require surgeon.dev/surgeon v0.0.0

// The binding lives in this repository; a user's module points at their checkout too.
replace surgeon.dev/surgeon => ../../bindings/go
