//go:build long

package kademlia

// long is set by the build tag long: the big suites (the 1,000-node churn,
// churn with loss) run at full size. CI runs them with
// go test -race -tags long ./...
const long = true
