//go:build !race

package main

// raceEnabled: the test binary was built with -race, so the commands the
// tests build use it too and reuse its compiled packages.
const raceEnabled = false
