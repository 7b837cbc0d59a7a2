// Package maintenance holds the worker's periodic services that only talk
// to the store: the heartbeater (extends the worker's leases), the rescuer
// (returns jobs whose worker died) and the cleaner (deletes old finalized
// jobs). Each is built from a params struct, runs from Start until Stop,
// and logs its store errors rather than stopping.
package maintenance
