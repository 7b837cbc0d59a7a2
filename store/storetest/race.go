//go:build race

package storetest

// raceEnabled reports whether the race detector is on. It slows the
// SQLite engine (C translated to Go, all of it instrumented) about
// thirtyfold, so the largest test scales its size down under it.
const raceEnabled = true
