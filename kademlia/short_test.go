//go:build !long

package kademlia

// long is false without the build tag long: the big suites run at small
// sizes so that go test -race ./... stays quick. See long_test.go.
const long = false
