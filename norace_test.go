//go:build !race

package boiler

// raceEnabled: see race_test.go.
const raceEnabled = false
