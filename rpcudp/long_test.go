//go:build long

package rpcudp_test

// long is set by the build tag `long` (go test -tags long ./...): the big
// suites run at full size. CI runs them after the README's test command.
const long = true
