//go:build race

package boiler

// raceEnabled: the race detector slows SQLite (pure Go) many times over,
// so the heaviest tests shrink their workloads.
const raceEnabled = true
