module surgeon.dev/surgeon

go 1.19
