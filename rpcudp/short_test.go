//go:build !long

package rpcudp_test

// long is false without the build tag `long`: the big suites run at sizes
// that keep `go test -race ./...` quick. See long_test.go.
const long = false
